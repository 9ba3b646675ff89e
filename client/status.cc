// btctl status JOB: the job's status, progress, times, error and log tails.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct StatusOptions {
  std::string job_id;
  bool json = false;
  bool params = false;
};

std::string ProgressText(const v1::Progress& p) {
  std::string text = absl::StrCat(FormatFixed(p.fraction() * 100, 1), "% ", p.stage());
  if (p.bars_total() > 0) absl::StrAppend(&text, ", ", p.bars_done(), "/", p.bars_total(), " bars");
  if (p.eta_seconds() > 0) absl::StrAppend(&text, ", ETA ", FormatDuration(p.eta_seconds()));
  return text;
}

std::string ParamText(const v1::Job& job, const std::string& name) {
  auto it = job.params().find(name);
  return it == job.params().end() ? "" : ValueText(it->second);
}

void PrintTail(const char* title, const std::string& tail) {
  if (tail.empty()) return;
  std::printf("%s:\n", title);
  size_t start = 0;
  while (start < tail.size()) {
    size_t end = tail.find('\n', start);
    if (end == std::string::npos) end = tail.size();
    std::printf("  %s\n", tail.substr(start, end - start).c_str());
    start = end + 1;
  }
}

void PrintJob(const v1::Job& job, bool color, bool all_params) {
  Table table({"FIELD", "VALUE"});
  table.AddRow({"job", job.job_id()});
  table.AddRow({"status", Colored(job.status(), StatusColor(job.status()), color)});
  table.AddRow({"owner", job.owner()});
  table.AddRow({"strategy", ParamText(job, "strategy")});
  table.AddRow({"symbols", ParamText(job, "symbols")});
  table.AddRow({"timeframe", ParamText(job, "timeframe")});
  if (!job.preset().empty()) table.AddRow({"preset", job.preset()});
  table.AddRow({"progress", ProgressText(job.progress())});
  if (job.pid() != 0) table.AddRow({"pid", absl::StrCat(job.pid())});
  table.AddRow({"created", FormatTimestamp(job.created_at())});
  if (job.has_started_at()) table.AddRow({"started", FormatTimestamp(job.started_at())});
  if (job.has_finished_at()) table.AddRow({"finished", FormatTimestamp(job.finished_at())});
  if (!job.error().empty()) table.AddRow({"error", job.error()});
  if (!job.result_url().empty()) table.AddRow({"result", job.result_url()});
  table.AddRow({"last_seq", absl::StrCat(job.last_seq())});
  table.Print(stdout, /*headers=*/false);
  if (all_params) {
    std::printf("params:\n");
    std::map<std::string, std::string> sorted;
    for (const auto& [name, value] : job.params()) sorted[name] = ValueText(value);
    Table params({"NAME", "VALUE"});
    for (const auto& [name, value] : sorted) params.AddRow({"  " + name, value});
    params.Print(stdout, /*headers=*/false);
  }
  PrintTail("stdout tail", job.stdout_tail());
  PrintTail("stderr tail", job.stderr_tail());
}

int Status(Context& ctx, const StatusOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::GetJobRequest request;
  request.set_job_id(o.job_id);
  auto response = (*client)->GetJob(request);
  if (!response.ok()) return ctx.Fail(response.status(), "job " + o.job_id);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
  } else {
    PrintJob(response->job(), ColorEnabled(ctx.options.no_color), o.params);
  }
  return kExitOk;
}

}  // namespace

void AddStatusCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("status", "a job's status, progress, error and log tails");
  cmd->add_option("job_id", o->job_id, "the job")->required();
  cmd->add_flag("--params", o->params, "also list every parameter of the job");
  cmd->add_flag("--json", o->json, "print the job as JSON");
  cmd->callback([o, &ctx] { ctx.exit_code = Status(ctx, *o); });
}

}  // namespace backtest::client
