// A result in the shape of the API's result JSON (GetResultResponse's fields, docs/strategies.md)
// → the engine's RunResult, for strategies whose results are made outside the engine (the
// backtrader adapter). Its frame is then written by the runner's own conversion and digest.
#include "sdk/native/result_dict.h"

#include <nanobind/stl/string.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/engine/stats/stats.h"

namespace backtest::sdk {
namespace {

[[noreturn]] void Bad(const std::string& path, const std::string& rule) {
  throw nb::value_error(absl::StrCat(path, ": ", rule).c_str());
}

bool Has(nb::handle d, const char* key) {
  return nb::cast<nb::dict>(d).contains(key) && !nb::cast<nb::dict>(d)[key].is_none();
}

nb::dict DictAt(nb::handle v, const std::string& path) {
  if (!nb::isinstance<nb::dict>(v)) Bad(path, "must be an object");
  return nb::borrow<nb::dict>(v);
}

nb::list ListAt(nb::handle d, const char* key, const std::string& path) {
  if (!Has(d, key)) return nb::list();
  nb::handle v = nb::cast<nb::dict>(d)[key];
  if (!nb::isinstance<nb::list>(v) && !nb::isinstance<nb::tuple>(v)) Bad(path, "must be a list");
  return nb::list(v);
}

double Num(nb::handle d, const char* key, const std::string& path, double fallback = 0) {
  if (!Has(d, key)) return fallback;
  nb::handle v = nb::cast<nb::dict>(d)[key];
  if (nb::isinstance<bool>(v) || nb::isinstance<nb::str>(v)) Bad(path + "." + key, "must be a number");
  try {
    return nb::cast<double>(v);
  } catch (const std::exception&) {
    Bad(path + "." + key, "must be a number");
  }
}

int64_t Int(nb::handle d, const char* key, const std::string& path, int64_t fallback = 0) {
  const double v = Num(d, key, path, static_cast<double>(fallback));
  if (!std::isfinite(v) || v != std::floor(v) || std::fabs(v) > 9.2e18) {
    Bad(path + "." + key, "must be a whole number");
  }
  return static_cast<int64_t>(v);
}

std::string Str(nb::handle d, const char* key, const std::string& path, const std::string& fallback = "") {
  if (!Has(d, key)) return fallback;
  nb::handle v = nb::cast<nb::dict>(d)[key];
  if (!nb::isinstance<nb::str>(v)) Bad(path + "." + key, "must be text");
  return nb::cast<std::string>(v);
}

template <typename E, size_t N>
E Word(nb::handle d, const char* key, const std::string& path, const std::array<std::pair<const char*, E>, N>& words,
       E fallback) {
  if (!Has(d, key)) return fallback;
  const std::string w = Str(d, key, path);
  std::vector<std::string> names;
  for (const auto& [name, value] : words) {
    if (w == name) return value;
    names.push_back(name);
  }
  Bad(path + "." + key, absl::StrCat("must be one of ", absl::StrJoin(names, ", "), ", got ", w));
}

using engine::ExitReason;
using engine::MarkerKind;
using engine::OrderSide;
using engine::Side;
using engine::ZoneKind;
using engine::ZoneState;

constexpr std::array<std::pair<const char*, Side>, 2> kSides{{{"long", Side::kLong}, {"short", Side::kShort}}};
constexpr std::array<std::pair<const char*, OrderSide>, 2> kOrderSides{
    {{"buy", OrderSide::kBuy}, {"sell", OrderSide::kSell}}};
constexpr std::array<std::pair<const char*, MarkerKind>, 3> kMarkerKinds{
    {{"entry", MarkerKind::kEntry}, {"exit", MarkerKind::kExit}, {"note", MarkerKind::kNote}}};
constexpr std::array<std::pair<const char*, ExitReason>, 6> kExitReasons{
    {{"stop", ExitReason::kStop}, {"stop_gap", ExitReason::kStopGap}, {"target", ExitReason::kTarget},
     {"end_of_data", ExitReason::kEndOfData}, {"reversal", ExitReason::kReversal},
     {"signal", ExitReason::kSignal}}};
constexpr std::array<std::pair<const char*, ZoneKind>, 2> kZoneKinds{
    {{"support", ZoneKind::kSupport}, {"resistance", ZoneKind::kResistance}}};
constexpr std::array<std::pair<const char*, ZoneState>, 4> kZoneStates{
    {{"active", ZoneState::kActive}, {"broken", ZoneState::kBroken},
     {"inverted", ZoneState::kInverted}, {"cancelled", ZoneState::kCancelled}}};

std::vector<engine::LinePoint> Line(nb::handle d, const char* key) {
  std::vector<engine::LinePoint> out;
  nb::list items = ListAt(d, key, key);
  for (size_t k = 0; k < items.size(); ++k) {
    const std::string path = absl::StrCat(key, "[", k, "]");
    nb::dict p = DictAt(items[k], path);
    out.push_back({Int(p, "time", path), Num(p, "value", path)});
  }
  return out;
}

void ReadStats(nb::dict s, engine::Stats* out) {
  const std::string path = "stats";
#define BT_INT(f) out->f = Int(s, #f, path)
#define BT_NUM(f) out->f = Num(s, #f, path, NAN)
  BT_INT(start); BT_INT(end); BT_INT(duration_seconds); BT_INT(bars);
  BT_NUM(exposure_pct); BT_NUM(equity_final); BT_NUM(equity_peak); BT_NUM(return_pct);
  BT_NUM(buy_hold_return_pct); BT_NUM(return_ann_pct); BT_NUM(volatility_ann_pct); BT_NUM(sharpe);
  BT_NUM(sortino); BT_NUM(calmar); BT_NUM(max_drawdown_pct); BT_NUM(avg_drawdown_pct);
  BT_INT(max_drawdown_duration_seconds); BT_INT(avg_drawdown_duration_seconds); BT_INT(trades);
  BT_NUM(win_rate_pct); BT_NUM(best_trade_pct); BT_NUM(worst_trade_pct); BT_NUM(avg_trade_pct);
  BT_INT(max_trade_duration_seconds); BT_INT(avg_trade_duration_seconds); BT_NUM(profit_factor);
  BT_NUM(expectancy); BT_NUM(sqn); BT_NUM(commission); BT_NUM(pnl);
#undef BT_INT
#undef BT_NUM
  for (auto [key, side] : {std::pair{"long_stats", &out->long_stats},
                           std::pair{"short_stats", &out->short_stats}}) {
    if (!Has(s, key)) continue;
    nb::dict x = DictAt(s[key], std::string("stats.") + key);
    const std::string p = std::string("stats.") + key;
    side->trades = Int(x, "trades", p);
    side->win_rate_pct = Num(x, "win_rate_pct", p, NAN);
    side->pnl = Num(x, "pnl", p);
    side->avg_trade_pct = Num(x, "avg_trade_pct", p, NAN);
    side->profit_factor = Num(x, "profit_factor", p, NAN);
  }
}

}  // namespace

engine::RunResult ResultFromDict(nb::handle value) {
  nb::dict d = DictAt(value, "result");
  engine::RunResult r;
  r.strategy = Str(d, "strategy", "result");
  if (r.strategy.empty()) Bad("strategy", "is required");
  std::vector<std::string> symbols;
  for (nb::handle s : ListAt(d, "symbols", "symbols")) {
    if (!nb::isinstance<nb::str>(s)) Bad("symbols", "must be a list of text");
    symbols.push_back(nb::cast<std::string>(s));
  }
  const std::string symbol = Str(d, "symbol", "result", symbols.empty() ? "" : symbols[0]);
  if (symbol.empty()) Bad("symbol", "is required");
  if (symbols.empty()) symbols.push_back(symbol);
  // The candles of `symbol`.
  auto bars = std::make_shared<engine::BarSeries>();
  nb::list candles = ListAt(d, "candles", "candles");
  if (candles.size() == 0) Bad("candles", "must hold the run's bars");
  for (size_t k = 0; k < candles.size(); ++k) {
    const std::string path = absl::StrCat("candles[", k, "]");
    nb::dict c = DictAt(candles[k], path);
    const int64_t t = Int(c, "time", path);
    if (k > 0 && t <= bars->time.back()) Bad(path + ".time", "must be after the previous candle's");
    bars->Append(t, Num(c, "open", path), Num(c, "high", path), Num(c, "low", path),
                 Num(c, "close", path), Num(c, "volume", path));
  }
  for (const std::string& s : symbols) {
    engine::SymbolResult out;
    out.symbol = s;
    out.pip = Num(d, "pip", "result", 0);
    if (s == symbol) {
      out.bars = bars;
      out.ema = Line(d, "ema");
      nb::list zones = ListAt(d, "zones", "zones");
      for (size_t k = 0; k < zones.size(); ++k) {
        const std::string path = absl::StrCat("zones[", k, "]");
        nb::dict z = DictAt(zones[k], path);
        engine::Zone zone;
        zone.symbol = Str(z, "symbol", path, symbol);
        zone.start = Int(z, "start", path);
        zone.end = Int(z, "end", path);
        zone.price = Num(z, "price", path);
        zone.kind = Word(z, "kind", path, kZoneKinds, ZoneKind::kSupport);
        zone.state = Word(z, "state", path, kZoneStates, ZoneState::kActive);
        out.zones.push_back(std::move(zone));
      }
    } else {
      out.bars = std::make_shared<engine::BarSeries>();
    }
    r.symbols.push_back(std::move(out));
  }
  nb::list markers = ListAt(d, "markers", "markers");
  for (size_t k = 0; k < markers.size(); ++k) {
    const std::string path = absl::StrCat("markers[", k, "]");
    nb::dict m = DictAt(markers[k], path);
    engine::Marker x;
    x.symbol = Str(m, "symbol", path, symbol);
    x.time = Int(m, "time", path);
    x.side = Word(m, "side", path, kOrderSides, OrderSide::kBuy);
    x.kind = Word(m, "kind", path, kMarkerKinds, MarkerKind::kEntry);
    x.price = Num(m, "price", path);
    x.reason = Str(m, "reason", path);
    x.trade_id = Int(m, "trade_id", path);
    r.markers.push_back(std::move(x));
  }
  nb::list trades = ListAt(d, "trades", "trades");
  for (size_t k = 0; k < trades.size(); ++k) {
    const std::string path = absl::StrCat("trades[", k, "]");
    nb::dict t = DictAt(trades[k], path);
    engine::Trade x;
    x.id = Int(t, "id", path, static_cast<int64_t>(k) + 1);
    x.symbol = Str(t, "symbol", path, symbol);
    x.side = Word(t, "side", path, kSides, Side::kLong);
    x.entry_time = Int(t, "entry_time", path);
    x.entry_price = Num(t, "entry_price", path);
    x.exit_time = Int(t, "exit_time", path);
    x.exit_price = Num(t, "exit_price", path);
    x.size = Num(t, "size", path);
    x.stop = Num(t, "stop", path);
    x.target = Num(t, "target", path);
    x.pnl = Num(t, "pnl", path);
    x.return_pct = Num(t, "return_pct", path);
    x.exit_reason = Word(t, "exit_reason", path, kExitReasons, ExitReason::kSignal);
    x.bars_held = Int(t, "bars_held", path);
    x.commission = Num(t, "commission", path);
    x.entry_bar = Int(t, "entry_bar", path);
    x.exit_bar = Int(t, "exit_bar", path);
    r.trades.push_back(std::move(x));
  }
  for (const engine::LinePoint& p : Line(d, "equity")) r.equity.Append(p);
  if (Has(d, "stats")) {
    ReadStats(DictAt(d["stats"], "stats"), &r.stats);
  } else {
    // The engine's own definitions, as for every other run.
    engine::StatsInput in;
    in.initial_equity = Num(d, "initial_equity", "result",
                            r.equity.empty() ? 0 : r.equity.front().value);
    if (!(in.initial_equity > 0)) Bad("initial_equity", "must be > 0 (or give equity)");
    in.equity = &r.equity;
    in.trades = &r.trades;
    in.bars = static_cast<int64_t>(bars->size());
    in.exposed_bars = Int(d, "exposed_bars", "result");
    in.first_close = bars->close.front();
    in.last_close = bars->close.back();
    r.stats = engine::ComputeStats(in);
  }
  nb::list reasons = ListAt(d, "reasons", "reasons");
  for (size_t k = 0; k < reasons.size(); ++k) {
    const std::string path = absl::StrCat("reasons[", k, "]");
    nb::dict x = DictAt(reasons[k], path);
    engine::ReasonCount rc;
    rc.reason = Str(x, "reason", path);
    rc.count = Int(x, "count", path);
    rc.description = Str(x, "description", path);
    nb::list samples = ListAt(x, "samples", path + ".samples");
    for (size_t j = 0; j < samples.size(); ++j) {
      const std::string sp = absl::StrCat(path, ".samples[", j, "]");
      nb::dict s = DictAt(samples[j], sp);
      rc.samples.push_back({Str(s, "symbol", sp, symbol), Int(s, "bar_index", sp), Int(s, "ts", sp)});
    }
    r.reasons.push_back(std::move(rc));
  }
  return r;
}

}  // namespace backtest::sdk
