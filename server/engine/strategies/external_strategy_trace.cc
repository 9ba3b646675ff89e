// ExternalStrategy's log lines, reason counts, trace rows, verdicts and chart overlays.
#include "server/engine/strategies/external_strategy.h"

#include "absl/strings/str_cat.h"

namespace backtest::engine {
namespace {

void Append(std::string* out, absl::string_view part) {
  if (!out->empty()) out->append("; ");
  out->append(part.data(), part.size());
}

}  // namespace

void ExternalStrategy::Log(LogLevel level, absl::string_view text) {
  if (in_bar_) {
    if (ctx_.log.Wants(level)) LogBar(level, std::string(text));
    return;
  }
  ctx_.observer.OnLog(level, text);
}

void ExternalStrategy::CountReason(absl::string_view code, absl::string_view description) {
  if (!in_bar_) return;
  ctx_.reasons.Add(code, description, static_cast<uint32_t>(sym_), bar_index(),
                   series_->time[i_]);
}

bool ExternalStrategy::WantsTrace(TraceKind kind) {
  return tracing_ && in_bar_ && ctx_.tracer.Wants(kind);
}

JsonWriter& ExternalStrategy::BeginTraceRow(TraceSection section, TraceKind kind) {
  return ctx_.tracer.BeginRow(section, kind);
}

void ExternalStrategy::EndTraceRow() { ctx_.tracer.EndRow(); }

void ExternalStrategy::NoteCheck(bool passed, absl::string_view reason, absl::string_view code) {
  had_check_ = true;
  if (!passed && failed_reason_.empty() && failed_code_.empty()) {
    failed_reason_ = std::string(reason);
    failed_code_ = std::string(code);
  }
}

void ExternalStrategy::NoteEvent(absl::string_view code, absl::string_view text) {
  if (verdict_code_.empty()) verdict_code_ = std::string(code);
  Append(&verdict_, text);
}

void ExternalStrategy::SetVerdict(absl::string_view text, absl::string_view code) {
  user_verdict_ = std::string(text);
  user_code_ = std::string(code);
}

void ExternalStrategy::TraceVerdict(size_t sym) {
  Tracer& tr = ctx_.tracer;
  // The verdict row is a value row, but kept on every bar that had an event.
  if (!(tr.bar_had_event() ? tr.Wants(TraceKind::kEvent) : tr.Wants(TraceKind::kValue))) return;
  std::string verdict = verdict_;
  if (!user_verdict_.empty()) Append(&verdict, user_verdict_);
  if (verdict.empty()) {
    verdict = !failed_reason_.empty() ? absl::StrCat("no trade: ", failed_reason_)
              : had_check_            ? std::string("no trade: every check passed")
                                      : std::string("no trade");
  }
  const std::string& code = !verdict_code_.empty() ? verdict_code_
                            : !user_code_.empty()  ? user_code_
                            : !failed_code_.empty() ? failed_code_
                                                    : std::string("no_signal");
  const Position& p = ctx_.broker.position(sym);
  tr.BeginRow(TraceSection::kPosition, TraceKind::kValue)
      .Str("verdict", verdict).Str("code", code)
      .Str("position", p.open ? SideName(p.side) : "flat")
      .Approx("equity", ctx_.broker.Equity());
  tr.EndRow();
}

void ExternalStrategy::Plot(absl::string_view name, double value) {
  if (!in_bar_) return;
  SymbolResult& out = ctx_.result.symbols[sym_];
  const LinePoint point{series_->time[i_], value};
  if (name == "ema") {
    out.ema.push_back(point);
    return;
  }
  for (NamedLine& line : out.lines) {
    if (line.name == name) {
      line.points.push_back(point);
      return;
    }
  }
  out.lines.push_back(NamedLine{std::string(name), {point}});
}

void ExternalStrategy::AddZone(Zone zone) {
  size_t sym = sym_;
  if (zone.symbol.empty()) {
    zone.symbol = ctx_.data.symbols[sym].symbol;
  } else {
    for (size_t s = 0; s < states_.size(); ++s) {
      if (ctx_.data.symbols[s].symbol == zone.symbol) sym = s;
    }
  }
  ctx_.result.symbols[sym].zones.push_back(std::move(zone));
}

void ExternalStrategy::AddNote(OrderSide side, double price, absl::string_view text) {
  if (!in_bar_ || !ctx_.markers) return;
  Marker m;
  m.symbol = ctx_.data.symbols[sym_].symbol;
  m.time = series_->time[i_];
  m.side = side;
  m.kind = MarkerKind::kNote;
  m.price = price;
  m.reason = std::string(text);
  ctx_.result.markers.push_back(std::move(m));
}

}  // namespace backtest::engine
