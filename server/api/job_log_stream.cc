#include "server/api/job_log_stream.h"

#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "db/trace_store.h"
#include "server/api/job_conversion.h"
#include "server/api/status_conversion.h"

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

  void Pump();
  bool MoreWaitingLocked() const;
  bool WriteBatchLocked();
  void FinishLocked(const grpc::Status& status);
  void LoadPage(int64_t from);
};

void JobLogStream::Core::FinishLocked(const grpc::Status& status) {
  if (finished || reactor == nullptr) return;
  finished = true;
  reactor->Finish(status);
}

bool JobLogStream::Core::MoreWaitingLocked() const {
  return held != nullptr || !history.empty() || next_seq < live_from ||
         (subscription != nullptr && subscription->HasEvents());
}

// Writes the open batch of log lines, if any; true when it did (the loop then waits for the
// write to complete, and comes back to whatever it was about to do).
bool JobLogStream::Core::WriteBatchLocked() {
  if (batch_lines == 0) return false;
  batch_lines = 0;
  writing = true;
  reactor->StartWrite(&message, MoreWaitingLocked() ? grpc::WriteOptions().set_buffer_hint()
                                                    : grpc::WriteOptions());
  return true;
}

void JobLogStream::Core::Pump() {
  std::lock_guard lock(mu);
  while (reactor != nullptr && !writing && !finished) {
    if (cancelled) return FinishLocked(grpc::Status::CANCELLED);
    std::shared_ptr<const jobs::JobEvent> live;
    const jobs::JobEvent* event = nullptr;
    // Before waiting or finishing, an open batch of log lines goes out.
    if (held != nullptr) {
      live = std::move(held);
      event = live.get();
    } else if (!history.empty()) {
      event = &history.front();
    } else if (next_seq < live_from) {
      if (loading || WriteBatchLocked()) return;
      loading = true;
      int64_t from = next_seq;
      std::weak_ptr<Core> weak = weak_from_this();
      if (!io->Submit([weak, from] {
            if (auto core = weak.lock()) core->LoadPage(from);
          })) {
        loading = false;
        return FinishLocked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                         absl::StrCat("the server is busy; resume with from_seq=",
                                                      next_seq)));
      }
      return;
    } else if (subscription != nullptr) {
      switch (subscription->Pop(&live)) {
        case jobs::Subscription::State::kEvent:
          event = live.get();
          break;
        case jobs::Subscription::State::kEmpty:
          WriteBatchLocked();
          return;
        case jobs::Subscription::State::kClosed:
          if (WriteBatchLocked()) return;
          return FinishLocked(grpc::Status::OK);
        case jobs::Subscription::State::kOverflowed:
          if (WriteBatchLocked()) return;
          return FinishLocked(grpc::Status(
              grpc::StatusCode::RESOURCE_EXHAUSTED,
              absl::StrCat("this subscriber fell too far behind the job; resume with from_seq=",
                           next_seq)));
      }
    } else {
      if (WriteBatchLocked()) return;
      return FinishLocked(grpc::Status::OK);
    }
    const bool from_history = !history.empty() && event == &history.front();
    bool send = event->seq >= next_seq &&
                (event->kind != jobs::EventKind::kTrace || include_trace);
    const bool line = send && batch_log_lines && event->kind == jobs::EventKind::kLog;
    if (send && batch_lines > 0) {
      if (line && event->seq == batch_next_seq && batch_lines < kBatchLines) {
        ToLogLineProto(*event, message.mutable_log_batch()->add_lines());
        ++batch_lines;
        batch_next_seq = next_seq = event->seq + 1;
        if (from_history) history.pop_front();
        continue;
      }
      // Not the batch's next line: the batch goes first, this event after it (a history event
      // stays at the front of the history).
      if (!from_history) held = std::move(live);
      WriteBatchLocked();
      return;
    }
    if (event->seq >= next_seq) next_seq = event->seq + 1;
    if (line) {
      message.Clear();
      message.set_seq(event->seq);
      SetTime(event->time_ms, message.mutable_time());
      ToLogLineProto(*event, message.mutable_log_batch()->add_lines());
      batch_lines = 1;
      batch_next_seq = event->seq + 1;
      if (from_history) history.pop_front();
      continue;
    }
    if (send) {
      message.Clear();
      ToEventProto(*event, &message);
    }
    if (from_history) history.pop_front();
    if (send) {
      writing = true;
      // When more events are already waiting, let gRPC coalesce this write with the next ones.
      reactor->StartWrite(&message, MoreWaitingLocked() ? grpc::WriteOptions().set_buffer_hint()
                                                        : grpc::WriteOptions());
    }
  }
}

void JobLogStream::Core::LoadPage(int64_t from) {
  std::vector<jobs::JobEvent> page;
  absl::Status status;
  {
    auto conn = manager->pool().Acquire();
    db::JobStore store(conn->connection());
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
    db::JobStore store(conn->connection());
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
  delete this;
}

}  // namespace backtest::api
