// Splits a byte stream (a runner's stdout or stderr) into lines: '\r' dropped, a line longer than
// kMaxLineBytes cut into pieces of that size. Not thread-safe.
#ifndef BACKTEST_SERVER_JOBS_LINE_SPLITTER_H_
#define BACKTEST_SERVER_JOBS_LINE_SPLITTER_H_

#include <cstddef>
#include <string>
#include <utility>

namespace backtest::jobs {

class LineSplitter {
 public:
  static constexpr size_t kMaxLineBytes = 4096;

  // Calls emit(std::string) for every line completed by `data`.
  template <typename F>
  void Feed(const char* data, size_t n, F&& emit) {
    for (size_t i = 0; i < n; ++i) {
      char c = data[i];
      if (c == '\n') {
        emit(std::move(partial_));
        partial_.clear();
      } else if (c != '\r') {
        partial_ += c;
        if (partial_.size() >= kMaxLineBytes) {
          emit(std::move(partial_));
          partial_.clear();
        }
      }
    }
  }
  // Forgets the line begun so far; returns its length.
  size_t Discard() {
    size_t n = partial_.size();
    partial_.clear();
    return n;
  }
  // Emits the last line if it had no line feed.
  template <typename F>
  void Finish(F&& emit) {
    if (!partial_.empty()) emit(std::move(partial_));
    partial_.clear();
  }

 private:
  std::string partial_;
};

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_LINE_SPLITTER_H_
