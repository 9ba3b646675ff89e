#include "server/engine/trace/tracer.h"

#include <algorithm>
#include <span>

#include "server/engine/observer.h"

namespace backtest::engine {

absl::string_view TraceSectionName(TraceSection s) {
  switch (s) {
    case TraceSection::kIndicators: return "indicators";
    case TraceSection::kZones: return "zones";
    case TraceSection::kSignal: return "signal";
    case TraceSection::kFilters: return "filters";
    case TraceSection::kRisk: return "risk";
    case TraceSection::kOrders: return "orders";
    case TraceSection::kPosition: return "position";
  }
  return "signal";
}

absl::string_view TraceKindName(TraceKind k) {
  switch (k) {
    case TraceKind::kValue: return "value";
    case TraceKind::kCheck: return "check";
    case TraceKind::kEvent: return "event";
  }
  return "value";
}

Tracer::Tracer(bool enabled, int64_t sampling, int64_t max_rows, int batch_size,
               RunObserver* observer)
    : enabled_(enabled && max_rows != 0),
      sampling_(std::max<int64_t>(1, sampling)),
      max_rows_(max_rows < 0 ? INT64_MAX : max_rows),
      batch_size_(static_cast<size_t>(std::max(1, batch_size))),
      observer_(observer) {
  if (enabled_) buffer_.resize(batch_size_);
}

JsonWriter& Tracer::BeginRow(TraceSection section, TraceKind kind) {
  TraceRow& row = buffer_[count_];
  row.seq = emitted_ + 1;
  row.bar_index = bar_index_;
  row.ts = ts_;
  if (row.symbol != *symbol_) row.symbol = *symbol_;
  row.section = section;
  row.kind = kind;
  if (kind == TraceKind::kEvent) bar_had_event_ = true;
  writer_.Begin(&row.payload);
  return writer_;
}

void Tracer::EndRow() {
  writer_.End();
  ++count_;
  ++emitted_;
  if (emitted_ >= max_rows_) limit_reached_ = true;  // later rows are dropped
  if (count_ == batch_size_) SendBatch(false);
}

void Tracer::SendBatch(bool truncated) {
  observer_->OnTraceBatch(std::span<const TraceRow>(buffer_.data(), count_), truncated);
  count_ = 0;
}

void Tracer::Flush() {
  if (!enabled_) return;
  if (count_ > 0 || dropped_) SendBatch(dropped_);
}

}  // namespace backtest::engine
