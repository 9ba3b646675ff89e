#include "server/api/packed_trades.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "server/api/decimal_column.h"

namespace backtest::api {
namespace {

// Values `rows` of `column`, converted by `as` (the API message's type for the field).
template <typename Out, typename In, typename F>
std::vector<Out> Pick(const std::vector<In>& column, std::span<const size_t> rows, F&& as) {
  std::vector<Out> out(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) out[k] = as(column[rows[k]]);
  return out;
}

// Counts, bar indexes and ids: int32 in the API's messages (result_conversion.cc's Count).
void PutCounts(const std::vector<int64_t>& column, std::span<const size_t> rows,
               backtest::v1::DecimalColumn* out) {
  PutDecimal(Pick<int64_t>(column, rows, [](int64_t n) { return int64_t{static_cast<int32_t>(n)}; }),
             0, out);
}

// Epoch seconds: whole numbers, the API's doubles exactly.
void PutSeconds(const std::vector<int64_t>& column, std::span<const size_t> rows,
                backtest::v1::DecimalColumn* out) {
  PutDecimal(Pick<int64_t>(column, rows, [](int64_t s) { return s; }), 0, out);
}

void PutNumbers(const std::vector<double>& column, std::span<const size_t> rows,
                bool decimal_columns, backtest::v1::NumberColumn* out) {
  const std::vector<double> values = Pick<double>(column, rows, [](double v) { return v; });
  if (decimal_columns) {
    std::vector<int64_t> integers;
    if (const std::optional<int> digits = FewestDigits(values, kMaxDecimals + 1, &integers)) {
      PutDecimal(integers, *digits, out->mutable_decimal());
      return;
    }
  }
  out->set_doubles(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(double));
}

// A column of words: each distinct word once, an index per value. The words of stored columns
// point into a few dictionaries, so a value is mostly found by its pointer among the first few.
void PutWords(const std::vector<const std::string*>& column, std::span<const size_t> rows,
              backtest::v1::WordColumn* out) {
  constexpr size_t kByPointer = 16;
  std::vector<std::pair<const std::string*, uint32_t>> seen;  // at most kByPointer
  absl::flat_hash_map<absl::string_view, uint32_t> by_word;
  std::vector<uint32_t> index(rows.size());
  for (size_t k = 0; k < rows.size(); ++k) {
    const std::string* word = column[rows[k]];
    auto known = std::find_if(seen.begin(), seen.end(), [&](const auto& s) { return s.first == word; });
    if (known != seen.end()) {
      index[k] = known->second;
      continue;
    }
    auto [at, added] = by_word.try_emplace(*word, static_cast<uint32_t>(by_word.size()));
    if (added) out->add_words(*word);
    if (seen.size() < kByPointer) seen.emplace_back(word, at->second);
    index[k] = at->second;
  }
  const size_t words = by_word.size();
  const size_t width = words <= 0x100 ? 1 : words <= 0x10000 ? 2 : 4;
  out->set_width(static_cast<int>(width));
  std::string* bytes = out->mutable_indexes();
  bytes->resize(index.size() * width);
  for (size_t k = 0; k < index.size(); ++k) {
    std::memcpy(bytes->data() + k * width, &index[k], width);  // little-endian: the low bytes
  }
}

}  // namespace

void PackTrades(const TradeTable& t, std::span<const size_t> rows, bool decimal_columns,
                backtest::v1::TradeColumns* out) {
  const bool d = decimal_columns;
  PutCounts(t.id, rows, out->mutable_ids());
  PutWords(t.symbol, rows, out->mutable_symbols());
  PutWords(t.side, rows, out->mutable_sides());
  PutSeconds(t.entry_time, rows, out->mutable_entry_times());
  PutNumbers(t.entry_price, rows, d, out->mutable_entry_prices());
  PutSeconds(t.exit_time, rows, out->mutable_exit_times());
  PutNumbers(t.exit_price, rows, d, out->mutable_exit_prices());
  PutNumbers(t.size, rows, d, out->mutable_sizes());
  PutNumbers(t.stop, rows, d, out->mutable_stops());
  PutNumbers(t.target, rows, d, out->mutable_targets());
  PutNumbers(t.pnl, rows, d, out->mutable_pnls());
  PutNumbers(t.return_pct, rows, d, out->mutable_return_pcts());
  PutWords(t.exit_reason, rows, out->mutable_exit_reasons());
  PutCounts(t.bars_held, rows, out->mutable_bars_held());
  PutNumbers(t.commission, rows, d, out->mutable_commissions());
  PutCounts(t.entry_bar, rows, out->mutable_entry_bars());
  PutCounts(t.exit_bar, rows, out->mutable_exit_bars());
}

void PackMarkers(const MarkerTable& m, std::span<const size_t> rows, bool decimal_columns,
                 backtest::v1::MarkerColumns* out) {
  PutWords(m.symbol, rows, out->mutable_symbols());
  PutSeconds(m.time, rows, out->mutable_times());
  PutWords(m.side, rows, out->mutable_sides());
  PutWords(m.kind, rows, out->mutable_kinds());
  PutNumbers(m.price, rows, decimal_columns, out->mutable_prices());
  PutWords(m.reason, rows, out->mutable_reasons());
  PutCounts(m.trade_id, rows, out->mutable_trade_ids());
}

}  // namespace backtest::api
