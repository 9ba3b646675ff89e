// btctl trace JOB: decision-trace rows, filtered as the seed's trace endpoint filters them.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"

namespace backtest::client {
namespace {

struct TraceOptions {
  std::string job_id;
  int32_t bar_index = 0;
  CLI::Option* bar_index_option = nullptr;
  std::string ts;
  std::string section;
  std::string kind;
  std::string symbol;
  int limit = 100;
  int offset = 0;
  bool json = false;
};

int Trace(Context& ctx, const TraceOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::QueryTraceRequest request;
  request.set_job_id(o.job_id);
  if (o.bar_index_option->count() > 0) request.set_bar_index(o.bar_index);
  request.set_ts(o.ts);
  request.set_section(o.section);
  request.set_kind(o.kind);
  request.set_symbol(o.symbol);
  request.set_limit(o.limit);
  request.set_offset(o.offset);
  auto response = (*client)->QueryTrace(request);
  if (!response.ok()) return ctx.Fail(response.status(), "trace of " + o.job_id);
  if (o.json) {
    std::printf("%s\n", ToJson(*response).c_str());
    return kExitOk;
  }
  Table table({"SEQ", "BAR", "TIME", "SYMBOL", "SECTION", "KIND", "PAYLOAD"});
  table.AlignRight(0);
  table.AlignRight(1);
  for (const v1::TraceRow& row : response->items()) {
    table.AddRow({absl::StrCat(row.seq()), absl::StrCat(row.bar_index()), FormatEpoch(row.ts()),
                  row.symbol(), row.section(), row.kind(), StructText(row.payload())});
  }
  if (!table.empty()) table.Print(stdout);
  // The page position goes to stderr, so stdout stays rows only.
  const int64_t first = response->items_size() == 0 ? 0 : o.offset + 1;
  std::fprintf(stderr, "rows %lld-%lld of %lld\n", static_cast<long long>(first),
               static_cast<long long>(o.offset + response->items_size()),
               static_cast<long long>(response->count()));
  return kExitOk;
}

}  // namespace

void AddTraceCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<TraceOptions>();
  CLI::App* cmd = app.add_subcommand("trace", "a job's decision-trace rows, filtered");
  cmd->add_option("job_id", o->job_id, "the job")->required();
  o->bar_index_option = cmd->add_option("--bar-index", o->bar_index, "only rows of this bar");
  cmd->add_option("--ts", o->ts, "only rows of the bar opening at this time (epoch or ISO 8601)");
  cmd->add_option("--section", o->section,
                  "indicators, zones, signal, filters, risk, orders or position");
  cmd->add_option("--kind", o->kind, "value, check or event");
  cmd->add_option("--symbol", o->symbol, "only rows of this symbol");
  cmd->add_option("--limit", o->limit, "rows per page (1-1000)")->capture_default_str();
  cmd->add_option("--offset", o->offset, "rows to skip")->capture_default_str();
  cmd->add_flag("--json", o->json, "print the page as JSON ({items, count})");
  cmd->callback([o, &ctx] { ctx.exit_code = Trace(ctx, *o); });
}

}  // namespace backtest::client
