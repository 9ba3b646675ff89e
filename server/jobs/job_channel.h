// Live fan-out of one job's events to its subscribers.
//
// The job's writer stores each batch of events first and publishes it after, under the channel's
// lock, so a subscriber that registers gets `live_from`: every event before it is in the store,
// every event from it on reaches the subscription. Reading the store up to live_from and then the
// subscription gives every event once, in order.
//
// Thread-safe. Owned (shared) by the job manager and by the streams subscribed to it.
#ifndef BACKTEST_SERVER_JOBS_JOB_CHANNEL_H_
#define BACKTEST_SERVER_JOBS_JOB_CHANNEL_H_

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/jobs/job_event.h"

namespace backtest::jobs {

// One subscriber's bounded buffer. When a publish would take it past its capacity it overflows:
// the buffer is dropped and the subscriber is told to resume from the store. A slow subscriber
// never slows the job or the others, and never holds more than `capacity` events.
class Subscription {
 public:
  Subscription(size_t capacity, std::function<void()> on_ready)
      : capacity_(capacity), on_ready_(std::move(on_ready)) {}

  enum class State { kEvent, kEmpty, kClosed, kOverflowed };
  // Takes the next event (kEvent), or says why there is none.
  State Pop(std::shared_ptr<const JobEvent>* event);
  // Whether an event is waiting (a hint: more may arrive at any time).
  bool HasEvents();

 private:
  friend class JobChannel;
  // Both return whether the subscriber should be woken.
  bool Push(const std::vector<std::shared_ptr<const JobEvent>>& events);
  bool Close();

  std::mutex mu_;
  std::deque<std::shared_ptr<const JobEvent>> queue_;
  size_t capacity_;
  bool closed_ = false;
  bool overflowed_ = false;
  std::function<void()> on_ready_;  // called without any lock held
};

class JobChannel {
 public:
  explicit JobChannel(std::string job_id, int64_t last_seq)
      : job_id_(std::move(job_id)), next_seq_(last_seq + 1) {}

  const std::string& job_id() const { return job_id_; }

  // Stores `events` with `store` (which assigns their seq) and publishes them, atomically with
  // respect to Subscribe. If store fails nothing is published.
  absl::Status Commit(std::vector<JobEvent> events,
                      const std::function<absl::Status(std::vector<JobEvent>&)>& store);

  // Closes the channel: subscribers get the rest of their buffer, then kClosed.
  void Close();

  // Registers a subscription; returns the first seq it will receive (live_from). A commit may
  // wake the subscription before Subscribe has returned.
  int64_t Subscribe(const std::shared_ptr<Subscription>& subscription);
  void Unsubscribe(const Subscription* subscription);

  size_t subscriber_count();

  // For tests: `hook` runs in each later Subscribe once the subscription is registered, just
  // before Subscribe returns (without the lock), so that a test can commit in that window.
  void SetSubscribedHookForTesting(std::function<void()> hook);

 private:
  const std::string job_id_;
  std::mutex mu_;
  int64_t next_seq_;
  bool closed_ = false;
  std::vector<std::shared_ptr<Subscription>> subscribers_;
  std::function<void()> subscribed_hook_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_JOB_CHANNEL_H_
