// A minimal JSON object writer for trace payloads: fixed field order, exact numbers (the shortest
// decimal of at most 8 fraction digits that converts back to the same double, else std::to_chars'
// shortest round-trip form), NaN/inf as null. It writes into its own buffer and copies the object
// into the target string once at End(), so a row costs no allocation once the row strings have
// grown to their working size. Keys are written as given (callers pass plain ASCII literals).
// Not thread-safe.
#ifndef BACKTEST_SERVER_ENGINE_TRACE_JSON_WRITER_H_
#define BACKTEST_SERVER_ENGINE_TRACE_JSON_WRITER_H_

#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace backtest::engine {

class JsonWriter {
 public:
  // Starts an object that End() will store in `out` (replacing its content).
  void Begin(std::string* out) {
    out_ = out;
    out_->clear();
    n_ = 0;
    buf_[n_++] = '{';
    first_ = true;
  }
  // Closes the object and stores it.
  void End() {
    Reserve(1);
    buf_[n_++] = '}';
    out_->append(buf_, n_);
  }

  JsonWriter& Num(absl::string_view key, double v);
  // A computed value (indicator, equity) to 10 significant digits: plenty to read and explain,
  // and much cheaper than the exact form.
  JsonWriter& Approx(absl::string_view key, double v);
  JsonWriter& Int(absl::string_view key, int64_t v);
  JsonWriter& Bool(absl::string_view key, bool v);
  JsonWriter& Str(absl::string_view key, absl::string_view v);
  JsonWriter& Null(absl::string_view key);

 private:
  static constexpr size_t kCapacity = 4096;

  // Makes room for `k` more bytes (k ≤ kCapacity / 2), moving what is buffered to the target.
  void Reserve(size_t k) {
    if (n_ + k > kCapacity) Flush();
  }
  void Flush();
  void Put(const char* p, size_t k) {
    if (k > kCapacity / 2) {
      Flush();
      out_->append(p, k);
      return;
    }
    Reserve(k);
    std::memcpy(buf_ + n_, p, k);
    n_ += k;
  }
  void Key(absl::string_view key);

  std::string* out_ = nullptr;
  size_t n_ = 0;
  bool first_ = true;
  char buf_[kCapacity];
};

// Appends `v` with `decimals` fixed decimals ("n/a" when not finite).
void AppendFixed(std::string* out, double v, int decimals);
// Appends the exact short form of `v` used in payloads (see JsonWriter).
void AppendShortest(std::string* out, double v);
// Writes that form into `p` (at least 32 bytes) and returns the end.
char* WriteShortest(char* p, double v);
// Writes `v` to 10 significant digits (exact form outside 1e-4 … 1e15) and returns the end.
char* WriteApprox(char* p, double v);

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_TRACE_JSON_WRITER_H_
