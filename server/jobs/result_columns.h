// What results format 4 (runner.proto: TradeColumns, MarkerColumns) leaves out because it follows
// from the rest: a trade's P&L and return from its fills (the broker's formulas), and the chart
// markers from the trades. The runner's writer and the server's reader share these, so a stored
// value is exactly the one the runner had. Header-only (both link it without a library).
#ifndef BACKTEST_SERVER_JOBS_RESULT_COLUMNS_H_
#define BACKTEST_SERVER_JOBS_RESULT_COLUMNS_H_

#include <algorithm>
#include <bit>
#include <cstdint>
#include <span>
#include <tuple>
#include <vector>

namespace backtest::jobs {

// Broker::Close (server/engine/broker/broker.cc): gross P&L from the fills, less commission.
inline double TradePnl(bool long_side, double entry, double exit, double size, double commission) {
  const double gross = long_side ? (exit - entry) * size : (entry - exit) * size;
  return gross - commission;
}

// Broker::Close: the return on the entry notional, in percent (0 for a zero notional).
inline double TradeReturnPct(double pnl, double entry, double size) {
  const double notional = entry * size;
  return notional != 0 ? pnl / notional * 100.0 : 0.0;
}

// A stored value as the exclusive or of its bits with the predicted one: 0 when the prediction
// holds (one byte as a varint), and exact either way.
inline uint64_t Residual(double actual, double predicted) {
  return std::bit_cast<uint64_t>(actual) ^ std::bit_cast<uint64_t>(predicted);
}
inline double FromResidual(uint64_t residual, double predicted) {
  return std::bit_cast<double>(residual ^ std::bit_cast<uint64_t>(predicted));
}

// One fill of a trade: its entry or its exit.
struct TradeFill {
  size_t trade = 0;  // index in the trades
  bool exit = false;
};

// The order MarkerColumns.from_trades gives the markers: by time, then trade id, an entry
// before the exit of the same trade. Each of the trades' fields read by its index:
// entry_time(i), exit_time(i), id(i).
template <typename EntryTime, typename ExitTime, typename Id>
auto FillOrder(EntryTime& entry_time, ExitTime& exit_time, Id& id) {
  auto key = [&](const TradeFill& f) {
    return std::make_tuple(static_cast<int64_t>(f.exit ? exit_time(f.trade) : entry_time(f.trade)),
                           static_cast<int64_t>(id(f.trade)), f.exit);
  };
  return [key](const TradeFill& a, const TradeFill& b) { return key(a) < key(b); };
}

// Whether the n trades' fills taken trade by trade (entry, exit, next trade) are in that order
// already, as those of trades that do not overlap are (sma_cross's: one position at a time).
template <typename EntryTime, typename ExitTime, typename Id>
bool FillsInTradeOrder(size_t n, EntryTime&& entry_time, ExitTime&& exit_time, Id&& id) {
  const auto before = FillOrder(entry_time, exit_time, id);
  TradeFill last{0, false};
  for (size_t k = 1; k < 2 * n; ++k) {
    const TradeFill f{k / 2, k % 2 == 1};
    if (before(f, last)) return false;
    last = f;
  }
  return true;
}

// The trades' fills in FillOrder.
template <typename EntryTime, typename ExitTime, typename Id>
std::vector<TradeFill> FillsInOrderOf(size_t n, EntryTime&& entry_time, ExitTime&& exit_time,
                                      Id&& id) {
  std::vector<TradeFill> fills;
  fills.reserve(2 * n);
  for (size_t i = 0; i < n; ++i) {
    fills.push_back({i, false});
    fills.push_back({i, true});
  }
  // A linear check spares the sort, which would leave fills in order as they are.
  if (!FillsInTradeOrder(n, entry_time, exit_time, id)) {
    std::stable_sort(fills.begin(), fills.end(), FillOrder(entry_time, exit_time, id));
  }
  return fills;
}

inline std::vector<TradeFill> FillsInOrder(std::span<const int64_t> entry_time,
                                           std::span<const int64_t> exit_time,
                                           std::span<const int64_t> id) {
  return FillsInOrderOf(
      id.size(), [&](size_t i) { return entry_time[i]; }, [&](size_t i) { return exit_time[i]; },
      [&](size_t i) { return id[i]; });
}

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_RESULT_COLUMNS_H_
