// btctl jobs: the caller's jobs (every job for staff), newest first.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct JobsOptions {
  std::string status;
  int limit = 20;
  bool json = false;
};

constexpr int kMaxPageSize = 500;

std::string ParamText(const v1::Job& job, const std::string& name) {
  auto it = job.params().find(name);
  return it == job.params().end() ? "" : ValueText(it->second);
}

// Pages through ListJobs until `limit` jobs or the last page.
absl::StatusOr<v1::ListJobsResponse> FetchJobs(Client& client, const JobsOptions& o) {
  v1::ListJobsResponse all;
  v1::ListJobsRequest request;
  request.set_status(o.status);
  while (all.jobs_size() < o.limit) {
    request.set_page_size(std::min(kMaxPageSize, o.limit - all.jobs_size()));
    auto page = client.ListJobs(request);
    if (!page.ok()) return page.status();
    for (auto& job : *page->mutable_jobs()) *all.add_jobs() = std::move(job);
    all.set_next_page_token(page->next_page_token());
    if (page->next_page_token().empty()) break;
    request.set_page_token(page->next_page_token());
  }
  return all;
}

int Jobs(Context& ctx, const JobsOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  auto jobs = FetchJobs(**client, o);
  if (!jobs.ok()) return ctx.Fail(jobs.status(), "jobs");
  if (o.json) {
    std::printf("%s\n", ToJson(*jobs).c_str());
    return kExitOk;
  }
  const bool color = ColorEnabled(ctx.options.no_color);
  Table table({"JOB", "STATUS", "PROGRESS", "STRATEGY", "SYMBOLS", "TF", "OWNER", "CREATED"});
  table.AlignRight(2);
  for (const v1::Job& job : jobs->jobs()) {
    table.AddRow({job.job_id(), Colored(job.status(), StatusColor(job.status()), color),
                  FormatFixed(job.progress().fraction() * 100, 0) + "%",
                  ParamText(job, "strategy"), ParamText(job, "symbols"),
                  ParamText(job, "timeframe"), job.owner(), FormatTimestamp(job.created_at())});
  }
  if (table.empty()) {
    std::fprintf(stderr, "no jobs%s\n", o.status.empty() ? "" : (" with status " + o.status).c_str());
    return kExitOk;
  }
  table.Print(stdout);
  return kExitOk;
}

}  // namespace

void AddJobsCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<JobsOptions>();
  CLI::App* cmd = app.add_subcommand("jobs", "list jobs, newest first");
  cmd->add_option("--status", o->status, "only jobs with this status")
      ->check(CLI::IsMember({"queued", "running", "finished", "failed", "cancelled"}));
  cmd->add_option("-n,--limit", o->limit, "at most this many jobs")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_flag("--json", o->json, "print the jobs as JSON");
  cmd->callback([o, &ctx] { ctx.exit_code = Jobs(ctx, *o); });
}

}  // namespace backtest::client
