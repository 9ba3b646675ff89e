// A FIFO with a fixed capacity. TryPush fails when full (the caller answers RESOURCE_EXHAUSTED);
// Pop blocks until an item arrives or the queue is closed.
//
// Thread-safe.
#ifndef BACKTEST_SERVER_JOBS_BOUNDED_QUEUE_H_
#define BACKTEST_SERVER_JOBS_BOUNDED_QUEUE_H_

#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

namespace backtest::jobs {

template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity) {}

  // False when the queue is full or closed.
  bool TryPush(T item) {
    {
      std::lock_guard lock(mu_);
      if (closed_ || items_.size() >= capacity_) return false;
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
    return true;
  }

  // Like TryPush, ignoring the capacity (for work recovered at start, which must not be lost).
  bool PushUnbounded(T item) {
    {
      std::lock_guard lock(mu_);
      if (closed_) return false;
      items_.push_back(std::move(item));
    }
    ready_.notify_one();
    return true;
  }

  // The next item, or nullopt once the queue is closed: shutdown starts no more work (items still
  // queued stay queued in the store and run at the next start).
  std::optional<T> Pop() {
    std::unique_lock lock(mu_);
    ready_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (closed_) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    return item;
  }

  // Wakes every Pop; later pushes fail.
  void Close() {
    {
      std::lock_guard lock(mu_);
      closed_ = true;
    }
    ready_.notify_all();
  }

  size_t size() {
    std::lock_guard lock(mu_);
    return items_.size();
  }
  size_t capacity() const { return capacity_; }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::deque<T> items_;
  bool closed_ = false;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_BOUNDED_QUEUE_H_
