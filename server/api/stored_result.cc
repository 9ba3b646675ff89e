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

// Trade messages from TradeColumns (results format 4).
absl::Status ReadTrades(const stored::TradeColumns& c, stored::RunOutput* out) {
  std::vector<int64_t> id, entry_time, exit_time, bars_held, entry_bar, exit_bar;
  std::vector<double> entry_price, exit_price, size, stop, target, commission;
  std::vector<const std::string*> symbol, side, reason;
  if (!jobs::DecodeIntegers(c.id(), &id) || !jobs::DecodeIntegers(c.entry_time(), &entry_time) ||
      !jobs::DecodeIntegers(c.exit_time(), &exit_time) ||
      !jobs::DecodeIntegers(c.bars_held(), &bars_held) ||
      !jobs::DecodeIntegers(c.entry_bar(), &entry_bar) ||
      !jobs::DecodeIntegers(c.exit_bar(), &exit_bar) ||
      !jobs::DecodeNumbers(c.entry_price(), &entry_price) ||
      !jobs::DecodeNumbers(c.exit_price(), &exit_price) || !jobs::DecodeNumbers(c.size(), &size) ||
      !jobs::DecodeNumbers(c.stop(), &stop) || !jobs::DecodeNumbers(c.target(), &target) ||
      !jobs::DecodeNumbers(c.commission(), &commission) || !Words(c.symbol(), &symbol) ||
      !Words(c.side(), &side) || !Words(c.exit_reason(), &reason)) {
    return Malformed("trade columns");
  }
  const size_t n = id.size();
  for (size_t k : {entry_time.size(), exit_time.size(), bars_held.size(), entry_bar.size(),
                   exit_bar.size(), entry_price.size(), exit_price.size(), size.size(),
                   stop.size(), target.size(), commission.size(), symbol.size(), side.size(),
                   reason.size(), static_cast<size_t>(c.pnl_residual_size()),
                   static_cast<size_t>(c.return_pct_residual_size())}) {
    if (k != n) return Malformed("trade columns: of different lengths");
  }
  auto* trades = out->mutable_trades();
  trades->Reserve(static_cast<int>(n));
  for (size_t i = 0; i < n; ++i) {
    stored::Trade* t = trades->Add();
    t->set_id(id[i]);
    t->set_symbol(*symbol[i]);
    t->set_side(*side[i]);
    t->set_entry_time(entry_time[i]);
    t->set_entry_price(entry_price[i]);
    t->set_exit_time(exit_time[i]);
    t->set_exit_price(exit_price[i]);
    t->set_size(size[i]);
    t->set_stop(stop[i]);
    t->set_target(target[i]);
    t->set_commission(commission[i]);
    const double pnl = jobs::FromResidual(
        c.pnl_residual(static_cast<int>(i)),
        jobs::TradePnl(*side[i] == "long", entry_price[i], exit_price[i], size[i], commission[i]));
    t->set_pnl(pnl);
    t->set_return_pct(jobs::FromResidual(c.return_pct_residual(static_cast<int>(i)),
                                         jobs::TradeReturnPct(pnl, entry_price[i], size[i])));
    t->set_exit_reason(*reason[i]);
    t->set_bars_held(bars_held[i]);
    t->set_entry_bar(entry_bar[i]);
    t->set_exit_bar(exit_bar[i]);
  }
  return absl::OkStatus();
}

// Marker messages from MarkerColumns (results format 4), the trades already read.
absl::Status ReadMarkers(const stored::MarkerColumns& c, stored::RunOutput* out) {
  auto* markers = out->mutable_markers();
  if (c.from_trades()) {
    const auto& trades = out->trades();
    std::vector<const std::string*> entry_reason;
    if (!Words(c.entry_reason(), &entry_reason) ||
        entry_reason.size() != static_cast<size_t>(trades.size())) {
      return Malformed("marker columns");
    }
    std::vector<int64_t> entry, exit, id;
    for (const stored::Trade& t : trades) {
      entry.push_back(t.entry_time());
      exit.push_back(t.exit_time());
      id.push_back(t.id());
    }
    markers->Reserve(2 * trades.size());
    for (const jobs::TradeFill& f : jobs::FillsInOrder(entry, exit, id)) {
      const stored::Trade& t = trades[static_cast<int>(f.trade)];
      const bool long_side = t.side() == "long";
      stored::Marker* m = markers->Add();
      m->set_symbol(t.symbol());
      m->set_time(f.exit ? t.exit_time() : t.entry_time());
      m->set_side((f.exit ? !long_side : long_side) ? "buy" : "sell");
      m->set_kind(f.exit ? "exit" : "entry");
      m->set_price(f.exit ? t.exit_price() : t.entry_price());
      m->set_reason(f.exit ? t.exit_reason() : *entry_reason[f.trade]);
      m->set_trade_id(t.id());
    }
    return absl::OkStatus();
  }
  std::vector<int64_t> time, trade_id;
  std::vector<double> price;
  std::vector<const std::string*> symbol, side, kind, reason;
  if (!jobs::DecodeIntegers(c.time(), &time) || !jobs::DecodeIntegers(c.trade_id(), &trade_id) ||
      !jobs::DecodeNumbers(c.price(), &price) || !Words(c.symbol(), &symbol) ||
      !Words(c.side(), &side) || !Words(c.kind(), &kind) || !Words(c.reason(), &reason)) {
    return Malformed("marker columns");
  }
  const size_t n = time.size();
  for (size_t k : {trade_id.size(), price.size(), symbol.size(), side.size(), kind.size(),
                   reason.size()}) {
    if (k != n) return Malformed("marker columns: of different lengths");
  }
  markers->Reserve(static_cast<int>(n));
  for (size_t i = 0; i < n; ++i) {
    stored::Marker* m = markers->Add();
    m->set_symbol(*symbol[i]);
    m->set_time(time[i]);
    m->set_side(*side[i]);
    m->set_kind(*kind[i]);
    m->set_price(price[i]);
    m->set_reason(*reason[i]);
    m->set_trade_id(trade_id[i]);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status StoredResult::ReadColumns(const Needs& needs, stored::RunOutput* out) {
  trade_count_ = out->trade_columns().id().delta_size();
  // Trades are read for markers too (markers from_trades are the trades' fills).
  if (needs.trades || needs.markers) {
    if (absl::Status s = ReadTrades(out->trade_columns(), out); !s.ok()) return s;
  }
  if (needs.markers) {
    if (absl::Status s = ReadMarkers(out->marker_columns(), out); !s.ok()) return s;
  }
  out->clear_trade_columns();
  out->clear_marker_columns();
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
        equity_time_.push_back(first->time(static_cast<int>(j)));
        equity_value_.push_back(piece.Value(first->close(static_cast<int>(j))));
      }
    }
    out->clear_equity_pieces();
    own_equity_ = true;
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
    }
    if (absl::Status s = r.ReadColumns(needs, &out); !s.ok()) return unreadable(s.message());
    return r;
  }
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
  v.time = Span(c.time());
  v.open = Span(c.open());
  v.high = Span(c.high());
  v.low = Span(c.low());
  v.close = Span(c.close());
  v.volume = Span(c.volume());
  v.ema = {Span(s.ema_columns().time()), Span(s.ema_columns().value())};
  if (own_equity_) {
    v.equity = {equity_time_, equity_value_};
  } else if (equity_at_candles_) {
    v.equity = {Span(candles_[0]->time()), Span(out.equity_columns().value())};
  } else {
    v.equity = {Span(out.equity_columns().time()), Span(out.equity_columns().value())};
  }
  return v;
}

}  // namespace backtest::api
