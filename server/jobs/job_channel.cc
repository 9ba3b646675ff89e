#include "server/jobs/job_channel.h"

#include <algorithm>

namespace backtest::jobs {

Subscription::State Subscription::Pop(std::shared_ptr<const JobEvent>* event) {
  std::lock_guard lock(mu_);
  if (overflowed_) return State::kOverflowed;
  if (!queue_.empty()) {
    *event = std::move(queue_.front());
    queue_.pop_front();
    return State::kEvent;
  }
  return closed_ ? State::kClosed : State::kEmpty;
}

bool Subscription::HasEvents() {
  std::lock_guard lock(mu_);
  return !queue_.empty();
}

bool Subscription::Push(const std::vector<std::shared_ptr<const JobEvent>>& events) {
  std::lock_guard lock(mu_);
  if (overflowed_ || closed_) return false;
  if (queue_.size() + events.size() > capacity_) {
    overflowed_ = true;
    queue_.clear();
    return true;
  }
  queue_.insert(queue_.end(), events.begin(), events.end());
  return true;
}

bool Subscription::Close() {
  std::lock_guard lock(mu_);
  if (closed_) return false;
  closed_ = true;
  return true;
}

absl::Status JobChannel::Commit(std::vector<JobEvent> events,
                                const std::function<absl::Status(std::vector<JobEvent>&)>& store) {
  if (events.empty()) return absl::OkStatus();
  std::vector<std::shared_ptr<Subscription>> wake;
  {
    std::lock_guard lock(mu_);
    absl::Status s = store(events);
    if (!s.ok()) return s;
    std::vector<std::shared_ptr<const JobEvent>> shared;
    shared.reserve(events.size());
    for (JobEvent& e : events) shared.push_back(std::make_shared<const JobEvent>(std::move(e)));
    next_seq_ = shared.back()->seq + 1;
    for (const auto& sub : subscribers_) {
      if (sub->Push(shared)) wake.push_back(sub);
    }
  }
  for (const auto& sub : wake) sub->on_ready_();
  return absl::OkStatus();
}

void JobChannel::Close() {
  std::vector<std::shared_ptr<Subscription>> wake;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (const auto& sub : subscribers_) {
      if (sub->Close()) wake.push_back(sub);
    }
  }
  for (const auto& sub : wake) sub->on_ready_();
}

int64_t JobChannel::Subscribe(const std::shared_ptr<Subscription>& subscription) {
  int64_t live_from;
  std::function<void()> hook;
  {
    std::lock_guard lock(mu_);
    if (closed_) {
      subscription->Close();
    } else {
      subscribers_.push_back(subscription);
    }
    live_from = next_seq_;
    hook = subscribed_hook_;
  }
  if (hook) hook();
  return live_from;
}

void JobChannel::Unsubscribe(const Subscription* subscription) {
  std::lock_guard lock(mu_);
  std::erase_if(subscribers_, [&](const auto& s) { return s.get() == subscription; });
}

size_t JobChannel::subscriber_count() {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

void JobChannel::SetSubscribedHookForTesting(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  subscribed_hook_ = std::move(hook);
}

}  // namespace backtest::jobs
