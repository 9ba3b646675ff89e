#include "server/api/stored_result.h"

#include "absl/strings/str_cat.h"
#include "server/engine/equity_curve.h"
#include "server/jobs/delta_column.h"
#include "server/jobs/result_columns.h"

namespace backtest::api {
namespace {

namespace stored = backtest::runner::v1;

template <typename T>
std::span<const T> Span(const google::protobuf::RepeatedField<T>& field) {
  return std::span<const T>(field.data(), static_cast<size_t>(field.size()));
}

bool SameLength(const stored::CandleColumns& c) {
  const int n = c.time_size();
  return c.open_size() == n && c.high_size() == n && c.low_size() == n && c.close_size() == n &&
         c.volume_size() == n;
}

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("malformed ", what));
}

// The words of a column, one per value; false when an index is past the dictionary.
bool Words(const stored::WordColumn& column, std::vector<const std::string*>* out) {
  out->resize(static_cast<size_t>(column.index_size()));
  for (int i = 0; i < column.index_size(); ++i) {
    (*out)[static_cast<size_t>(i)] = jobs::WordAt(column, i);
    if ((*out)[static_cast<size_t>(i)] == nullptr) return false;
  }
  return true;
}

// The trades of TradeColumns (results format 4), their P&L and return computed as the broker
// did.
absl::Status ReadTrades(const stored::TradeColumns& c, TradeTable* t) {
  if (!jobs::DecodeIntegers(c.id(), &t->id) ||
      !jobs::DecodeIntegers(c.entry_time(), &t->entry_time) ||
      !jobs::DecodeIntegers(c.exit_time(), &t->exit_time) ||
      !jobs::DecodeIntegers(c.bars_held(), &t->bars_held) ||
      !jobs::DecodeIntegers(c.entry_bar(), &t->entry_bar) ||
      !jobs::DecodeIntegers(c.exit_bar(), &t->exit_bar) ||
      !jobs::DecodeNumbers(c.entry_price(), &t->entry_price) ||
      !jobs::DecodeNumbers(c.exit_price(), &t->exit_price) ||
      !jobs::DecodeNumbers(c.size(), &t->size) || !jobs::DecodeNumbers(c.stop(), &t->stop) ||
      !jobs::DecodeNumbers(c.target(), &t->target) ||
      !jobs::DecodeNumbers(c.commission(), &t->commission) || !Words(c.symbol(), &t->symbol) ||
      !Words(c.side(), &t->side) || !Words(c.exit_reason(), &t->exit_reason)) {
    return Malformed("trade columns");
  }
  const size_t n = t->count();
  for (size_t k : {t->entry_time.size(), t->exit_time.size(), t->bars_held.size(),
                   t->entry_bar.size(), t->exit_bar.size(), t->entry_price.size(),
                   t->exit_price.size(), t->size.size(), t->stop.size(), t->target.size(),
                   t->commission.size(), t->symbol.size(), t->side.size(), t->exit_reason.size(),
                   static_cast<size_t>(c.pnl_residual_size()),
                   static_cast<size_t>(c.return_pct_residual_size())}) {
    if (k != n) return Malformed("trade columns: of different lengths");
  }
  t->pnl.resize(n);
  t->return_pct.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const double pnl = jobs::FromResidual(
        c.pnl_residual(static_cast<int>(i)),
        jobs::TradePnl(*t->side[i] == "long", t->entry_price[i], t->exit_price[i], t->size[i],
                       t->commission[i]));
    t->pnl[i] = pnl;
    t->return_pct[i] =
        jobs::FromResidual(c.return_pct_residual(static_cast<int>(i)),
                           jobs::TradeReturnPct(pnl, t->entry_price[i], t->size[i]));
  }
  return absl::OkStatus();
}

// The words of markers made from trades (tables point at them: never destroyed).
struct FillWords {
  std::string buy = "buy", sell = "sell", entry = "entry", exit = "exit";
};
const FillWords& Fill() {
  static const auto* words = new FillWords;
  return *words;
}

// The markers of MarkerColumns (results format 4), the trades already read.
absl::Status ReadMarkers(const stored::MarkerColumns& c, const TradeTable& trades,
                         MarkerTable* m) {
  if (c.from_trades()) {
    std::vector<const std::string*> entry_reason;
    if (!Words(c.entry_reason(), &entry_reason) || entry_reason.size() != trades.count()) {
      return Malformed("marker columns");
    }
    const FillWords& words = Fill();
    const std::vector<jobs::TradeFill> fills =
        jobs::FillsInOrder(trades.entry_time, trades.exit_time, trades.id);
    const size_t n = fills.size();
    m->symbol.resize(n);
    m->time.resize(n);
    m->side.resize(n);
    m->kind.resize(n);
    m->price.resize(n);
    m->reason.resize(n);
    m->trade_id.resize(n);
    for (size_t k = 0; k < n; ++k) {
      const jobs::TradeFill& f = fills[k];
      const size_t i = f.trade;
      const bool long_side = *trades.side[i] == "long";
      m->symbol[k] = trades.symbol[i];
      m->time[k] = f.exit ? trades.exit_time[i] : trades.entry_time[i];
      m->side[k] = (f.exit ? !long_side : long_side) ? &words.buy : &words.sell;
      m->kind[k] = f.exit ? &words.exit : &words.entry;
      m->price[k] = f.exit ? trades.exit_price[i] : trades.entry_price[i];
      m->reason[k] = f.exit ? trades.exit_reason[i] : entry_reason[i];
      m->trade_id[k] = trades.id[i];
    }
    return absl::OkStatus();
  }
  if (!jobs::DecodeIntegers(c.time(), &m->time) ||
      !jobs::DecodeIntegers(c.trade_id(), &m->trade_id) ||
      !jobs::DecodeNumbers(c.price(), &m->price) || !Words(c.symbol(), &m->symbol) ||
      !Words(c.side(), &m->side) || !Words(c.kind(), &m->kind) ||
      !Words(c.reason(), &m->reason)) {
    return Malformed("marker columns");
  }
  const size_t n = m->count();
  for (size_t k : {m->trade_id.size(), m->price.size(), m->symbol.size(), m->side.size(),
                   m->kind.size(), m->reason.size()}) {
    if (k != n) return Malformed("marker columns: of different lengths");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status StoredResult::ReadColumns(const Needs& needs, stored::RunOutput* out) {
  trade_count_ = out->trade_columns().id().delta_size();
  // Trades are read for markers too (markers from_trades are the trades' fills). The columns
  // stay: the tables point at their words.
  if (needs.trades || needs.markers) {
    if (absl::Status s = ReadTrades(out->trade_columns(), &trades_); !s.ok()) return s;
  }
  if (needs.markers) {
    if (absl::Status s = ReadMarkers(out->marker_columns(), trades_, &markers_); !s.ok()) {
      return s;
    }
  }
  if (!needs.equity) return absl::OkStatus();
  const stored::CandleColumns* first = candles_.empty() ? nullptr : candles_[0].get();
  if (out->has_equity_pieces()) {
    // The engine's pieces, marked from the first symbol's closes as the engine marks them.
    const stored::EquityPieces& p = out->equity_pieces();
    std::vector<int64_t> start, count;
    std::vector<double> entry, size, spread;
    if (first == nullptr || !jobs::DecodeIntegers(p.first(), &start) ||
        !jobs::DecodeIntegers(p.count(), &count) || !jobs::DecodeNumbers(p.entry(), &entry) ||
        !jobs::DecodeNumbers(p.size(), &size) || !jobs::DecodeNumbers(p.spread(), &spread)) {
      return Malformed("equity pieces");
    }
    const size_t n = start.size();
    if (count.size() != n || entry.size() != n || size.size() != n || spread.size() != n ||
        p.kind().size() != n || static_cast<size_t>(p.base_size()) != n) {
      return Malformed("equity pieces: of different lengths");
    }
    const int64_t bars = first->time_size();
    // Pieces that follow each other from the first candle to the last have the candles' times:
    // the view points at those (an answer of them all sends the dataset's kept column).
    int64_t next = 0;
    for (size_t i = 0; i < n && next >= 0; ++i) {
      const bool follows = start[i] == next && count[i] >= 0 && count[i] <= bars - next;
      next = follows ? next + count[i] : -1;
    }
    const bool at_candles = next == bars;
    equity_value_.reserve(static_cast<size_t>(bars));
    for (size_t i = 0; i < n; ++i) {
      const int kind = static_cast<unsigned char>(p.kind()[i]);
      if (start[i] < 0 || count[i] < 0 || start[i] + count[i] > bars || kind > 2) {
        return Malformed("equity pieces: past the candles");
      }
      const engine::EquityPiece piece{.first = static_cast<size_t>(start[i]),
                                      .count = static_cast<size_t>(count[i]),
                                      .kind = static_cast<engine::EquityPiece::Kind>(kind),
                                      .base = p.base(static_cast<int>(i)),
                                      .entry = entry[i],
                                      .size = size[i],
                                      .spread = spread[i]};
      for (int64_t j = start[i]; j < start[i] + count[i]; ++j) {
        if (!at_candles) equity_time_.push_back(first->time(static_cast<int>(j)));
        equity_value_.push_back(piece.Value(first->close(static_cast<int>(j))));
      }
    }
    out->clear_equity_pieces();
    own_equity_ = true;
    equity_at_candles_ = at_candles;
  } else if (out->equity_at_candles()) {
    // Its times are the first symbol's candle times (read in place, as its values).
    if (first == nullptr || out->equity_columns().value_size() != first->time_size()) {
      return Malformed("equity: not a point per candle");
    }
    equity_at_candles_ = true;
  }
  return absl::OkStatus();
}

absl::StatusOr<StoredResult> StoredResult::Parse(const db::ResultRecord& record,
                                                 const std::vector<DatasetCandles>& datasets) {
  return Parse(record, record.data, datasets, Needs{});
}

absl::StatusOr<StoredResult> StoredResult::Parse(const db::ResultRecord& record,
                                                 absl::string_view data,
                                                 const std::vector<DatasetCandles>& datasets,
                                                 const Needs& needs) {
  auto unreadable = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("the stored result of job ", record.job_id,
                                            " cannot be read (format ", record.format, "): ",
                                            why));
  };
  StoredResult r;
  if (record.format != db::kResultsFormatPoints && record.format != db::kResultsFormatColumns &&
      record.format != db::kResultsFormatDeltas && record.format != db::kResultsFormatDatasets) {
    return unreadable("unknown format");
  }
  if (!r.stored_.ParseFromArray(data.data(), static_cast<int>(data.size())) ||
      !r.stored_.has_output()) {
    return unreadable("not a result");
  }
  stored::RunOutput& out = *r.stored_.mutable_output();
  // A digest that came after its result (ResultDigestEvent) is in the record's column only.
  if (out.digest().empty()) out.set_digest(record.digest);
  if ((record.format == db::kResultsFormatDeltas || record.format == db::kResultsFormatDatasets) &&
      !jobs::ExpandDeltaColumns(&out)) {
    return unreadable("a malformed column");
  }
  if (record.format == db::kResultsFormatDatasets) {
    if (datasets.size() != static_cast<size_t>(out.series_size())) {
      return unreadable(absl::StrCat("it refers to ", out.series_size(), " datasets, ",
                                     datasets.size(), " are stored"));
    }
    for (size_t i = 0; i < datasets.size(); ++i) {
      const stored::SymbolSeries& s = out.series(static_cast<int>(i));
      if ((!s.dataset().empty() && s.dataset() != datasets[i].hash) ||
          datasets[i].candles == nullptr || !SameLength(*datasets[i].candles)) {
        return unreadable(absl::StrCat("the dataset of ", s.symbol(), " is not its own"));
      }
      r.candles_.push_back(datasets[i].candles);
      r.decimals_.push_back(datasets[i].decimals);
    }
    if (absl::Status s = r.ReadColumns(needs, &out); !s.ok()) return unreadable(s.message());
    return r;
  }
  // Formats 1-3: trades and markers as messages.
  if (needs.trades || needs.markers) r.trades_ = TradeTable::Of(out.trades());
  if (needs.markers) r.markers_ = MarkerTable::Of(out.markers());
  if (record.format != db::kResultsFormatPoints) {
    for (const stored::SymbolSeries& s : out.series()) {
      if (!SameLength(s.candle_columns())) return unreadable("candle columns of different lengths");
    }
    return r;
  }
  // Format 1: a message per candle and point, turned into columns once.
  r.points_ = true;
  r.series_.resize(static_cast<size_t>(out.series_size()));
  for (int i = 0; i < out.series_size(); ++i) {
    const stored::SymbolSeries& s = out.series(i);
    Columns& c = r.series_[static_cast<size_t>(i)];
    for (const stored::Candle& candle : s.candles()) {
      c.time.push_back(candle.time());
      c.open.push_back(candle.open());
      c.high.push_back(candle.high());
      c.low.push_back(candle.low());
      c.close.push_back(candle.close());
      c.volume.push_back(candle.volume());
    }
    for (const stored::LinePoint& p : s.ema()) {
      c.ema_time.push_back(p.time());
      c.ema_value.push_back(p.value());
    }
  }
  for (const stored::LinePoint& p : out.equity()) {
    r.equity_time_.push_back(p.time());
    r.equity_value_.push_back(p.value());
  }
  r.own_equity_ = true;
  return r;
}

ResultView StoredResult::View(int index) const {
  const stored::RunOutput& out = output();
  const stored::SymbolSeries& s = out.series(index);
  ResultView v;
  v.symbol = s.symbol();
  v.trade_count = trade_count_ >= 0 ? trade_count_ : out.trades_size();
  v.zones = &s.zones();
  v.output = &out;
  v.trades = &trades_;
  v.markers = &markers_;
  if (points_) {
    const Columns& c = series_[static_cast<size_t>(index)];
    v.time = c.time;
    v.open = c.open;
    v.high = c.high;
    v.low = c.low;
    v.close = c.close;
    v.volume = c.volume;
    v.ema = {c.ema_time, c.ema_value};
    v.equity = {equity_time_, equity_value_};
    return v;
  }
  const stored::CandleColumns& c =
      candles_.empty() ? s.candle_columns() : *candles_[static_cast<size_t>(index)];
  if (!decimals_.empty()) v.decimals = decimals_[static_cast<size_t>(index)].get();
  v.time = Span(c.time());
  v.open = Span(c.open());
  v.high = Span(c.high());
  v.low = Span(c.low());
  v.close = Span(c.close());
  v.volume = Span(c.volume());
  v.ema = {Span(s.ema_columns().time()), Span(s.ema_columns().value())};
  if (own_equity_) {
    v.equity = {equity_at_candles_ ? Span(candles_[0]->time()) : std::span<const int64_t>(equity_time_),
                equity_value_};
  } else if (equity_at_candles_) {
    v.equity = {Span(candles_[0]->time()), Span(out.equity_columns().value())};
  } else {
    v.equity = {Span(out.equity_columns().time()), Span(out.equity_columns().value())};
  }
  return v;
}

}  // namespace backtest::api
