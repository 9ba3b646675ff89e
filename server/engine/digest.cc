#include "server/engine/digest.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <span>
#include <string>

namespace backtest::engine {
namespace {

static_assert(std::endian::native == std::endian::little,
              "canonical integers are 8 little-endian bytes: in memory, they are that already");

constexpr uint64_t kCanonicalNaN = 0x7ff8000000000000ULL;

// A value's canonical bytes at p; each returns the end of what it wrote.
uint8_t* PutI(uint8_t* p, int64_t v) {
  std::memcpy(p, &v, 8);
  return p + 8;
}
uint8_t* PutD(uint8_t* p, double v) {
  const uint64_t bits = std::isnan(v) ? kCanonicalNaN : std::bit_cast<uint64_t>(v);
  std::memcpy(p, &bits, 8);
  return p + 8;
}
uint8_t* PutS(uint8_t* p, absl::string_view s) {
  p = PutI(p, static_cast<int64_t>(s.size()));
  if (!s.empty()) std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

bool HasNaN(std::span<const double> a) {
  bool nan = false;
  for (double v : a) nan |= std::isnan(v);
  return nan;
}

// The canonical bytes (length-prefixed) of the names of an enum's first kCount values, made once:
// every marker and trade hashes two names. A name is copied as a fixed kRoom bytes (room the
// record has taken for it) instead of by its length; a value without a made name (past kCount,
// or too long a name) is written from its name as any string is.
template <typename E, size_t kCount>
class NameBytes {
 public:
  static constexpr size_t kRoom = 32;

  explicit NameBytes(absl::string_view (*name)(E)) : name_(name) {
    for (size_t i = 0; i < kCount; ++i) {
      const absl::string_view n = name(static_cast<E>(i));
      if (8 + n.size() > kRoom) continue;
      size_[i] = static_cast<size_t>(PutS(bytes_[i], n) - bytes_[i]);
    }
  }
  // The room Put(p, e) needs.
  size_t Room(E e) const { return Made(e) ? kRoom : 8 + name_(e).size(); }
  uint8_t* Put(uint8_t* p, E e) const {
    if (!Made(e)) return PutS(p, name_(e));
    const auto i = static_cast<size_t>(e);
    std::memcpy(p, bytes_[i], kRoom);
    return p + size_[i];
  }

 private:
  bool Made(E e) const {
    const auto i = static_cast<size_t>(e);
    return i < kCount && size_[i] != 0;
  }
  absl::string_view (*name_)(E);
  uint8_t bytes_[kCount][kRoom] = {};
  size_t size_[kCount] = {};  // 0: not made
};

// Writes the canonical serialization into the hash. Numbers few and far between go one at a
// time; a record (a marker, a trade) is written in place in one go, into room taken for it once
// (Sha256::Room); points a block at a time; columns of the candles straight from memory.
class Canon {
 public:
  explicit Canon(Sha256* h) : h_(h) {}

  void I(int64_t v) { h_->Written(PutI(h_->Room(8), v)); }
  void D(double v) { h_->Written(PutD(h_->Room(8), v)); }
  void S(absl::string_view s) {
    I(static_cast<int64_t>(s.size()));
    h_->Update(s);
  }
  void DoubleArray(std::span<const double> a) {
    I(static_cast<int64_t>(a.size()));
    if (a.empty()) return;
    if (!HasNaN(a)) {
      h_->Update(a.data(), a.size() * sizeof(double));
      return;
    }
    for (double v : a) D(v);
  }
  // Integers without their count.
  void Ints(std::span<const int64_t> a) {
    if (!a.empty()) h_->Update(a.data(), a.size() * sizeof(int64_t));
  }

  // A record of at most `bound` bytes, written by put(p), which returns its end.
  template <typename Put>
  void Record(size_t bound, Put&& put) {
    if (bound <= Sha256::kChunk) {
      h_->Written(put(h_->Room(bound)));
      return;
    }
    std::string aside(bound, '\0');  // longer than the gathering buffer (a long string)
    auto* begin = reinterpret_cast<uint8_t*>(aside.data());
    h_->Update(begin, static_cast<size_t>(put(begin) - begin));
  }

  // Each point as its time and value, for_each(f) calling f(LinePoint) with them in order.
  template <typename ForEach>
  void Points(ForEach&& for_each) {
    uint8_t* p = h_->Room(16);
    uint8_t* end = h_->RoomEnd();
    for_each([&](const LinePoint& q) {
      if (end - p < 16) {
        h_->Written(p);
        p = h_->Room(16);
        end = h_->RoomEnd();
      }
      p = PutD(PutI(p, q.time), q.value);
    });
    h_->Written(p);
  }
  void PointSpan(std::span<const LinePoint> points) {
    Points([&](auto&& f) {
      for (const LinePoint& q : points) f(q);
    });
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
  c.Ints(v.time);
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

// A marker's and a trade's fields, in the order the digest has them.
void HashMarkers(const Column<Marker>& markers, Canon& c) {
  static const NameBytes<OrderSide, 2> side_names(OrderSideName);
  static const NameBytes<MarkerKind, 3> kind_names(MarkerKindName);
  c.I(static_cast<int64_t>(markers.size()));
  for (const Marker& m : markers) {
    const size_t bound = 8 * 5 + m.symbol.size() + m.reason.size() + side_names.Room(m.side) +
                         kind_names.Room(m.kind);
    c.Record(bound, [&](uint8_t* p) {
      p = PutS(p, m.symbol);
      p = PutI(p, m.time);
      p = side_names.Put(p, m.side);
      p = kind_names.Put(p, m.kind);
      p = PutD(p, m.price);
      p = PutS(p, m.reason);
      return PutI(p, m.trade_id);
    });
  }
}

void HashTrades(const Column<Trade>& trades, Canon& c) {
  static const NameBytes<Side, 2> side_names(SideName);
  static const NameBytes<ExitReason, 6> reason_names(ExitReasonName);
  c.I(static_cast<int64_t>(trades.size()));
  for (const Trade& t : trades) {
    const size_t bound =
        8 * 15 + t.symbol.size() + side_names.Room(t.side) + reason_names.Room(t.exit_reason);
    c.Record(bound, [&](uint8_t* p) {
      p = PutI(p, t.id);
      p = PutS(p, t.symbol);
      p = side_names.Put(p, t.side);
      p = PutI(p, t.entry_time);
      p = PutD(p, t.entry_price);
      p = PutI(p, t.exit_time);
      p = PutD(p, t.exit_price);
      p = PutD(p, t.size);
      p = PutD(p, t.stop);
      p = PutD(p, t.target);
      p = PutD(p, t.pnl);
      p = PutD(p, t.return_pct);
      p = reason_names.Put(p, t.exit_reason);
      p = PutI(p, t.bars_held);
      p = PutD(p, t.commission);
      p = PutI(p, t.entry_bar);
      return PutI(p, t.exit_bar);
    });
  }
}

// Everything after HashHead: the first symbol's EMA and zones, the other symbols, markers,
// trades, equity, stats and reasons.
void HashRest(const RunResult& r, Canon& c) {
  bool first = true;
  for (const SymbolResult& s : r.symbols) {
    if (!first) HashCandles(s, c);
    first = false;
    c.I(static_cast<int64_t>(s.ema.size()));
    c.PointSpan(s.ema);
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
        c.PointSpan(line.points);
      }
    }
  }
  HashMarkers(r.markers, c);
  HashTrades(r.trades, c);
  c.I(static_cast<int64_t>(r.equity.size()));
  c.Points([&](auto&& f) { r.equity.ForEach(f); });
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
