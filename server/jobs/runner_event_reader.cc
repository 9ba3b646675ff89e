#include "server/jobs/runner_event_reader.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backtest/store/v1/stored_result.pb.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace backtest::jobs {
namespace {

using backtest::runner::v1::RunnerEvent;

// A result frame: RunnerEvent.result (field 4, length-delimited) first, as the runner writes it.
constexpr uint8_t kResultTag = (4 << 3) | 2;

bool IsResultFrame(const std::string& bytes) {
  return !bytes.empty() && static_cast<uint8_t>(bytes[0]) == kResultTag;
}

// The result is stored as it came (a RunnerEvent, results format 4); the server itself needs only
// its digest, reason counts, trace facts and the datasets of its series, which ResultFrameFacts
// reads while the rest stays unparsed bytes. False when malformed.
bool ReadResultFacts(const std::string& bytes, backtest::runner::v1::RunOutput* out) {
  using backtest::runner::v1::ResultFrameFacts;
  using backtest::runner::v1::RunOutput;
  using backtest::runner::v1::RunOutputFacts;
  constexpr auto same = [](int a, int b) { return a == b; };  // field numbers of two messages
  static_assert(same(ResultFrameFacts::kResultFieldNumber, RunnerEvent::kResultFieldNumber));
  static_assert(same(RunOutputFacts::kReasonsFieldNumber, RunOutput::kReasonsFieldNumber));
  static_assert(same(RunOutputFacts::kTraceRowsFieldNumber, RunOutput::kTraceRowsFieldNumber));
  static_assert(
      same(RunOutputFacts::kTraceTruncatedFieldNumber, RunOutput::kTraceTruncatedFieldNumber));
  static_assert(same(RunOutputFacts::kDigestFieldNumber, RunOutput::kDigestFieldNumber));
  static_assert(same(RunOutputFacts::kSeriesFieldNumber, RunOutput::kSeriesFieldNumber));
  using backtest::runner::v1::SeriesFacts;
  using backtest::runner::v1::SymbolSeries;
  static_assert(same(SeriesFacts::kSymbolFieldNumber, SymbolSeries::kSymbolFieldNumber));
  static_assert(same(SeriesFacts::kDatasetFieldNumber, SymbolSeries::kDatasetFieldNumber));
  ResultFrameFacts frame;
  if (!frame.ParseFromString(bytes)) return false;
  RunOutputFacts& facts = *frame.mutable_result();
  out->mutable_reasons()->Swap(facts.mutable_reasons());
  out->set_trace_rows(facts.trace_rows());
  out->set_trace_truncated(facts.trace_truncated());
  out->set_digest(std::move(*facts.mutable_digest()));
  for (SeriesFacts& f : *facts.mutable_series()) {
    SymbolSeries* series = out->add_series();
    series->set_symbol(std::move(*f.mutable_symbol()));
    series->set_dataset(std::move(*f.mutable_dataset()));
  }
  return true;
}

// The stored form of a result event (a backtest.store.v1.StoredResult): its RunOutput field
// alone, the same field number, tag and length as in the event, the bytes not copied when the
// field comes first (as runners write it). Empty when the event has no such field.
std::string ToStoredResult(std::string event) {
  using google::protobuf::internal::WireFormatLite;
  static_assert(static_cast<int>(backtest::store::v1::StoredResult::kOutputFieldNumber) ==
                static_cast<int>(RunnerEvent::kResultFieldNumber));
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(event.data()),
                                            static_cast<int>(event.size()));
  while (true) {
    const int start = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return "";
    if (!WireFormatLite::SkipField(&in, tag)) return "";
    if (tag == kResultTag) {
      const int end = in.CurrentPosition();
      if (start == 0) {
        event.resize(static_cast<size_t>(end));  // the event's other fields (its number) after it
        return event;
      }
      return event.substr(static_cast<size_t>(start), static_cast<size_t>(end - start));
    }
  }
}

}  // namespace

RunnerEventReader::RunnerEventReader(Sink& sink, std::function<int64_t()> now_ms,
                                     int64_t heartbeat_persist_ms, OutputBudget* output)
    : sink_(sink), now_ms_(std::move(now_ms)), heartbeat_persist_ms_(heartbeat_persist_ms),
      output_(output) {}

void RunnerEventReader::Queue(JobEvent event) { queued_.push_back(std::move(event)); }

std::vector<JobEvent> RunnerEventReader::TakeQueued() {
  std::vector<JobEvent> events;
  events.swap(queued_);
  if (!superseded_.empty()) {
    size_t next = 0, kept = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      if (next < superseded_.size() && superseded_[next] == i) {
        ++next;
      } else {
        if (kept != i) events[kept] = std::move(events[i]);
        ++kept;
      }
    }
    events.resize(kept);
    superseded_.clear();
  }
  last_progress_ = SIZE_MAX;
  return events;
}

db::JobStore::Update RunnerEventReader::TakeUpdate() {
  db::JobStore::Update update;
  std::swap(update, update_);
  return update;
}

bool RunnerEventReader::HasUpdate() const {
  return update_.progress_fraction.has_value() || update_.heartbeat_ms.has_value() ||
         update_.runner.has_value();
}

void RunnerEventReader::Handle(std::string bytes) {
  if (!protocol_error_.empty()) return;
  RunnerEvent event;
  if (!(IsResultFrame(bytes) ? ReadResultFacts(bytes, event.mutable_result())
                             : event.ParseFromString(bytes))) {
    protocol_error_ = "an event could not be decoded";
    return;
  }
  const int64_t now = now_ms_();
  switch (event.event_case()) {
    case RunnerEvent::kLog: {
      // The runner's own output where its backend carries one stream (srun), within the job's
      // output budget as its pipes' lines are; else its log.
      const std::string& source = event.log().source();
      const bool printed = source == "stdout" || source == "stderr";
      if (printed && output_ != nullptr && !output_->Take(event.log().text().size())) break;
      queued_.push_back(LogEvent(now, printed ? source : "engine", event.log().level(),
                                 event.log().text()));
      break;
    }
    case RunnerEvent::kProgress:
      OnProgress(now, event.progress());
      break;
    case RunnerEvent::kTrace:
      OnTrace(now, *event.mutable_trace());
      break;
    case RunnerEvent::kResult:
      OnResult(std::move(bytes), event.result());
      break;
    case RunnerEvent::kResultDigest:
      OnResultDigest(event.result_digest().digest());
      break;
    case RunnerEvent::kHeartbeat:
      OnHeartbeat(now);
      break;
    case RunnerEvent::kHello:
      // Its version was checked (RunnerStream). Where it runs, when the runner knows more than
      // the server (a Slurm step): the job's runner reference.
      if (!event.hello().reference().empty()) {
        update_.runner = event.hello().reference().substr(0, 256);
        queued_.push_back(LogEvent(now, "server", "info", "runner: " + *update_.runner));
      }
      break;
    case RunnerEvent::kDataset:
      if (absl::Status s = sink_.StoreDataset(event.dataset()); !s.ok()) {
        // A malformed dataset is the runner's fault; anything else the store's (a full disk…).
        (absl::IsInvalidArgument(s) ? protocol_error_ : store_error_) =
            absl::StrCat("the run's candles could not be stored: ", s.message());
      }
      break;
    case RunnerEvent::kSweepRows:
      sink_.FlushQueued();  // the progress and log lines before them first
      if (absl::Status s = sink_.StoreSweepRows(event.sweep_rows()); !s.ok()) {
        (absl::IsInvalidArgument(s) ? protocol_error_ : store_error_) =
            absl::StrCat("sweep rows could not be stored: ", s.message());
      }
      break;
    case RunnerEvent::kWalkForward:
      if (absl::Status s = sink_.StoreWalkForward(event.walk_forward()); !s.ok()) {
        (absl::IsInvalidArgument(s) ? protocol_error_ : store_error_) =
            absl::StrCat("the walk-forward could not be stored: ", s.message());
      }
      break;
    case RunnerEvent::kSweepDone:
      if (absl::Status s = sink_.EndSweep(event.sweep_done().rows()); !s.ok()) {
        protocol_error_ = std::string(s.message());
      } else {
        got_result_ = true;  // a sweep's end: its rows are stored
      }
      break;
    case RunnerEvent::kEnd:
    case RunnerEvent::kPart:
      break;  // the run's end is its backend's to read (RunnerStream), parts are joined there
    case RunnerEvent::EVENT_NOT_SET:
      break;
  }
}

void RunnerEventReader::OnProgress(int64_t now,
                                   const backtest::runner::v1::ProgressEvent& progress) {
  // Progress supersedes progress: of several of a stage waiting to be stored (with log lines
  // between them), only the newest is kept, in its own place.
  if (last_progress_ < queued_.size() && queued_[last_progress_].stage == progress.stage()) {
    if (last_progress_ + 1 == queued_.size()) {
      queued_.pop_back();
    } else {
      superseded_.push_back(last_progress_);
    }
  }
  last_progress_ = queued_.size();
  JobEvent e;
  e.time_ms = now;
  e.kind = EventKind::kProgress;
  e.stage = progress.stage();
  e.fraction = progress.fraction();
  e.bars_done = progress.bars_done();
  e.bars_total = progress.bars_total();
  update_.progress_fraction = e.fraction;
  update_.progress_stage = e.stage;
  update_.bars_done = e.bars_done;
  update_.bars_total = e.bars_total;
  queued_.push_back(std::move(e));
}

void RunnerEventReader::OnTrace(int64_t now, backtest::runner::v1::TraceEvent& trace) {
  // The rows as stored are the rows the live event carries.
  auto rows = std::make_shared<std::vector<db::TraceRowRecord>>();
  rows->reserve(trace.rows_size());
  for (auto& r : *trace.mutable_rows()) {
    rows->push_back({r.seq(), r.bar_index(), r.ts(), std::move(*r.mutable_symbol()),
                     std::move(*r.mutable_section()), std::move(*r.mutable_kind()),
                     std::move(*r.mutable_payload_json())});
  }
  sink_.FlushQueued();  // events before the batch keep their order
  if (absl::Status s = sink_.StoreTraceRows(*rows); !s.ok()) {
    store_error_ = absl::StrCat("trace rows could not be stored: ", s.message());
    return;
  }
  JobEvent e;
  e.time_ms = now;
  e.kind = EventKind::kTrace;
  e.first_row = rows->empty() ? 0 : rows->front().seq;
  e.row_count = static_cast<int64_t>(rows->size());
  e.truncated = trace.truncated();
  e.rows = std::move(rows);
  queued_.push_back(std::move(e));
}

void RunnerEventReader::OnResult(std::string bytes,
                                 const backtest::runner::v1::RunOutput& facts) {
  if (absl::Status s = sink_.StoreResult(ToStoredResult(std::move(bytes)), facts); !s.ok()) {
    result_error_ = absl::StrCat("the result could not be stored: ", s.message());
    return;
  }
  // Without its digest, the result is whole when the digest has come too.
  awaiting_digest_ = facts.digest().empty();
  got_result_ = !awaiting_digest_;
}

void RunnerEventReader::OnResultDigest(const std::string& digest) {
  if (!awaiting_digest_) {
    protocol_error_ = "a result digest came without a result waiting for one";
    return;
  }
  if (digest.size() != 64 || !std::all_of(digest.begin(), digest.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
      })) {
    protocol_error_ = "a result digest that is not 64 lower-case hex digits";
    return;
  }
  awaiting_digest_ = false;
  if (absl::Status s = sink_.StoreDigest(digest); !s.ok()) {
    (absl::IsInvalidArgument(s) ? protocol_error_ : result_error_) =
        absl::StrCat("the result's digest could not be stored: ", s.message());
    return;
  }
  got_result_ = true;
}

void RunnerEventReader::OnHeartbeat(int64_t now) {
  if (now - last_heartbeat_saved_ms_ > heartbeat_persist_ms_) {
    update_.heartbeat_ms = now;
    last_heartbeat_saved_ms_ = now;
  }
}

}  // namespace backtest::jobs
