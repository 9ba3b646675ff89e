// btctl result JOB: a finished job's result. --format table (default): the statistics;
// json: the whole GetResult answer; csv: the trades, one per line.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/commands.h"
#include "client/context.h"
#include "client/format.h"
#include "google/protobuf/descriptor.h"

namespace backtest::client {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

struct ResultOptions {
  std::string job_id;
  std::string format = "table";
  std::string symbol;
  int32_t max_candles = 0;
};

// One field of a message as text: times (start, end) and durations (*_seconds, both whole
// numbers) also readable by people in tables.
std::string FieldText(const Message& m, const FieldDescriptor* f, bool for_table) {
  const auto* r = m.GetReflection();
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      const double v = r->GetDouble(m, f);
      if (!for_table) return FormatNumber(v);
      if (f->name() == "start" || f->name() == "end") return FormatEpoch(v);
      if (absl::EndsWith(f->name(), "_seconds")) {
        return absl::StrCat(FormatNumber(v), " (", FormatDuration(v), ")");
      }
      return FormatFixed(v);
    }
    case FieldDescriptor::CPPTYPE_STRING:
      return r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_BOOL:
      return r->GetBool(m, f) ? "true" : "false";
    default:
      return "";
  }
}

// Every field of Stats in proto order, nested ones (long_stats, short_stats) prefixed.
void AddStatsRows(const Message& m, const std::string& prefix, Table* table) {
  const auto* d = m.GetDescriptor();
  for (int i = 0; i < d->field_count(); ++i) {
    const FieldDescriptor* f = d->field(i);
    if (f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !f->is_repeated()) {
      AddStatsRows(m.GetReflection()->GetMessage(m, f), prefix + f->name() + ".", table);
    } else if (!f->is_repeated()) {
      table->AddRow({prefix + f->name(), FieldText(m, f, /*for_table=*/true)});
    }
  }
}

void PrintStats(const v1::GetResultResponse& r) {
  Table table({"STAT", "VALUE"});
  table.AddRow({"job", r.job_id()});
  std::string symbols;
  for (const auto& s : r.symbols()) absl::StrAppend(&symbols, symbols.empty() ? "" : ",", s);
  table.AddRow({"symbols", symbols});
  table.AddRow({"candles", absl::StrCat(r.total_candles())});
  AddStatsRows(r.stats(), "", &table);
  table.AddRow({"digest", r.digest()});
  table.Print(stdout);
}

void PrintTradesCsv(const v1::GetResultResponse& r) {
  const auto* d = v1::Trade::descriptor();
  std::string line;
  for (int i = 0; i < d->field_count(); ++i) {
    absl::StrAppend(&line, i ? "," : "", d->field(i)->name());
  }
  std::printf("%s\n", line.c_str());
  for (const v1::Trade& trade : r.trades()) {
    line.clear();
    for (int i = 0; i < d->field_count(); ++i) {
      absl::StrAppend(&line, i ? "," : "", CsvField(FieldText(trade, d->field(i), false)));
    }
    std::printf("%s\n", line.c_str());
  }
}

int Result(Context& ctx, const ResultOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::GetResultRequest request;
  request.set_job_id(o.job_id);
  request.set_symbol(o.symbol);
  // Stats and trades are always complete: the table and CSV need no candles.
  request.set_max_candles(o.format == "json" ? o.max_candles : 1);
  auto response = (*client)->GetResult(request);
  if (!response.ok()) return ctx.Fail(response.status(), "result of " + o.job_id);
  if (o.format == "json") {
    std::printf("%s\n", ToJson(*response).c_str());
  } else if (o.format == "csv") {
    PrintTradesCsv(*response);
  } else {
    PrintStats(*response);
  }
  return kExitOk;
}

}  // namespace

void AddResultCommand(CLI::App& app, Context& ctx) {
  auto o = std::make_shared<ResultOptions>();
  CLI::App* cmd = app.add_subcommand(
      "result", "a finished job's result: stats table, full JSON, or trades as CSV");
  cmd->add_option("job_id", o->job_id, "the job")->required();
  cmd->add_option("--format", o->format, "table (the stats), json (everything), csv (trades)")
      ->capture_default_str()
      ->check(CLI::IsMember({"table", "json", "csv"}));
  cmd->add_option("--symbol", o->symbol, "symbol whose candles, EMA and zones to return");
  cmd->add_option("--max-candles", o->max_candles,
                  "json: only the last N candles (0: all; trades and stats stay complete)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o, &ctx] { ctx.exit_code = Result(ctx, *o); });
}

}  // namespace backtest::client
