// btctl explain JOB [--bar-index N | --ts T]: why the strategy did what it did at one bar, or,
// with neither, over the whole run (every decision reason with its count and sample bars).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct ExplainOptions {
  std::string job_id;
  int32_t bar_index = 0;
  CLI::Option* bar_index_option = nullptr;
  std::string ts;
  std::string include;
  std::string symbol;
  bool json = false;
};

void PrintBar(const v1::ExplainResponse& r) {
  std::printf("bar %lld  %s  %s%s\n", static_cast<long long>(r.bar_index()),
              FormatEpoch(r.ts()).c_str(), r.symbol().c_str(), r.traced() ? "" : "  (not traced)");
  std::printf("%s\n", r.summary().c_str());
  if (r.values().fields_size() > 0) {
    std::printf("\nvalues:\n");
    std::map<std::string, std::string> sorted;
    for (const auto& [name, value] : r.values().fields()) sorted[name] = ValueText(value);
    Table table({"NAME", "VALUE"});
    for (const auto& [name, value] : sorted) table.AddRow({"  " + name, value});
    table.Print(stdout, /*headers=*/false);
  }
  for (const v1::TraceSection& section : r.sections()) {
    std::printf("\n%s:\n", section.section().c_str());
    Table table({"SEQ", "KIND", "PAYLOAD"});
    for (const v1::TraceRow& row : section.items()) {
      table.AddRow({absl::StrCat("  ", row.seq()), row.kind(), StructText(row.payload())});
    }
    table.Print(stdout, /*headers=*/false);
  }
}

void PrintRun(const v1::ExplainResponse& r) {
  std::printf("%s\n", r.summary().c_str());
  if (r.reasons_size() == 0) return;
  std::printf("\n");
  Table table({"REASON", "COUNT", "SAMPLE BARS", "MEANING"});
  table.AlignRight(1);
  for (const v1::ReasonCount& reason : r.reasons()) {
    table.AddRow({reason.reason(), absl::StrCat(reason.count()),
                  absl::StrJoin(reason.sample_bars(), ","), reason.description()});
  }
  table.Print(stdout);
}

int Explain(Context& ctx, const ExplainOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::ExplainRequest request;
  request.set_job_id(o.job_id);
  if (o.bar_index_option->count() > 0) request.set_bar_index(o.bar_index);
  request.set_ts(o.ts);
  request.set_include(o.include);
  request.set_symbol(o.symbol);
  auto response = (*client)->Explain(request);
  if (!response.ok()) return ctx.Fail(response.status(), "explain " + o.job_id);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
  } else if (response->has_bar_index()) {
    PrintBar(*response);
  } else {
    PrintRun(*response);
  }
  return kExitOk;
}

}  // namespace

void AddExplainCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ExplainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "explain", "why: one bar (--bar-index or --ts), or the whole run when neither is given");
  cmd->add_option("job_id", o->job_id, "the job")->required();
  o->bar_index_option = cmd->add_option("--bar-index", o->bar_index, "the bar to explain");
  CLI::Option* ts = cmd->add_option("--ts", o->ts, "the bar opening at this time (epoch or ISO)");
  o->bar_index_option->excludes(ts);
  cmd->add_option("--include", o->include, "comma-separated sections to show (default all)");
  cmd->add_option("--symbol", o->symbol, "symbol of the bar (default the run's first)");
  cmd->add_flag("--json", o->json, "print the explanation as JSON");
  cmd->callback([o, &ctx] { ctx.exit_code = Explain(ctx, *o); });
}

}  // namespace backtest::client
