// The engine's RunResult as Python objects: numpy arrays for the long columns (candles, equity,
// lines, the trades' numbers), lists of dicts for the short ones (markers, zones, reasons).
#include <Python.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>

#include <map>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "sdk/native/run.h"
#include "server/engine/trace/reasons.h"

namespace backtest::sdk {
namespace {

template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> Array(std::vector<T> values) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule free(owned, [](void* p) noexcept { delete static_cast<std::vector<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<1>>(owned->data(), {owned->size()}, free);
}

// Long arrays (1M points) in engine Columns: on huge pages from 4 MB, so a million points fault in
// a few pages, not thousands (docs/engine.md, "Columns").
template <typename T>
nb::ndarray<nb::numpy, T, nb::ndim<1>> Array(engine::Column<T> values) {
  auto* owned = new engine::Column<T>(std::move(values));
  nb::capsule free(owned, [](void* p) noexcept { delete static_cast<engine::Column<T>*>(p); });
  return nb::ndarray<nb::numpy, T, nb::ndim<1>>(owned->data(), {owned->size()}, free);
}

// A read-only view of a run's bars (no copy): the array keeps the series alive.
template <typename T>
nb::ndarray<nb::numpy, const T, nb::ndim<1>> View(const std::shared_ptr<const engine::BarSeries>& bars,
                                                  const engine::Column<T>& column, size_t first) {
  auto* keep = new std::shared_ptr<const engine::BarSeries>(bars);
  nb::capsule free(keep, [](void* p) noexcept {
    delete static_cast<std::shared_ptr<const engine::BarSeries>*>(p);
  });
  return nb::ndarray<nb::numpy, const T, nb::ndim<1>>(column.data() + first,
                                                      {column.size() - first}, free);
}

template <typename T, typename Get>
nb::ndarray<nb::numpy, T, nb::ndim<1>> Column(size_t n, Get get) {
  std::vector<T> v(n);
  for (size_t k = 0; k < n; ++k) v[k] = get(k);
  return Array(std::move(v));
}

// The same Python string for the same text: a column of symbols, sides or reasons holds a few
// distinct words, and making a new string object per row would cost more than the run.
class Words {
 public:
  nb::str operator()(absl::string_view text) {
    auto it = cache_.find(text);
    if (it == cache_.end()) {
      it = cache_.emplace(std::string(text), nb::str(text.data(), text.size())).first;
    }
    return it->second;
  }

 private:
  absl::flat_hash_map<std::string, nb::str> cache_;
};

nb::dict StatsOf(const engine::Stats& s) {
  nb::dict d;
  d["start"] = s.start;
  d["end"] = s.end;
  d["duration_seconds"] = s.duration_seconds;
  d["bars"] = s.bars;
  d["exposure_pct"] = s.exposure_pct;
  d["equity_final"] = s.equity_final;
  d["equity_peak"] = s.equity_peak;
  d["return_pct"] = s.return_pct;
  d["buy_hold_return_pct"] = s.buy_hold_return_pct;
  d["return_ann_pct"] = s.return_ann_pct;
  d["volatility_ann_pct"] = s.volatility_ann_pct;
  d["sharpe"] = s.sharpe;
  d["sortino"] = s.sortino;
  d["calmar"] = s.calmar;
  d["max_drawdown_pct"] = s.max_drawdown_pct;
  d["avg_drawdown_pct"] = s.avg_drawdown_pct;
  d["max_drawdown_duration_seconds"] = s.max_drawdown_duration_seconds;
  d["avg_drawdown_duration_seconds"] = s.avg_drawdown_duration_seconds;
  d["trades"] = s.trades;
  d["win_rate_pct"] = s.win_rate_pct;
  d["best_trade_pct"] = s.best_trade_pct;
  d["worst_trade_pct"] = s.worst_trade_pct;
  d["avg_trade_pct"] = s.avg_trade_pct;
  d["max_trade_duration_seconds"] = s.max_trade_duration_seconds;
  d["avg_trade_duration_seconds"] = s.avg_trade_duration_seconds;
  d["profit_factor"] = s.profit_factor;
  d["expectancy"] = s.expectancy;
  d["sqn"] = s.sqn;
  for (auto [name, side] : {std::pair{"long_stats", &s.long_stats},
                            std::pair{"short_stats", &s.short_stats}}) {
    nb::dict x;
    x["trades"] = side->trades;
    x["win_rate_pct"] = side->win_rate_pct;
    x["pnl"] = side->pnl;
    x["avg_trade_pct"] = side->avg_trade_pct;
    x["profit_factor"] = side->profit_factor;
    d[name] = x;
  }
  d["commission"] = s.commission;
  d["pnl"] = s.pnl;
  return d;
}

nb::dict TradesOf(const engine::Column<engine::Trade>& t) {
  const size_t n = t.size();
  nb::dict d;
  d["id"] = Column<int64_t>(n, [&](size_t k) { return t[k].id; });
  nb::list symbol, side, reason;
  Words words;
  for (size_t k = 0; k < n; ++k) {
    symbol.append(words(t[k].symbol));
    side.append(words(engine::SideName(t[k].side)));
    reason.append(words(engine::ExitReasonName(t[k].exit_reason)));
  }
  d["symbol"] = symbol;
  d["side"] = side;
  d["entry_time"] = Column<int64_t>(n, [&](size_t k) { return t[k].entry_time; });
  d["entry_price"] = Column<double>(n, [&](size_t k) { return t[k].entry_price; });
  d["exit_time"] = Column<int64_t>(n, [&](size_t k) { return t[k].exit_time; });
  d["exit_price"] = Column<double>(n, [&](size_t k) { return t[k].exit_price; });
  d["size"] = Column<double>(n, [&](size_t k) { return t[k].size; });
  d["stop"] = Column<double>(n, [&](size_t k) { return t[k].stop; });
  d["target"] = Column<double>(n, [&](size_t k) { return t[k].target; });
  d["pnl"] = Column<double>(n, [&](size_t k) { return t[k].pnl; });
  d["return_pct"] = Column<double>(n, [&](size_t k) { return t[k].return_pct; });
  d["exit_reason"] = reason;
  d["bars_held"] = Column<int64_t>(n, [&](size_t k) { return t[k].bars_held; });
  d["commission"] = Column<double>(n, [&](size_t k) { return t[k].commission; });
  d["entry_bar"] = Column<int64_t>(n, [&](size_t k) { return t[k].entry_bar; });
  d["exit_bar"] = Column<int64_t>(n, [&](size_t k) { return t[k].exit_bar; });
  return d;
}

nb::dict LineOf(const std::vector<engine::LinePoint>& points) {
  nb::dict d;
  d["time"] = Column<int64_t>(points.size(), [&](size_t k) { return points[k].time; });
  d["value"] = Column<double>(points.size(), [&](size_t k) { return points[k].value; });
  return d;
}

nb::dict SymbolOf(const engine::SymbolResult& s) {
  nb::dict d;
  d["symbol"] = s.symbol;
  d["pip"] = s.pip;
  nb::dict candles;
  candles["time"] = View(s.bars, s.bars->time, s.first_kept);
  candles["open"] = View(s.bars, s.bars->open, s.first_kept);
  candles["high"] = View(s.bars, s.bars->high, s.first_kept);
  candles["low"] = View(s.bars, s.bars->low, s.first_kept);
  candles["close"] = View(s.bars, s.bars->close, s.first_kept);
  candles["volume"] = View(s.bars, s.bars->volume, s.first_kept);
  d["candles"] = candles;
  d["ema"] = LineOf(s.ema);
  nb::dict lines;
  for (const engine::NamedLine& line : s.lines) lines[line.name.c_str()] = LineOf(line.points);
  d["lines"] = lines;
  nb::list zones;
  for (const engine::Zone& z : s.zones) {
    nb::dict x;
    x["symbol"] = z.symbol;
    x["start"] = z.start;
    x["end"] = z.end;
    x["price"] = z.price;
    x["kind"] = std::string(engine::ZoneKindName(z.kind));
    x["state"] = std::string(engine::ZoneStateName(z.state));
    zones.append(x);
  }
  d["zones"] = zones;
  return d;
}

nb::dict MarkersOf(const engine::RunResult& r) {
  // Markers as columns (two a trade: a dict each would cost more than the run).
  const engine::Column<engine::Marker>& mk = r.markers;
  nb::dict markers;
  nb::list msym, mside, mkind, mreason;
  Words words;
  for (const engine::Marker& m : mk) {
    msym.append(words(m.symbol));
    mside.append(words(engine::OrderSideName(m.side)));
    mkind.append(words(engine::MarkerKindName(m.kind)));
    mreason.append(words(m.reason));
  }
  markers["symbol"] = msym;
  markers["time"] = Column<int64_t>(mk.size(), [&](size_t k) { return mk[k].time; });
  markers["side"] = mside;
  markers["kind"] = mkind;
  markers["price"] = Column<double>(mk.size(), [&](size_t k) { return mk[k].price; });
  markers["reason"] = mreason;
  markers["trade_id"] = Column<int64_t>(mk.size(), [&](size_t k) { return mk[k].trade_id; });
  return markers;
}

nb::dict EquityOf(const engine::RunResult& r) {
  engine::Column<int64_t> et(r.equity.size());
  engine::Column<double> ev(r.equity.size());
  size_t k = 0;
  r.equity.ForEach([&](engine::LinePoint p) {
    et[k] = p.time;
    ev[k++] = p.value;
  });
  nb::dict equity;
  equity["time"] = Array(std::move(et));
  equity["value"] = Array(std::move(ev));
  return equity;
}

// The parts of a result made into Python objects only when read (a million equity points, two
// markers a trade): the run's result stays in C++ until then.
struct Lazy {
  std::shared_ptr<engine::RunResult> result;
};

}  // namespace

void BindResult(nb::module_& m) {
  nb::class_<Lazy>(m, "LazyResult", "The parts of a run's result made when first read.")
      .def("markers", [](const Lazy& l) { return MarkersOf(*l.result); })
      .def("equity", [](const Lazy& l) { return EquityOf(*l.result); });
}

nb::dict ResultToPython(const RunOutcome& outcome) {
  // The objects made here are lists and dicts of numbers and shared strings, none in a cycle:
  // the collector, which would walk them all again and again as they are made, waits.
  struct GcPause {
    int was = PyGC_Disable();
    ~GcPause() {
      if (was) PyGC_Enable();
    }
  } pause;
  const engine::RunResult& r = *outcome.result;
  nb::dict d;
  d["strategy"] = r.strategy;
  d["digest"] = r.digest;
  nb::list symbols;
  for (const engine::SymbolResult& s : r.symbols) symbols.append(SymbolOf(s));
  d["symbols"] = symbols;
  d["lazy"] = Lazy{outcome.result};
  d["trades"] = TradesOf(r.trades);

  d["stats"] = StatsOf(r.stats);
  nb::list reasons;
  for (const engine::ReasonCount& rc : r.reasons) {
    nb::dict x;
    x["reason"] = rc.reason;
    x["count"] = rc.count;
    x["description"] = rc.description;
    nb::list samples;
    for (const engine::ReasonSample& s : rc.samples) {
      nb::dict y;
      y["symbol"] = s.symbol;
      y["bar_index"] = s.bar_index;
      y["ts"] = s.ts;
      samples.append(y);
    }
    x["samples"] = samples;
    reasons.append(x);
  }
  d["reasons"] = reasons;
  d["trace_rows"] = r.trace_rows;
  d["trace_truncated"] = r.trace_truncated;
  nb::list logs;
  for (const auto& [level, text] : outcome.logs) logs.append(nb::make_tuple(level, text));
  d["logs"] = logs;
  nb::list trace;
  for (const engine::TraceRow& row : outcome.trace) {
    trace.append(nb::make_tuple(row.seq, row.bar_index, row.ts, row.symbol,
                                std::string(engine::TraceSectionName(row.section)),
                                std::string(engine::TraceKindName(row.kind)), row.payload));
  }
  d["trace"] = trace;
  d["run_seconds"] = outcome.run_seconds;
  d["run_cpu_seconds"] = outcome.run_cpu_seconds;
  return d;
}

}  // namespace backtest::sdk
