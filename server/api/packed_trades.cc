#include "server/api/packed_trades.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
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


// Columns of `n` rows read back, each checked; the first malformed one is the status, and its
// values are zeros (so a caller checks the status before using them).
class ColumnReader {
 public:
  explicit ColumnReader(size_t n) : n_(n) {}

  // The rows a DecimalColumn holds (0 when its width is bad).
  static size_t Rows(const backtest::v1::DecimalColumn& c) {
    const int width = c.width();
    return width == 1 || width == 2 || width == 4 || width == 8
               ? c.deltas().size() / static_cast<size_t>(width)
               : 0;
  }

  std::vector<int64_t> Integers(const backtest::v1::DecimalColumn& c, absl::string_view name) {
    const int width = c.width();
    if ((width != 1 && width != 2 && width != 4 && width != 8) || c.decimals() < 0 ||
        c.decimals() > kMaxDecimals || c.deltas().size() != n_ * static_cast<size_t>(width)) {
      Fail(name);
      return std::vector<int64_t>(n_);
    }
    return DecimalIntegers(c, 0, n_);
  }

  // n_i / 10^decimals, as docs/api.md has a client divide.
  std::vector<double> Decimals(const backtest::v1::DecimalColumn& c, absl::string_view name) {
    const std::vector<int64_t> integers = Integers(c, name);
    std::vector<double> out(n_);
    double scale = 1;
    for (int d = 0; d < c.decimals() && d < kMaxDecimals; ++d) scale *= 10;
    for (size_t i = 0; i < n_; ++i) out[i] = static_cast<double>(integers[i]) / scale;
    return out;
  }

  std::vector<double> Numbers(const backtest::v1::NumberColumn& c, absl::string_view name) {
    if (c.has_decimal()) return Decimals(c.decimal(), name);
    std::vector<double> out(n_);
    if (c.doubles().size() != n_ * sizeof(double)) {
      Fail(name);
    } else if (n_ > 0) {
      std::memcpy(out.data(), c.doubles().data(), n_ * sizeof(double));  // little-endian
    }
    return out;
  }

  std::vector<const std::string*> Words(const backtest::v1::WordColumn& c,
                                        absl::string_view name) {
    static const std::string kNone;
    std::vector<const std::string*> out(n_, &kNone);
    const size_t width = static_cast<size_t>(c.width());
    if ((width != 1 && width != 2 && width != 4) || c.indexes().size() != n_ * width) {
      Fail(name);
      return out;
    }
    for (size_t i = 0; i < n_; ++i) {
      uint32_t index = 0;
      std::memcpy(&index, c.indexes().data() + i * width, width);
      if (index >= static_cast<uint32_t>(c.words_size())) {
        Fail(name);
        break;
      }
      out[i] = &c.words(static_cast<int>(index));
    }
    return out;
  }

  const absl::Status& status() const { return status_; }

 private:
  void Fail(absl::string_view name) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(absl::StrCat(
          name, ": not a value per row (", n_, " rows), or a bad width, digit count or index"));
    }
  }

  const size_t n_;
  absl::Status status_;
};

// Counts, bar indexes and ids as the API's int32.
int32_t Count(int64_t n) { return static_cast<int32_t>(n); }

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

absl::Status UnpackTrades(const backtest::v1::TradeColumns& c,
                          google::protobuf::RepeatedPtrField<backtest::v1::Trade>* out) {
  ColumnReader r(ColumnReader::Rows(c.ids()));
  const std::vector<int64_t> id = r.Integers(c.ids(), "ids"),
                             bars_held = r.Integers(c.bars_held(), "bars_held"),
                             entry_bar = r.Integers(c.entry_bars(), "entry_bars"),
                             exit_bar = r.Integers(c.exit_bars(), "exit_bars");
  const std::vector<double> entry_time = r.Decimals(c.entry_times(), "entry_times"),
                            exit_time = r.Decimals(c.exit_times(), "exit_times"),
                            entry_price = r.Numbers(c.entry_prices(), "entry_prices"),
                            exit_price = r.Numbers(c.exit_prices(), "exit_prices"),
                            size = r.Numbers(c.sizes(), "sizes"),
                            stop = r.Numbers(c.stops(), "stops"),
                            target = r.Numbers(c.targets(), "targets"),
                            pnl = r.Numbers(c.pnls(), "pnls"),
                            return_pct = r.Numbers(c.return_pcts(), "return_pcts"),
                            commission = r.Numbers(c.commissions(), "commissions");
  const std::vector<const std::string*> symbol = r.Words(c.symbols(), "symbols"),
                                        side = r.Words(c.sides(), "sides"),
                                        exit_reason = r.Words(c.exit_reasons(), "exit_reasons");
  if (!r.status().ok()) return r.status();
  out->Reserve(out->size() + static_cast<int>(id.size()));
  for (size_t i = 0; i < id.size(); ++i) {
    backtest::v1::Trade* t = out->Add();
    t->set_id(Count(id[i]));
    t->set_symbol(*symbol[i]);
    t->set_side(*side[i]);
    t->set_entry_time(entry_time[i]);
    t->set_entry_price(entry_price[i]);
    t->set_exit_time(exit_time[i]);
    t->set_exit_price(exit_price[i]);
    t->set_size(size[i]);
    t->set_stop(stop[i]);
    t->set_target(target[i]);
    t->set_pnl(pnl[i]);
    t->set_return_pct(return_pct[i]);
    t->set_exit_reason(*exit_reason[i]);
    t->set_bars_held(Count(bars_held[i]));
    t->set_commission(commission[i]);
    t->set_entry_bar(Count(entry_bar[i]));
    t->set_exit_bar(Count(exit_bar[i]));
  }
  return absl::OkStatus();
}

absl::Status UnpackMarkers(const backtest::v1::MarkerColumns& c,
                           google::protobuf::RepeatedPtrField<backtest::v1::Marker>* out) {
  ColumnReader r(ColumnReader::Rows(c.times()));
  const std::vector<int64_t> trade_id = r.Integers(c.trade_ids(), "trade_ids");
  const std::vector<double> time = r.Decimals(c.times(), "times"),
                            price = r.Numbers(c.prices(), "prices");
  const std::vector<const std::string*> symbol = r.Words(c.symbols(), "symbols"),
                                        side = r.Words(c.sides(), "sides"),
                                        kind = r.Words(c.kinds(), "kinds"),
                                        reason = r.Words(c.reasons(), "reasons");
  if (!r.status().ok()) return r.status();
  out->Reserve(out->size() + static_cast<int>(time.size()));
  for (size_t i = 0; i < time.size(); ++i) {
    backtest::v1::Marker* m = out->Add();
    m->set_symbol(*symbol[i]);
    m->set_time(time[i]);
    m->set_side(*side[i]);
    m->set_kind(*kind[i]);
    m->set_price(price[i]);
    m->set_reason(*reason[i]);
    m->set_trade_id(Count(trade_id[i]));
  }
  return absl::OkStatus();
}

}  // namespace backtest::api
