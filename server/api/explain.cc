#include "server/api/explain.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/api/value_conversion.h"
#include "server/engine/param_registry.h"

namespace backtest::api {
namespace {

using Json = nlohmann::json;

constexpr absl::string_view kSections[] = {"indicators", "zones", "signal", "filters",
                                           "risk",       "orders", "position"};
constexpr absl::string_view kKinds[] = {"value", "check", "event"};
// Reasons named in a whole-run summary besides entries and exits.
constexpr size_t kTopReasons = 3;

Json ParsePayload(const std::string& text) {
  Json payload = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return payload.is_object() ? payload : Json::object();
}

// A parsed payload as a google.protobuf.Value. protobuf's JsonStringToMessage does the same from
// the text, but measured on a typical check payload it takes 11-16 µs against 2.4 µs for
// nlohmann's parse and this walk; an include_trace stream converts every row (175k in a traced
// sr_breakout run), where that is seconds.
void ToValue(const Json& j, google::protobuf::Value* out) {
  switch (j.type()) {
    case Json::value_t::boolean:
      out->set_bool_value(j.get<bool>());
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      out->set_number_value(j.get<double>());
      break;
    case Json::value_t::string:
      out->set_string_value(j.get<std::string>());
      break;
    case Json::value_t::array: {
      auto* list = out->mutable_list_value();
      for (const Json& item : j) ToValue(item, list->add_values());
      break;
    }
    case Json::value_t::object: {
      auto* fields = out->mutable_struct_value()->mutable_fields();
      for (const auto& [key, item] : j.items()) ToValue(item, &(*fields)[key]);
      break;
    }
    default:
      out->set_null_value(google::protobuf::NULL_VALUE);
  }
}

void ToStruct(const Json& object, google::protobuf::Struct* out) {
  for (const auto& [key, item] : object.items()) ToValue(item, &(*out->mutable_fields())[key]);
}

std::string StringField(const Json& payload, const char* key) {
  auto it = payload.find(key);
  return it != payload.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string Humanize(absl::string_view code) { return absl::StrReplaceAll(code, {{"_", " "}}); }

// One event in words: a sentence the engine wrote ("why", or a "reason" with spaces) wins;
// otherwise its name with what it names (side, reason code, price).
std::string DescribeEvent(const Json& payload) {
  std::string name = StringField(payload, "event");
  if (name.empty()) name = "event";
  std::string reason = StringField(payload, "reason");
  std::string why = StringField(payload, "why");
  std::string side = StringField(payload, "side");
  const bool reason_is_sentence = absl::StrContains(reason, ' ');
  std::string out = Humanize(name);
  if (!side.empty()) absl::StrAppend(&out, " ", side);
  if (!reason.empty() && !reason_is_sentence) {
    absl::StrAppend(&out, absl::StartsWith(name, "exit") ? " by " : " (", Humanize(reason),
                    absl::StartsWith(name, "exit") ? "" : ")");
  }
  if (auto price = payload.find("price"); price != payload.end() && price->is_number()) {
    absl::StrAppend(&out, " at ", engine::FormatNumber(price->get<double>()));
  }
  if (!why.empty()) {
    absl::StrAppend(&out, ": ", why);
  } else if (reason_is_sentence) {
    // The sentence says it all ("long setup at 1.1 cancelled: close … < …").
    out = reason;
  }
  return out;
}

// A key for `values` that is not taken yet: name, name#2, …
std::string FreeKey(const google::protobuf::Struct& values, const std::string& name) {
  if (!values.fields().contains(name)) return name;
  for (int i = 2;; ++i) {
    std::string key = absl::StrCat(name, "#", i);
    if (!values.fields().contains(key)) return key;
  }
}

void AddValues(const Json& payload, const std::string& name, google::protobuf::Struct* values) {
  if (values == nullptr) return;
  ToStruct(payload, (*values->mutable_fields())[FreeKey(*values, name)].mutable_struct_value());
}

std::string BarLabel(const BarQuestion& q) {
  if (q.bar_index) return absl::StrCat("bar ", *q.bar_index);
  if (q.ts) return absl::StrCat("the bar at ", engine::FormatTime(*q.ts));
  return "the bar";
}

bool Unfinished(db::JobStatus status) { return !db::IsFinal(status); }

}  // namespace

std::span<const absl::string_view> TraceSections() { return kSections; }
std::span<const absl::string_view> TraceKinds() { return kKinds; }

bool IsTraceSection(absl::string_view section) {
  return std::find(std::begin(kSections), std::end(kSections), section) != std::end(kSections);
}

bool IsTraceKind(absl::string_view kind) {
  return std::find(std::begin(kKinds), std::end(kKinds), kind) != std::end(kKinds);
}

absl::StatusOr<std::vector<std::string>> ParseInclude(absl::string_view include) {
  std::vector<std::string> sections;
  for (absl::string_view part : absl::StrSplit(include, ',', absl::SkipWhitespace())) {
    std::string section = absl::AsciiStrToLower(absl::StripAsciiWhitespace(part));
    if (!IsTraceSection(section)) {
      return absl::InvalidArgumentError(
          absl::StrCat("include: unknown section \"", absl::CHexEscape(part.substr(0, 32)),
                       "\" (sections: ", absl::StrJoin(kSections, ", "), ")"));
    }
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      sections.push_back(std::move(section));
    }
  }
  return sections;
}

void ToTraceRowProto(const db::TraceRowRecord& row, backtest::v1::TraceRow* out) {
  out->set_seq(row.seq);
  out->set_bar_index(row.bar_index);
  out->set_ts(row.ts);
  out->set_symbol(row.symbol);
  out->set_section(row.section);
  out->set_kind(row.kind);
  Json payload = Json::parse(row.payload_json, nullptr, /*allow_exceptions=*/false);
  if (payload.is_object()) {
    ToStruct(payload, out->mutable_payload());
  } else {
    (*out->mutable_payload()->mutable_fields())["raw"].set_string_value(row.payload_json);
  }
}

std::string BarVerdict(std::span<const db::TraceRowRecord> rows,
                       google::protobuf::Struct* values) {
  std::vector<Json> payloads;
  payloads.reserve(rows.size());
  for (const db::TraceRowRecord& row : rows) payloads.push_back(ParsePayload(row.payload_json));

  const Json* verdict_row = nullptr;
  std::vector<const Json*> failed;
  std::vector<const Json*> events;
  for (size_t i = 0; i < rows.size(); ++i) {
    const Json& p = payloads[i];
    if (auto v = p.find("verdict"); v != p.end() && v->is_string()) verdict_row = &p;
    if (rows[i].kind == "event") events.push_back(&p);
    if (rows[i].kind == "check") {
      if (auto passed = p.find("passed"); passed != p.end() && passed->is_boolean() &&
                                          !passed->get<bool>()) {
        failed.push_back(&p);
      }
    }
  }
  // The deciding check: the failed one the engine's verdict names, else the first failed one.
  const Json* first_failed = failed.empty() ? nullptr : failed.front();
  if (verdict_row != nullptr) {
    const std::string verdict = StringField(*verdict_row, "verdict");
    for (const Json* f : failed) {
      const std::string reason = StringField(*f, "reason");
      if (!reason.empty() && absl::StrContains(verdict, reason)) {
        first_failed = f;
        break;
      }
    }
  }

  for (const Json* e : events) {
    std::string name = StringField(*e, "event");
    AddValues(*e, name.empty() ? "event" : name, values);
  }
  std::string failed_reason;
  if (first_failed != nullptr) {
    std::string name = StringField(*first_failed, "check");
    AddValues(*first_failed, name.empty() ? "check" : name, values);
    failed_reason = StringField(*first_failed, "reason");
    if (failed_reason.empty()) {
      failed_reason = absl::StrCat(name.empty() ? "a check" : name, " failed");
    }
  }
  if (verdict_row != nullptr) {
    AddValues(*verdict_row, "verdict", values);
    return StringField(*verdict_row, "verdict");
  }

  std::vector<std::string> parts;
  for (const Json* e : events) parts.push_back(DescribeEvent(*e));
  if (!parts.empty()) {
    if (!failed_reason.empty()) parts.push_back(absl::StrCat("no new setup: ", failed_reason));
    return absl::StrJoin(parts, "; ");
  }
  if (!failed_reason.empty()) return absl::StrCat("no entry: ", failed_reason);
  const bool had_checks =
      std::any_of(rows.begin(), rows.end(), [](const auto& r) { return r.kind == "check"; });
  return had_checks ? "no entry: every check passed and nothing happened"
                    : "nothing was decided at this bar: only values were traced";
}

std::string UntracedReason(const BarQuestion& q, const RunFacts& facts) {
  const std::string label = BarLabel(q);
  const bool past_last =
      q.bar_index ? (!facts.last_traced_bar || *q.bar_index > *facts.last_traced_bar)
                  : !facts.last_traced_bar.has_value();
  if (!facts.trace_enabled) {
    return absl::StrCat(label,
                        " was not traced: tracing was off for this run (run it with "
                        "trace_enabled=true)");
  }
  if (facts.truncated && past_last) {
    return absl::StrCat(label, " was not traced: the trace was cut at ", facts.trace_rows,
                        " rows (BOTS_TRACE_MAX_ROWS)");
  }
  if (Unfinished(facts.status) && past_last) {
    return absl::StrCat(label, " has not been traced yet: the job is ",
                        db::JobStatusName(facts.status));
  }
  if (facts.sampling > 1 && (!q.bar_index || *q.bar_index % facts.sampling != 0)) {
    return absl::StrCat(label, " was not traced: sampling ", facts.sampling,
                        " skipped it (values and checks are traced on every ", facts.sampling,
                        "th bar, events on every bar)");
  }
  if ((facts.status == db::JobStatus::kFailed || facts.status == db::JobStatus::kCancelled) &&
      past_last) {
    return absl::StrCat(label, " was not traced: the job ",
                        facts.status == db::JobStatus::kCancelled ? "was cancelled" : "failed",
                        " before reaching it");
  }
  return absl::StrCat(label, " has no trace rows for ", q.symbol.empty() ? "this run" : q.symbol);
}

void ExplainBar(const BarQuestion& q, std::span<const db::TraceRowRecord> rows,
                const RunFacts& facts, std::span<const std::string> include,
                backtest::v1::ExplainResponse* out) {
  out->set_symbol(q.symbol);
  if (rows.empty()) {
    if (q.bar_index) out->set_bar_index(*q.bar_index);
    if (q.ts) out->set_ts(*q.ts);
    out->set_traced(false);
    out->set_summary(UntracedReason(q, facts));
    return;
  }
  out->set_bar_index(rows.front().bar_index);
  out->set_ts(rows.front().ts);
  out->set_symbol(rows.front().symbol);
  out->set_traced(true);
  std::string summary = BarVerdict(rows, out->mutable_values());
  const int64_t bar = rows.front().bar_index;
  if (facts.sampling > 1 && bar % facts.sampling != 0) {
    absl::StrAppend(&summary, " (only events are traced at this bar: sampling ", facts.sampling,
                    ")");
  }
  out->set_summary(std::move(summary));

  // Sections in evaluation order; a section the engine may add later goes after the known ones.
  std::vector<std::string> order(std::begin(kSections), std::end(kSections));
  for (const db::TraceRowRecord& row : rows) {
    if (std::find(order.begin(), order.end(), row.section) == order.end()) {
      order.push_back(row.section);
    }
  }
  for (const std::string& section : order) {
    if (!include.empty() && std::find(include.begin(), include.end(), section) == include.end()) {
      continue;
    }
    backtest::v1::TraceSection* group = nullptr;
    for (const db::TraceRowRecord& row : rows) {
      if (row.section != section) continue;
      if (group == nullptr) {
        group = out->add_sections();
        group->set_section(section);
      }
      ToTraceRowProto(row, group->add_items());
    }
  }
}

void ExplainRun(std::span<const db::ReasonRecord> reasons, const RunFacts& facts,
                backtest::v1::ExplainResponse* out) {
  out->set_traced(facts.trace_enabled && facts.trace_rows > 0);
  for (const db::ReasonRecord& r : reasons) {
    backtest::v1::ReasonCount* rc = out->add_reasons();
    rc->set_reason(r.reason);
    rc->set_count(r.count);
    for (const db::ReasonSampleRecord& s : r.samples) rc->add_sample_bars(s.bar_index);
    rc->set_description(r.description);
  }
  if (reasons.empty()) {
    if (Unfinished(facts.status)) {
      out->set_summary(absl::StrCat("the job is ", db::JobStatusName(facts.status),
                                    ": reason counts are stored with its result"));
    } else if (facts.status != db::JobStatus::kFinished) {
      out->set_summary(absl::StrCat("the job ", db::JobStatusName(facts.status),
                                    ": no reason counts were stored"));
    } else {
      out->set_summary("no decision was recorded over the run");
    }
    return;
  }
  int64_t entries = 0;
  std::vector<std::string> exits;
  std::vector<const db::ReasonRecord*> others;
  for (const db::ReasonRecord& r : reasons) {
    if (r.reason == "entry_filled") {
      entries += r.count;
    } else if (absl::StartsWith(r.reason, "exit_")) {
      exits.push_back(absl::StrCat(absl::StripPrefix(r.reason, "exit_"), " ", r.count));
    } else {
      others.push_back(&r);
    }
  }
  std::stable_sort(others.begin(), others.end(),
                   [](const auto* a, const auto* b) { return a->count > b->count; });
  std::vector<std::string> parts;
  parts.push_back(absl::StrCat(entries, entries == 1 ? " entry" : " entries"));
  if (!exits.empty()) parts.push_back(absl::StrCat("exits: ", absl::StrJoin(exits, ", ")));
  std::vector<std::string> top;
  for (size_t i = 0; i < others.size() && i < kTopReasons; ++i) {
    top.push_back(absl::StrCat(others[i]->reason, " ", others[i]->count));
  }
  if (!top.empty()) parts.push_back(absl::StrCat("most frequent: ", absl::StrJoin(top, ", ")));
  std::string summary = absl::StrCat("whole run: ", absl::StrJoin(parts, "; "));
  if (Unfinished(facts.status)) {
    absl::StrAppend(&summary, " (so far: the job is ", db::JobStatusName(facts.status), ")");
  }
  out->set_summary(std::move(summary));
}

}  // namespace backtest::api
