// btctl logs JOB: the job's events from --from-seq: the history up to now, or with --follow the
// live events until the job ends, resuming by itself after a dropped connection.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "client/commands.h"
#include "client/context.h"
#include "client/follow.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct LogsOptions {
  std::string job_id;
  bool follow = false;
  int32_t from_seq = 1;
  bool json = false;
  bool trace = false;
  double reconnect_timeout = 120;
};

int Logs(Context& ctx, const LogsOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  FollowOptions follow;
  follow.from_seq = o.from_seq;
  follow.include_trace = o.trace;
  follow.reconnect_timeout_seconds = o.reconnect_timeout;
  if (!o.follow) {
    // The history up to the job's last event now; a job that has ended stops by itself.
    v1::GetJobRequest request;
    request.set_job_id(o.job_id);
    auto job = (*client)->GetJob(request);
    if (!job.ok()) return ctx.Fail(job.status(), "job " + o.job_id);
    if (job->job().last_seq() < std::max<int32_t>(o.from_seq, 1)) return kExitOk;
    if (!IsFinalStatus(job->job().status())) follow.until_seq = job->job().last_seq();
  }
  EventPrinter printer(o.json, o.follow && StdoutIsTty(), ColorEnabled(ctx.options.no_color));
  auto outcome = FollowJobLog(**client, o.job_id, follow,
                              [&](const v1::StreamJobLogResponse& e) { printer.Print(e); });
  printer.Finish();
  if (!outcome.ok()) return ctx.Fail(outcome.status(), "log of job " + o.job_id);
  return kExitOk;
}

}  // namespace

void AddLogsCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<LogsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "logs", "a job's events: log lines, progress, status changes (SEQ TIME KIND …)");
  cmd->add_option("job_id", o->job_id, "the job")->required();
  cmd->add_flag("-f,--follow", o->follow,
                "keep streaming live events until the job ends; resumes after a dropped "
                "connection");
  cmd->add_option("--from-seq", o->from_seq, "first sequence number to show (last seen + 1)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", o->json, "one JSON object per event");
  cmd->add_flag("--trace", o->trace, "also stream decision-trace batches");
  cmd->add_option("--reconnect-timeout", o->reconnect_timeout,
                  "seconds to keep trying to resume a dropped stream")
      ->capture_default_str();
  cmd->callback([o, &ctx] { ctx.exit_code = Logs(ctx, *o); });
}

}  // namespace backtest::client
