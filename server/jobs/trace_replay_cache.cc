#include "server/jobs/trace_replay_cache.h"

#include <algorithm>

namespace backtest::jobs {

std::shared_ptr<const TraceRows> TraceReplayCache::Get(const std::string& job_id, int64_t block) {
  std::lock_guard lock(mu_);
  auto it = entries_.find({job_id, block});
  if (it == entries_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.rows;
}

std::optional<absl::Status> TraceReplayCache::Error(const std::string& job_id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find({job_id, -1});
  if (it == entries_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.error;
}

void TraceReplayCache::Put(const std::string& job_id, int64_t block,
                           std::shared_ptr<const TraceRows> rows) {
  Entry entry;
  entry.cost = std::max<int64_t>(1, static_cast<int64_t>(rows->size()));
  entry.rows = std::move(rows);
  std::lock_guard lock(mu_);
  PutLocked({job_id, block}, std::move(entry));
}

void TraceReplayCache::PutError(const std::string& job_id, absl::Status error) {
  Entry entry;
  entry.error = std::move(error);
  std::lock_guard lock(mu_);
  PutLocked({job_id, -1}, std::move(entry));
}

void TraceReplayCache::PutLocked(const Key& key, Entry entry) {
  if (auto old = entries_.find(key); old != entries_.end()) {
    rows_ -= old->second.cost;
    lru_.erase(old->second.lru);
    entries_.erase(old);
  }
  lru_.push_front(key);
  entry.lru = lru_.begin();
  rows_ += entry.cost;
  entries_.emplace(key, std::move(entry));
  // The newest entry stays even when it alone is past the bound: its caller is about to read it.
  while (rows_ > max_rows_ && lru_.size() > 1) {
    auto victim = entries_.find(lru_.back());
    rows_ -= victim->second.cost;
    entries_.erase(victim);
    lru_.pop_back();
  }
}

int64_t TraceReplayCache::rows() const {
  std::lock_guard lock(mu_);
  return rows_;
}

}  // namespace backtest::jobs
