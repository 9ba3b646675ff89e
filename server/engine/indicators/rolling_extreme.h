// Rolling highest (or lowest) value over the last `window` entries, with the index of the earliest
// entry that holds it: a monotonic deque in a fixed ring, O(1) amortized per entry, no allocation
// after construction. Not thread-safe.
//
// Usage for "the previous N bars, the bar itself excluded": at bar i, Evict(i − N), read Value(),
// then Push(i, x).
#ifndef BACKTEST_SERVER_ENGINE_INDICATORS_ROLLING_EXTREME_H_
#define BACKTEST_SERVER_ENGINE_INDICATORS_ROLLING_EXTREME_H_

#include <cstdint>
#include <vector>

namespace backtest::engine {

template <bool kHighest>
class RollingExtreme {
 public:
  explicit RollingExtreme(int64_t window)
      : window_(window), index_(static_cast<size_t>(window) + 1),
        value_(static_cast<size_t>(window) + 1) {}

  int64_t window() const { return window_; }
  bool empty() const { return size_ == 0; }
  // The extreme among the entries kept, and the earliest index holding it. Only when !empty().
  double Value() const { return value_[head_]; }
  int64_t Index() const { return index_[head_]; }

  void Reset() {
    head_ = 0;
    size_ = 0;
  }

  // Drops entries with index < min_index.
  void Evict(int64_t min_index) {
    while (size_ > 0 && index_[head_] < min_index) {
      head_ = Next(head_);
      --size_;
    }
  }

  // Adds an entry; indices must increase. Keeps at most `window` entries.
  void Push(int64_t index, double v) {
    Evict(index - window_ + 1);
    // Equal values stay, so the front is the earliest index holding the extreme.
    while (size_ > 0 && Worse(value_[Back()], v)) --size_;
    size_t slot = Wrap(head_ + size_);
    index_[slot] = index;
    value_[slot] = v;
    ++size_;
  }

 private:
  static bool Worse(double kept, double incoming) {
    return kHighest ? kept < incoming : kept > incoming;
  }
  size_t Wrap(size_t i) const { return i >= index_.size() ? i - index_.size() : i; }
  size_t Next(size_t i) const { return Wrap(i + 1); }
  size_t Back() const { return Wrap(head_ + size_ - 1); }

  int64_t window_;
  std::vector<int64_t> index_;
  std::vector<double> value_;
  size_t head_ = 0;
  size_t size_ = 0;
};

using RollingHighest = RollingExtreme<true>;
using RollingLowest = RollingExtreme<false>;

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_INDICATORS_ROLLING_EXTREME_H_
