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
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace backtest::engine {

// Recently formatted numbers, by their exact bits (direct-mapped, 512 entries per form): a bar's
// prices recur in several rows and across bars (open = previous close, support and resistance
// hold for many bars, the daily RSI for a day, the equity while flat). A hit copies the text; a
// miss formats and stores it. The text is the same either way. Not thread-safe.
class NumberCache {
 public:
  NumberCache();
  // Writes WriteShortest(v) / WriteApprox(v) at p (32 bytes of room) and returns the end; v finite.
  char* Shortest(char* p, double v) { return Lookup(shortest_, p, v, false); }
  char* Approx(char* p, double v) { return Lookup(approx_, p, v, true); }

 private:
  static constexpr size_t kEntries = 512;
  struct Entry {
    uint64_t bits;
    uint8_t len;
    char text[23];
  };
  char* Lookup(Entry* table, char* p, double v, bool approx) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    Entry& e = table[(bits * 0x9E3779B97F4A7C15ULL) >> 55];
    if (e.bits == bits) {
      std::memcpy(p, e.text, sizeof e.text);  // fixed size: one or two moves
      return p + e.len;
    }
    return Miss(e, bits, p, v, approx);
  }
  static char* Miss(Entry& e, uint64_t bits, char* p, double v, bool approx);

  Entry shortest_[kEntries];
  Entry approx_[kEntries];
};

class JsonWriter {
 public:
  JsonWriter();
  // The number cache the writer formats with (also for numbers formatted once per bar).
  NumberCache& numbers() { return *numbers_; }

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

  // Keys are string literals: their length is a compile-time constant, so writing one is a few
  // stores, not a call.
  template <size_t N>
  JsonWriter& Num(const char (&key)[N], double v) {
    Key(key, N - 1);
    NumValue(v);
    return *this;
  }
  // A computed value (indicator, equity) to 10 significant digits: plenty to read and explain,
  // and much cheaper than the exact form.
  template <size_t N>
  JsonWriter& Approx(const char (&key)[N], double v) {
    Key(key, N - 1);
    ApproxValue(v);
    return *this;
  }
  template <size_t N>
  JsonWriter& Int(const char (&key)[N], int64_t v) {
    Key(key, N - 1);
    IntValue(v);
    return *this;
  }
  // A value already written as JSON (e.g. a number formatted once and used in several rows).
  template <size_t N>
  JsonWriter& Raw(const char (&key)[N], absl::string_view json) {
    Key(key, N - 1);
    Put(json.data(), json.size());
    return *this;
  }
  template <size_t N>
  JsonWriter& Bool(const char (&key)[N], bool v) {
    Key(key, N - 1);
    if (v) {
      Put("true", 4);
    } else {
      Put("false", 5);
    }
    return *this;
  }
  template <size_t N>
  JsonWriter& Str(const char (&key)[N], absl::string_view v) {
    Key(key, N - 1);
    StrValue(v);
    return *this;
  }
  template <size_t N>
  JsonWriter& Null(const char (&key)[N]) {
    Key(key, N - 1);
    Put("null", 4);
    return *this;
  }

  // Keys known only at run time (an external strategy's trace values), escaped as strings are.
  JsonWriter& NumAt(absl::string_view key, double v) {
    DynamicKey(key);
    NumValue(v);
    return *this;
  }
  JsonWriter& IntAt(absl::string_view key, int64_t v) {
    DynamicKey(key);
    IntValue(v);
    return *this;
  }
  JsonWriter& BoolAt(absl::string_view key, bool v) {
    DynamicKey(key);
    if (v) {
      Put("true", 4);
    } else {
      Put("false", 5);
    }
    return *this;
  }
  JsonWriter& StrAt(absl::string_view key, absl::string_view v) {
    DynamicKey(key);
    StrValue(v);
    return *this;
  }
  JsonWriter& NullAt(absl::string_view key) {
    DynamicKey(key);
    Put("null", 4);
    return *this;
  }

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
  void Key(const char* key, size_t len) {
    Reserve(len + 4);
    char* p = buf_ + n_;
    if (!first_) *p++ = ',';
    first_ = false;
    *p++ = '"';
    std::memcpy(p, key, len);
    p += len;
    *p++ = '"';
    *p++ = ':';
    n_ = static_cast<size_t>(p - buf_);
  }
  void DynamicKey(absl::string_view key) {
    if (!first_) Put(",", 1);
    first_ = false;
    StrValue(key);
    Put(":", 1);
  }
  void NumValue(double v);
  void ApproxValue(double v);
  void IntValue(int64_t v);
  void StrValue(absl::string_view v);

  std::unique_ptr<NumberCache> numbers_;
  std::string* out_ = nullptr;
  size_t n_ = 0;
  bool first_ = true;
  char buf_[kCapacity];
};

// A number formatted once (WriteShortest) for use in several rows and sentences.
class NumberText {
 public:
  void Set(double v);
  void Set(double v, NumberCache& cache);
  absl::string_view view() const { return absl::string_view(buf_, len_); }

 private:
  char buf_[40];
  size_t len_ = 0;
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
