#include "server/api/job_log_stream.h"

#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "db/trace_store.h"
#include "server/api/job_conversion.h"
#include "server/api/status_conversion.h"
#include "server/metrics/server_metrics.h"

namespace backtest::api {

// Everything the stream needs, shared with the subscription's wake-up and the history loader so
// that they outlive the reactor safely: while `reactor` is null they do nothing.
struct JobLogStream::Core : std::enable_shared_from_this<Core> {
  static constexpr int64_t kPageEvents = 500;
  // Lines of one LogLineBatch at most (lines are at most 4 KB: a message stays under 1 MB).
  static constexpr int kBatchLines = 256;

  std::mutex mu;
  // Null until Start knows live_from (a wake-up before that is left to Start's own Pump), and
  // again from OnDone on.
  JobLogStream* reactor = nullptr;
  jobs::JobManager* manager = nullptr;
  jobs::Executor* io = nullptr;
  std::string job_id;
  bool include_trace = false;
  bool batch_log_lines = false;
  int batch_lines = 0;         // lines in `message`'s open batch, not yet written
  int64_t batch_next_seq = 0;  // the seq that would continue it
  std::shared_ptr<const jobs::JobEvent> held;  // a live event that ended a batch, sent next
  int64_t next_seq = 1;   // the next seq to send (or skip)
  int64_t live_from = 1;  // seqs below come from the store, from here on from the subscription
  bool loading = false;
  bool writing = false;
  bool finished = false;
  bool cancelled = false;
  std::deque<jobs::JobEvent> history;
  std::shared_ptr<jobs::JobChannel> channel;
  std::shared_ptr<jobs::Subscription> subscription;
  backtest::v1::StreamJobLogResponse message;  // the write in flight

  // The event Pump looks at next: the front of the stored history, or a live one it owns.
  struct Next {
    const jobs::JobEvent* event = nullptr;
    std::shared_ptr<const jobs::JobEvent> live;
    bool from_history = false;
  };

  // Sends what can be sent now: one write at a time, the next from OnWriteDone, a wake-up of the
  // subscription or a loaded page. Never blocks.
  void Pump();
  bool NextEventLocked(Next* next);
  void SendOrSkipLocked(Next& next);
  bool ContinueBatchLocked(const jobs::JobEvent& event);
  bool ToMessageLocked(const jobs::JobEvent& event);
  bool MoreWaitingLocked() const;
  void StartWriteLocked();
  bool WriteBatchLocked();
  void LoadHistoryLocked();
  void EndLocked(const grpc::Status& status);
  void FinishLocked(const grpc::Status& status);
  void LoadPage(int64_t from);
};

void JobLogStream::Core::Pump() {
  std::lock_guard lock(mu);
  while (reactor != nullptr && !writing && !finished) {
    if (cancelled) return FinishLocked(grpc::Status::CANCELLED);
    Next next;
    if (!NextEventLocked(&next)) return;
    SendOrSkipLocked(next);
  }
}

// Finds the next event: a live one held back by a batch, the front of the stored history, or the
// subscription's next. False when there is none to look at now; then the open batch of log lines
// is being written, a page of history is loading, the subscription is waited on, or the stream
// is ending.
bool JobLogStream::Core::NextEventLocked(Next* next) {
  if (held != nullptr) {
    next->live = std::move(held);
  } else if (!history.empty()) {
    next->event = &history.front();
    next->from_history = true;
    return true;
  } else if (next_seq < live_from) {
    // Before waiting, an open batch of log lines goes out.
    if (!loading && !WriteBatchLocked()) LoadHistoryLocked();
    return false;
  } else if (subscription == nullptr) {
    EndLocked(grpc::Status::OK);
    return false;
  } else {
    switch (subscription->Pop(&next->live)) {
      case jobs::Subscription::State::kEvent:
        break;
      case jobs::Subscription::State::kEmpty:
        WriteBatchLocked();
        return false;
      case jobs::Subscription::State::kClosed:
        EndLocked(grpc::Status::OK);
        return false;
      case jobs::Subscription::State::kOverflowed:
        EndLocked(grpc::Status(
            grpc::StatusCode::RESOURCE_EXHAUSTED,
            absl::StrCat("this subscriber fell too far behind the job; resume with from_seq=",
                         next_seq)));
        return false;
    }
  }
  next->event = next->live.get();
  return true;
}

// Skips the event when it was sent already (seq below next_seq) or is a trace event not asked
// for; else it continues the open batch of log lines, waits for that batch to be written, opens
// a batch of its own, or is written alone.
void JobLogStream::Core::SendOrSkipLocked(Next& next) {
  const jobs::JobEvent& event = *next.event;
  const bool send =
      event.seq >= next_seq && (event.kind != jobs::EventKind::kTrace || include_trace);
  bool write = false;
  if (send && batch_lines > 0) {
    if (!ContinueBatchLocked(event)) {
      // Not the batch's next line: the batch goes first, this event after it (a history event
      // stays at the front of the history).
      if (!next.from_history) held = std::move(next.live);
      WriteBatchLocked();
      return;
    }
  } else {
    if (event.seq >= next_seq) next_seq = event.seq + 1;
    write = send && ToMessageLocked(event);
  }
  if (next.from_history) history.pop_front();  // `event` is gone from here on
  if (write) StartWriteLocked();
}

// Adds `event` to the open batch when it is the batch's next line and the batch has room.
bool JobLogStream::Core::ContinueBatchLocked(const jobs::JobEvent& event) {
  if (!batch_log_lines || event.kind != jobs::EventKind::kLog || event.seq != batch_next_seq ||
      batch_lines >= kBatchLines) {
    return false;
  }
  ToLogLineProto(event, message.mutable_log_batch()->add_lines());
  ++batch_lines;
  batch_next_seq = next_seq = event.seq + 1;
  return true;
}

// Makes `event` the next message: a log line opens a batch when lines are batched (false: it is
// written when the batch ends), anything else is a message of its own (true: write it).
bool JobLogStream::Core::ToMessageLocked(const jobs::JobEvent& event) {
  message.Clear();
  if (batch_log_lines && event.kind == jobs::EventKind::kLog) {
    message.set_seq(event.seq);
    SetTime(event.time_ms, message.mutable_time());
    ToLogLineProto(event, message.mutable_log_batch()->add_lines());
    batch_lines = 1;
    batch_next_seq = event.seq + 1;
    return false;
  }
  ToEventProto(event, &message);
  return true;
}

bool JobLogStream::Core::MoreWaitingLocked() const {
  return held != nullptr || !history.empty() || next_seq < live_from ||
         (subscription != nullptr && subscription->HasEvents());
}

void JobLogStream::Core::StartWriteLocked() {
  writing = true;
  // When more events are already waiting, let gRPC coalesce this write with the next ones.
  reactor->StartWrite(&message, MoreWaitingLocked() ? grpc::WriteOptions().set_buffer_hint()
                                                    : grpc::WriteOptions());
}

// Writes the open batch of log lines, if any; true when it did (Pump then waits for the write
// to complete, and comes back to whatever it was about to do).
bool JobLogStream::Core::WriteBatchLocked() {
  if (batch_lines == 0) return false;
  batch_lines = 0;
  StartWriteLocked();
  return true;
}

// Reads the next page of stored history on the I/O executor (LoadPage, which pumps when done).
void JobLogStream::Core::LoadHistoryLocked() {
  loading = true;
  int64_t from = next_seq;
  std::weak_ptr<Core> weak = weak_from_this();
  if (io->Submit([weak, from] {
        if (auto core = weak.lock()) core->LoadPage(from);
      })) {
    return;
  }
  loading = false;
  FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                            absl::StrCat("the server is busy; resume with from_seq=", next_seq)));
}

// Ends the stream with `status` once the open batch of log lines, if any, is written (Pump comes
// back here after that write).
void JobLogStream::Core::EndLocked(const grpc::Status& status) {
  if (!WriteBatchLocked()) FinishLocked(status);
}

void JobLogStream::Core::FinishLocked(const grpc::Status& status) {
  if (finished || reactor == nullptr) return;
  finished = true;
  reactor->Finish(status);
}

void JobLogStream::Core::LoadPage(int64_t from) {
  std::vector<jobs::JobEvent> page;
  absl::Status status;
  {
    auto conn = manager->pool().Acquire();
    db::JobStore& store = conn->jobs();
    int64_t want = std::min(kPageEvents, live_from - from);
    auto records = store.Events(job_id, from, static_cast<int>(want));
    status = records.status();
    if (!records.ok()) records = std::vector<db::EventRecord>{};
    std::unique_ptr<db::TraceStore> traces;
    for (const db::EventRecord& r : *records) {
      if (r.seq >= live_from) break;
      auto event = jobs::FromRecord(r);
      if (!event.ok()) {
        status = event.status();
        break;
      }
      if (event->kind == jobs::EventKind::kTrace && include_trace && event->row_count > 0) {
        if (traces == nullptr) {
          auto created = db::TraceStore::Create(&*conn);
          if (!created.ok()) {
            status = created.status();
            break;
          }
          traces = *std::move(created);
        }
        // Trace rows are numbered from 1 without gaps, so a batch is a page of the whole trace.
        auto rows = traces->Query(job_id, {}, event->row_count, event->first_row - 1);
        if (!rows.ok()) {
          status = rows.status();
          break;
        }
        event->rows =
            std::make_shared<const std::vector<db::TraceRowRecord>>(std::move(rows->rows));
      }
      page.push_back(*std::move(event));
    }
  }
  {
    std::lock_guard lock(mu);
    loading = false;
    if (!status.ok()) {
      FinishLocked(ToGrpcStatus(status));
      return;
    }
    if (page.empty()) {
      // The store has nothing more below live_from (it cannot lag: events are stored before
      // they are published); skip ahead rather than ask again.
      next_seq = live_from;
    }
    for (auto& e : page) history.push_back(std::move(e));
  }
  Pump();
}

JobLogStream* JobLogStream::Start(jobs::JobManager& manager, jobs::Executor& io,
                                  const db::JobRecord& job, int64_t from_seq,
                                  bool include_trace, bool batch_log_lines) {
  auto* stream = new JobLogStream();
  metrics::ServerMetrics::Get().stream_subscribers.Add(1);  // until OnDone
  auto core = std::make_shared<Core>();
  stream->core_ = core;
  core->manager = &manager;
  core->io = &io;
  core->job_id = job.id;
  core->include_trace = include_trace;
  core->batch_log_lines = batch_log_lines;
  core->next_seq = std::max<int64_t>(from_seq, 1);
  core->channel = manager.FindChannel(job.id);
  int64_t live_from;
  if (core->channel != nullptr) {
    std::weak_ptr<Core> weak = core;
    core->subscription = std::make_shared<jobs::Subscription>(
        manager.options().subscriber_capacity, [weak] {
          if (auto c = weak.lock()) c->Pump();
        });
    // From here on the job's commits wake the stream, possibly before live_from is set below;
    // a Pump that ran then would take the first live event for the start and skip the history.
    live_from = core->channel->Subscribe(core->subscription);
  } else {
    // The job has ended (its channel goes only after its last event is stored): the store has
    // everything; read its last seq now, not from the possibly older record.
    auto conn = manager.pool().Acquire();
    db::JobStore& store = conn->jobs();
    auto fresh = store.Get(job.id);
    live_from = (fresh.ok() ? fresh->last_seq : job.last_seq) + 1;
  }
  {
    std::lock_guard lock(core->mu);
    core->live_from = live_from;
    core->reactor = stream;
  }
  // Headers go out at once, so a bridge can answer its client before the first event.
  stream->StartSendInitialMetadata();
  core->Pump();
  return stream;
}

void JobLogStream::OnWriteDone(bool ok) {
  {
    std::lock_guard lock(core_->mu);
    core_->writing = false;
    if (!ok) core_->cancelled = true;  // the client is gone
  }
  core_->Pump();
}

void JobLogStream::OnCancel() {
  {
    std::lock_guard lock(core_->mu);
    core_->cancelled = true;
  }
  core_->Pump();
}

void JobLogStream::OnDone() {
  {
    std::lock_guard lock(core_->mu);
    core_->reactor = nullptr;
  }
  if (core_->channel != nullptr) core_->channel->Unsubscribe(core_->subscription.get());
  metrics::ServerMetrics::Get().stream_subscribers.Add(-1);
  delete this;
}

}  // namespace backtest::api
