#include "server/api/stored_result.h"

#include "absl/strings/str_cat.h"
#include "server/jobs/delta_column.h"

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

}  // namespace

absl::StatusOr<StoredResult> StoredResult::Parse(const db::ResultRecord& record) {
  auto unreadable = [&](absl::string_view why) {
    return absl::DataLossError(absl::StrCat("the stored result of job ", record.job_id,
                                            " cannot be read (format ", record.format, "): ",
                                            why));
  };
  StoredResult r;
  if (record.format != db::kResultsFormatPoints && record.format != db::kResultsFormatColumns &&
      record.format != db::kResultsFormatDeltas) {
    return unreadable("unknown format");
  }
  if (!r.event_.ParseFromString(record.data) || !r.event_.has_result()) {
    return unreadable("not a result");
  }
  stored::RunOutput& out = *r.event_.mutable_result();
  if (record.format == db::kResultsFormatDeltas && !jobs::ExpandDeltaColumns(&out)) {
    return unreadable("a malformed column");
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
  return r;
}

ResultView StoredResult::View(int index) const {
  const stored::RunOutput& out = output();
  const stored::SymbolSeries& s = out.series(index);
  ResultView v;
  v.symbol = s.symbol();
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
  const stored::CandleColumns& c = s.candle_columns();
  v.time = Span(c.time());
  v.open = Span(c.open());
  v.high = Span(c.high());
  v.low = Span(c.low());
  v.close = Span(c.close());
  v.volume = Span(c.volume());
  v.ema = {Span(s.ema_columns().time()), Span(s.ema_columns().value())};
  v.equity = {Span(out.equity_columns().time()), Span(out.equity_columns().value())};
  return v;
}

}  // namespace backtest::api
