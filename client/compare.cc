// btctl compare JOB JOB [JOB…]: CompareRuns — the jobs' statistics side by side with their
// differences from the first, the parameters that differ, and (--equity) the equity curves on one
// time axis as CSV.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct CompareOptions {
  std::vector<std::string> jobs;
  int max_points = 0;
  bool json = false;
  bool equity = false;
  bool differing = false;
};

// A statistic as text: times as UTC, durations as such, the rest as numbers.
std::string StatText(const std::string& name, double v) {
  const std::string base = name.substr(name.rfind('.') + 1);
  if (base == "start" || base == "end") return FormatEpoch(v);
  if (base.ends_with("_seconds")) return FormatDuration(v);
  return FormatNumber(v);
}

std::string DiffText(const std::string& name, double d) {
  if (std::isnan(d)) return "";
  if (d == 0) return "=";
  const std::string base = name.substr(name.rfind('.') + 1);
  const bool time = base == "start" || base == "end" || base.ends_with("_seconds");
  return absl::StrCat(d > 0 ? "+" : "-", time ? FormatDuration(std::fabs(d)) : FormatNumber(std::fabs(d)));
}

void PrintTables(const v1::CompareRunsResponse& r, const CompareOptions& o) {
  Table jobs({"#", "JOB", "STRATEGY", "SYMBOLS", "TIMEFRAME", "DIGEST"});
  for (int i = 0; i < r.jobs_size(); ++i) {
    const v1::Job& j = r.jobs(i);
    auto param = [&](const char* name) {
      auto it = j.params().find(name);
      return it == j.params().end() ? std::string() : ValueText(it->second);
    };
    jobs.AddRow({absl::StrCat(i + 1), j.job_id(), param("strategy"), param("symbols"),
                 param("timeframe"), r.digests(i).substr(0, 12)});
  }
  jobs.Print(stdout);

  std::vector<std::string> headers = {"PARAMETER"};
  for (int i = 0; i < r.jobs_size(); ++i) headers.push_back(absl::StrCat("#", i + 1));
  std::printf("\n");
  if (r.differing_params_size() == 0) {
    std::printf("every parameter is the same\n");
  } else {
    Table params(headers);
    for (const auto& p : r.differing_params()) {
      std::vector<std::string> row = {p.name()};
      for (const std::string& v : p.values()) row.push_back(v.empty() ? "-" : v);
      params.AddRow(std::move(row));
    }
    params.Print(stdout);
  }

  headers = {"STATISTIC", "#1"};
  for (int i = 1; i < r.jobs_size(); ++i) {
    headers.push_back(absl::StrCat("#", i + 1));
    headers.push_back("DIFF");
  }
  Table stats(headers);
  for (size_t c = 1; c < headers.size(); ++c) stats.AlignRight(c);
  for (const auto& s : r.stats()) {
    if (o.differing && s.same()) continue;
    std::vector<std::string> row = {s.name(), StatText(s.name(), s.values(0))};
    for (int i = 1; i < s.values_size(); ++i) {
      row.push_back(StatText(s.name(), s.values(i)));
      row.push_back(DiffText(s.name(), s.differences(i)));
    }
    stats.AddRow(std::move(row));
  }
  std::printf("\n");
  stats.Print(stdout);
  std::printf("\nequity: %d curves on %d times (of %d)\n", r.equity().curves_size(),
              r.equity().times_size(), r.equity().total_times());
}

// time,<job 1>,<job 2>,…: a row per time of the axis, empty where a curve does not reach.
void PrintEquityCsv(const v1::CompareRunsResponse& r) {
  std::string line = "time";
  for (const auto& c : r.equity().curves()) absl::StrAppend(&line, ",", CsvField(c.job_id()));
  std::printf("%s\n", line.c_str());
  for (int k = 0; k < r.equity().times_size(); ++k) {
    line = FormatEpoch(r.equity().times(k));
    for (const auto& c : r.equity().curves()) {
      const int at = k - c.first();
      line += ",";
      if (at >= 0 && at < c.values_size()) line += FormatNumber(c.values(at));
    }
    std::printf("%s\n", line.c_str());
  }
}

int Compare(Context& ctx, const CompareOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::CompareRunsRequest request;
  for (const std::string& id : o.jobs) request.add_jobs(id);
  request.set_max_points(o.max_points);
  auto response = (*client)->CompareRuns(request);
  if (!response.ok()) return ctx.Fail(response.status(), "compare");
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
  } else if (o.equity) {
    PrintEquityCsv(*response);
  } else {
    PrintTables(*response, o);
  }
  return kExitOk;
}

}  // namespace

void AddCompareCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<CompareOptions>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "2 to 8 finished jobs side by side: statistics, differing parameters, equity");
  cmd->add_option("jobs", o->jobs, "the jobs (the first is the one differences are taken from)")
      ->required();
  cmd->add_option("--max-points", o->max_points,
                  "times on the equity curves' common axis (2 to 20000; default 2000)");
  cmd->add_flag("--differing", o->differing, "only the statistics that differ");
  cmd->add_flag("--equity", o->equity, "print the aligned equity curves as CSV instead");
  cmd->add_flag("--json", o->json, "print the whole answer as JSON");
  cmd->callback([o, &ctx] { ctx.exit_code = Compare(ctx, *o); });
}

}  // namespace backtest::client
