#include "server/engine/digest.h"

#include <cmath>
#include <cstring>

namespace backtest::engine {
namespace {

class Canon {
 public:
  explicit Canon(Sha256* h) : h_(h) {}

  void I(int64_t v) {
    uint8_t b[8];
    for (int k = 0; k < 8; ++k) b[k] = static_cast<uint8_t>(static_cast<uint64_t>(v) >> (8 * k));
    h_->Update(b, 8);
  }
  void D(double v) {
    uint64_t bits;
    if (std::isnan(v)) {
      bits = 0x7ff8000000000000ULL;
    } else {
      std::memcpy(&bits, &v, 8);
    }
    I(static_cast<int64_t>(bits));
  }
  void S(absl::string_view s) {
    I(static_cast<int64_t>(s.size()));
    h_->Update(s);
  }
  void DoubleArray(std::span<const double> a) {
    I(static_cast<int64_t>(a.size()));
    for (double v : a) D(v);
  }

 private:
  Sha256* h_;
};

void HashStats(const Stats& s, Canon& c) {
  c.I(s.start); c.I(s.end); c.I(s.duration_seconds); c.I(s.bars);
  c.D(s.exposure_pct); c.D(s.equity_final); c.D(s.equity_peak); c.D(s.return_pct);
  c.D(s.buy_hold_return_pct); c.D(s.return_ann_pct); c.D(s.volatility_ann_pct);
  c.D(s.sharpe); c.D(s.sortino); c.D(s.calmar); c.D(s.max_drawdown_pct);
  c.D(s.avg_drawdown_pct); c.I(s.max_drawdown_duration_seconds);
  c.I(s.avg_drawdown_duration_seconds); c.I(s.trades); c.D(s.win_rate_pct);
  c.D(s.best_trade_pct); c.D(s.worst_trade_pct); c.D(s.avg_trade_pct);
  c.I(s.max_trade_duration_seconds); c.I(s.avg_trade_duration_seconds);
  c.D(s.profit_factor); c.D(s.expectancy); c.D(s.sqn);
  for (const SideStats* side : {&s.long_stats, &s.short_stats}) {
    c.I(side->trades); c.D(side->win_rate_pct); c.D(side->pnl); c.D(side->avg_trade_pct);
    c.D(side->profit_factor);
  }
  c.D(s.commission); c.D(s.pnl);
}

// A symbol's name, pip and candles.
void HashCandles(const SymbolResult& s, Canon& c) {
  c.S(s.symbol);
  c.D(s.pip);
  BarView v = s.candles();
  c.I(static_cast<int64_t>(v.size()));
  for (int64_t t : v.time) c.I(t);
  c.DoubleArray(v.open);
  c.DoubleArray(v.high);
  c.DoubleArray(v.low);
  c.DoubleArray(v.close);
  c.DoubleArray(v.volume);
}

// What precedes a run's results in the digest: the strategy, the symbol count, and the first
// symbol's name, pip and candles.
void HashHead(const RunResult& r, Canon& c) {
  c.S("backtestd-result-v1");
  c.S(r.strategy);
  c.I(static_cast<int64_t>(r.symbols.size()));
  if (!r.symbols.empty()) HashCandles(r.symbols[0], c);
}

// Everything after HashHead: the first symbol's EMA and zones, the other symbols, markers,
// trades, equity, stats and reasons.
void HashRest(const RunResult& r, Canon& c) {
  bool first = true;
  for (const SymbolResult& s : r.symbols) {
    if (!first) HashCandles(s, c);
    first = false;
    c.I(static_cast<int64_t>(s.ema.size()));
    for (const LinePoint& p : s.ema) { c.I(p.time); c.D(p.value); }
    c.I(static_cast<int64_t>(s.zones.size()));
    for (const Zone& z : s.zones) {
      c.S(z.symbol); c.I(z.start); c.I(z.end); c.D(z.price);
      c.S(ZoneKindName(z.kind)); c.S(ZoneStateName(z.state));
    }
    // Named lines only exist for external strategies; hashed only when there are some, so the
    // digests of every other run stay what they were.
    if (!s.lines.empty()) {
      c.S("lines");
      c.I(static_cast<int64_t>(s.lines.size()));
      for (const NamedLine& line : s.lines) {
        c.S(line.name);
        c.I(static_cast<int64_t>(line.points.size()));
        for (const LinePoint& p : line.points) { c.I(p.time); c.D(p.value); }
      }
    }
  }
  c.I(static_cast<int64_t>(r.markers.size()));
  for (const Marker& m : r.markers) {
    c.S(m.symbol); c.I(m.time); c.S(OrderSideName(m.side)); c.S(MarkerKindName(m.kind));
    c.D(m.price); c.S(m.reason); c.I(m.trade_id);
  }
  c.I(static_cast<int64_t>(r.trades.size()));
  for (const Trade& t : r.trades) {
    c.I(t.id); c.S(t.symbol); c.S(SideName(t.side)); c.I(t.entry_time); c.D(t.entry_price);
    c.I(t.exit_time); c.D(t.exit_price); c.D(t.size); c.D(t.stop); c.D(t.target); c.D(t.pnl);
    c.D(t.return_pct); c.S(ExitReasonName(t.exit_reason)); c.I(t.bars_held); c.D(t.commission);
    c.I(t.entry_bar); c.I(t.exit_bar);
  }
  c.I(static_cast<int64_t>(r.equity.size()));
  r.equity.ForEach([&](LinePoint p) { c.I(p.time); c.D(p.value); });
  HashStats(r.stats, c);
  c.I(static_cast<int64_t>(r.reasons.size()));
  for (const ReasonCount& rc : r.reasons) {
    c.S(rc.reason); c.I(rc.count);
    c.I(static_cast<int64_t>(rc.samples.size()));
    for (const ReasonSample& s : rc.samples) { c.S(s.symbol); c.I(s.bar_index); c.I(s.ts); }
  }
}

}  // namespace

std::string ResultDigest(const RunResult& r) {
  Sha256 h;
  Canon c(&h);
  HashHead(r, c);
  HashRest(r, c);
  return h.HexDigest();
}

ResultDigester::ResultDigester() = default;
ResultDigester::~ResultDigester() = default;

void ResultDigester::Begin(const RunResult& started) {
  hash_ = std::make_unique<Sha256>();
  Canon c(hash_.get());
  HashHead(started, c);
  begun_ = true;
}

std::string ResultDigester::HeadKey(const RunResult& r) {
  if (r.symbols.empty()) return "";
  const SymbolResult& s = r.symbols[0];
  if (s.first_kept != 0 || s.bars == nullptr || s.bars->dataset_hash.empty()) return "";
  // Everything HashHead reads, with the dataset hash for the candles.
  Sha256 h;
  Canon c(&h);
  c.S("backtestd-result-v1 head");
  c.S(r.strategy);
  c.I(static_cast<int64_t>(r.symbols.size()));
  c.S(s.symbol);
  c.D(s.pip);
  c.S(s.bars->dataset_hash);
  return h.HexDigest();
}

std::string ResultDigester::HeadState() { return begun_ ? hash_->SaveState() : std::string(); }

bool ResultDigester::BeginFrom(absl::string_view head_state) {
  auto hash = std::make_unique<Sha256>();
  if (!hash->RestoreState(head_state)) return false;
  hash_ = std::move(hash);
  begun_ = true;
  return true;
}

std::string ResultDigester::Finish(const RunResult& result) {
  if (!begun_) Begin(result);
  Canon c(hash_.get());
  HashRest(result, c);
  begun_ = false;
  return hash_->HexDigest();
}

void HashTraceRow(const TraceRow& row, Sha256* hash) {
  Canon c(hash);
  c.I(row.seq); c.I(row.bar_index); c.I(row.ts); c.S(row.symbol);
  c.S(TraceSectionName(row.section)); c.S(TraceKindName(row.kind)); c.S(row.payload);
}

}  // namespace backtest::engine
