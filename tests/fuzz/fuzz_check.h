// FUZZ_CHECK: an invariant of a fuzz target. When it fails the target prints what broke and
// aborts, so libFuzzer stops and keeps the input as a crash artifact (like a sanitizer report).
#ifndef BACKTEST_TESTS_FUZZ_FUZZ_CHECK_H_
#define BACKTEST_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace backtest::fuzz {

[[noreturn]] inline void CheckFailed(const char* file, int line, const char* condition,
                                     const std::string& detail) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, condition);
  if (!detail.empty()) std::fprintf(stderr, "  %s\n", detail.c_str());
  std::fflush(stderr);
  std::abort();
}

// The first `n` bytes of `s`, escaped, for messages.
inline std::string Shown(absl::string_view s, size_t n = 120) {
  std::string out;
  for (unsigned char c : s.substr(0, n)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

// Sizes of the reads a stream arrives in, from one input byte: a short cycle of reads of 1..16
// and 1..`large` bytes (a tiny generator, so one byte gives many patterns), as a pipe delivers.
inline std::vector<size_t> ReadSizes(uint8_t seed, size_t large) {
  std::vector<size_t> sizes;
  uint32_t state = seed * 2654435761u + 1;
  for (int i = 0; i < 7; ++i) {
    state = state * 1103515245u + 12345u;
    sizes.push_back(1 + (state >> 16) % (i % 2 == 0 ? 16 : large));
  }
  return sizes;
}

}  // namespace backtest::fuzz

#define FUZZ_CHECK(condition, detail)                                                   \
  do {                                                                                  \
    if (!(condition)) ::backtest::fuzz::CheckFailed(__FILE__, __LINE__, #condition, detail); \
  } while (0)

#endif  // BACKTEST_TESTS_FUZZ_FUZZ_CHECK_H_
