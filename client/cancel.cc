// btctl cancel JOB: cancels a queued or running job.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct CancelOptions {
  std::string job_id;
  bool json = false;
};

int Cancel(Context& ctx, const CancelOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::CancelJobRequest request;
  request.set_job_id(o.job_id);
  auto response = (*client)->CancelJob(request);
  if (!response.ok()) return ctx.Fail(response.status(), "cancel " + o.job_id);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
    return kExitOk;
  }
  const v1::Job& job = response->job();
  const bool color = ColorEnabled(ctx.options.no_color);
  std::printf("%s %s%s\n", job.job_id().c_str(),
              Colored(job.status(), StatusColor(job.status()), color).c_str(),
              job.status() == "cancelled" ? "" : " (cancel requested; the runner is stopping)");
  return kExitOk;
}

}  // namespace

void AddCancelCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<CancelOptions>();
  CLI::App* cmd = app.add_subcommand("cancel", "cancel a queued or running job");
  cmd->add_option("job_id", o->job_id, "the job")->required();
  cmd->add_flag("--json", o->json, "print the job as JSON");
  cmd->callback([o, &ctx] { ctx.exit_code = Cancel(ctx, *o); });
}

}  // namespace backtest::client
