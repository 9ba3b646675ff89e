// btctl run: submits a backtest and prints its job id; --follow streams its live log (progress
// bar and ETA on a terminal), --wait waits quietly. With either, the exit code is the job's end
// state: 0 finished, 1 failed, 2 cancelled.
#include <CLI/CLI.hpp>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/commands.h"
#include "client/context.h"
#include "client/follow.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct RunOptions {
  std::vector<std::string> params;
  std::string params_file;
  std::string preset;
  bool follow = false;
  bool wait = false;
  bool json = false;
  bool trace = false;
  double reconnect_timeout = 120;
};

int ExitCodeForStatus(const std::string& status) {
  if (status == "finished") return kExitOk;
  if (status == "cancelled") return kExitCancelled;
  return kExitFailed;
}

}  // namespace

int WaitForJobEnd(Context& ctx, Client& client, const std::string& job_id, bool print,
                  bool json, bool trace, double reconnect_timeout) {
  EventPrinter printer(json, StdoutIsTty(), ColorEnabled(ctx.options.no_color));
  FollowOptions follow;
  follow.include_trace = trace && print;
  follow.reconnect_timeout_seconds = reconnect_timeout;
  auto outcome = FollowJobLog(client, job_id, follow, [&](const v1::StreamJobLogResponse& e) {
    if (print) printer.Print(e);
  });
  printer.Finish();
  if (!outcome.ok()) return ctx.Fail(outcome.status(), "following job " + job_id);
  // The job as stored has the final word (and the times for the summary).
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  auto job = client.GetJob(request);
  if (!job.ok()) return ctx.Fail(job.status(), "job " + job_id);
  const v1::Job& j = job->job();
  std::string took;
  if (j.has_started_at() && j.has_finished_at()) {
    double seconds = static_cast<double>(j.finished_at().seconds() - j.started_at().seconds()) +
                     (j.finished_at().nanos() - j.started_at().nanos()) / 1e9;
    took = " in " + FormatDuration(seconds);
  }
  const bool color = ColorEnabled(ctx.options.no_color) && isatty(2);
  std::fprintf(stderr, "job %s %s%s%s%s\n", job_id.c_str(),
               Colored(j.status(), StatusColor(j.status()), color).c_str(), took.c_str(),
               j.error().empty() ? "" : ": ", j.error().c_str());
  if (!IsFinalStatus(j.status())) return kExitFailed;
  return ExitCodeForStatus(j.status());
}

namespace {

int Run(Context& ctx, const RunOptions& o) {
  v1::RunBacktestRequest request;
  if (!o.params_file.empty()) {
    absl::Status read = ReadParamsFile(o.params_file, request.mutable_params());
    if (!read.ok()) return ctx.Fail(read);
  }
  absl::Status parsed = ParseParams(o.params, request.mutable_params());
  if (!parsed.ok()) return ctx.Fail(parsed);
  request.set_preset(o.preset);
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  auto response = (*client)->RunBacktest(request);
  if (!response.ok()) return ctx.Fail(response.status(), "run");
  // The job id alone on the first line, so `JOB=$(btctl run …)` works; JSON with --json.
  if (o.json) {
    std::printf("%s\n", ToJson(*response, /*pretty=*/!(o.follow || o.wait)).c_str());
  } else {
    std::printf("%s\n", response->job_id().c_str());
  }
  std::fflush(stdout);
  if (!o.follow && !o.wait) return kExitOk;
  return WaitForJobEnd(ctx, **client, response->job_id(), o.follow, o.json, o.trace,
                       o.reconnect_timeout);
}

}  // namespace

void AddRunCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "submit a backtest; prints its job id");
  cmd->add_option("-p,--param", o->params,
                  "parameter NAME=VALUE (repeat it; `btctl params` lists them)");
  cmd->add_option("--params-file", o->params_file,
                  "JSON object of parameters (before --param; `status --json` output works)");
  cmd->add_option("--preset", o->preset, "start from this saved preset; --param overrides it");
  cmd->add_flag("-f,--follow", o->follow,
                "stream the live log until the job ends (progress bar on a terminal)");
  cmd->add_flag("-w,--wait", o->wait, "wait quietly until the job ends");
  cmd->add_flag("--json", o->json, "print the answer and (with --follow) events as JSON");
  cmd->add_flag("--trace", o->trace, "with --follow: also stream decision-trace batches");
  cmd->add_option("--reconnect-timeout", o->reconnect_timeout,
                  "seconds to keep trying to resume a dropped stream")
      ->capture_default_str();
  cmd->callback([o, &ctx] { ctx.exit_code = Run(ctx, *o); });
}

}  // namespace backtest::client
