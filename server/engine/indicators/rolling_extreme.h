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

// The same answer as RollingExtreme over the last `window` entries pushed (entries are numbered
// 0, 1, 2, … in push order), without a data-dependent branch per entry (van Herk / Gil-Werman):
// entries are cut into blocks of `window`; the last `window` entries are the tail of the previous
// block and the head of the current one. The head's extreme is kept as entries arrive (a running
// extreme); the previous block's suffix extremes are computed once when it completes (one
// backward pass, amortized one step per entry). Ties keep the earliest entry everywhere, so the
// index is the earliest one holding the extreme. Exact: only comparisons. Not thread-safe.
template <bool kHighest>
class BlockExtreme {
 public:
  explicit BlockExtreme(int64_t window)
      : window_(static_cast<size_t>(window)), block_(window_), suffix_value_(window_),
        suffix_index_(window_) {}

  int64_t window() const { return static_cast<int64_t>(window_); }
  int64_t count() const { return count_; }

  // Appends the next entry (index count()).
  void Push(double v) {
    block_[pos_] = v;
    // The head's running extreme: replaced only by a strictly better entry (earliest on ties).
    const bool better = pos_ == 0 || Better(v, head_value_);
    head_value_ = better ? v : head_value_;
    head_index_ = better ? count_ : head_index_;
    ++count_;
    if (++pos_ == window_) CloseBlock();
  }

  // The extreme of the last window() entries and the earliest index holding it; only once
  // count() ≥ window().
  void Get(double* value, int64_t* index) const {
    if (pos_ == 0) {  // the window is exactly the previous block
      *value = suffix_value_[0];
      *index = suffix_index_[0];
      return;
    }
    // Tail of the previous block from offset pos_, then the head: the tail wins ties (earlier).
    const double tail = suffix_value_[pos_];
    const bool tail_wins = !Better(head_value_, tail);
    *value = tail_wins ? tail : head_value_;
    *index = tail_wins ? suffix_index_[pos_] : head_index_;
  }

 private:
  static bool Better(double a, double b) { return kHighest ? a > b : a < b; }

  void CloseBlock() {
    // Suffix extremes of the block just completed, earliest on ties.
    const int64_t base = count_ - static_cast<int64_t>(window_);
    double best = block_[window_ - 1];
    int64_t best_index = base + static_cast<int64_t>(window_) - 1;
    suffix_value_[window_ - 1] = best;
    suffix_index_[window_ - 1] = best_index;
    for (size_t j = window_ - 1; j-- > 0;) {
      const bool take = !Better(best, block_[j]);  // block_[j] at least as good: earlier wins
      best = take ? block_[j] : best;
      best_index = take ? base + static_cast<int64_t>(j) : best_index;
      suffix_value_[j] = best;
      suffix_index_[j] = best_index;
    }
    pos_ = 0;
  }

  size_t window_;
  std::vector<double> block_;  // the current block's entries
  std::vector<double> suffix_value_;  // the previous block's suffix extremes
  std::vector<int64_t> suffix_index_;
  size_t pos_ = 0;  // entries in the current block
  int64_t count_ = 0;
  double head_value_ = 0;
  int64_t head_index_ = 0;
};

using BlockHighest = BlockExtreme<true>;
using BlockLowest = BlockExtreme<false>;

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_INDICATORS_ROLLING_EXTREME_H_
