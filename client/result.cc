// btctl result JOB: a finished job's result. --format table (default): the statistics;
// json: the whole GetResult answer; csv: the trades, one per line. Each asks GetResult for the
// parts it shows only; json takes candles, EMA and equity in the packed layout (a column of
// doubles per series) and writes them a point per object, as the REST bridge does.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

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
  int32_t max_points = 0;
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

// A packed column (little-endian doubles, as x86 holds them) as values.
std::vector<double> Doubles(const std::string& column) {
  std::vector<double> out(column.size() / sizeof(double));
  if (!out.empty()) std::memcpy(out.data(), column.data(), out.size() * sizeof(double));
  return out;
}

// The packed columns of `r` as a message per candle and point, as the per-point layout has them.
void Unpack(v1::GetResultResponse* r) {
  const v1::PackedSeries& p = r->packed();
  const std::vector<double> time = Doubles(p.times()), open = Doubles(p.opens()),
                            high = Doubles(p.highs()), low = Doubles(p.lows()),
                            close = Doubles(p.closes()), volume = Doubles(p.volumes());
  r->mutable_candles()->Reserve(static_cast<int>(time.size()));
  for (size_t i = 0; i < time.size(); ++i) {
    v1::Candle* c = r->add_candles();
    c->set_time(time[i]);
    c->set_open(open[i]);
    c->set_high(high[i]);
    c->set_low(low[i]);
    c->set_close(close[i]);
    c->set_volume(volume[i]);
  }
  auto line = [](const std::string& times, const std::string& values,
                 google::protobuf::RepeatedPtrField<v1::LinePoint>* out) {
    const std::vector<double> t = Doubles(times), v = Doubles(values);
    out->Reserve(static_cast<int>(t.size()));
    for (size_t i = 0; i < t.size() && i < v.size(); ++i) {
      v1::LinePoint* point = out->Add();
      point->set_time(t[i]);
      point->set_value(v[i]);
    }
  };
  line(p.ema_times(), p.ema_values(), r->mutable_ema());
  line(p.equity_times(), p.equity_values(), r->mutable_equity());
  r->clear_packed();
}

int Result(Context& ctx, const ResultOptions& o) {
  auto client = ctx.client();
  if (!client.ok()) return ctx.Fail(client.status());
  v1::GetResultRequest request;
  request.set_job_id(o.job_id);
  request.set_symbol(o.symbol);
  request.set_layout(v1::RESULT_LAYOUT_PACKED);
  if (o.format == "json") {
    request.set_max_candles(o.max_candles);
    request.set_max_points(o.max_points);
  } else {
    request.add_parts(o.format == "csv" ? "trades" : "stats");
  }
  auto response = (*client)->GetResult(request);
  if (!response.ok()) return ctx.Fail(response.status(), "result of " + o.job_id);
  if (o.format == "json") {
    Unpack(&*response);
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
  cmd->add_option("--max-points", o->max_points,
                  "json: merge the candles k at a time to at most N (0: no merging)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([o, &ctx] { ctx.exit_code = Result(ctx, *o); });
}

}  // namespace backtest::client
