// Base-128 varints and zigzag, for the db's own compact blobs (trace chunks, runs of log lines
// in job_events). Header-only; used inside db/ only.
#ifndef BACKTEST_DB_VARINT_H_
#define BACKTEST_DB_VARINT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace backtest::db {

inline void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a varint from the front of *in and drops it; false (in unspecified) when *in ends inside
// one or it is longer than ten bytes.
inline bool GetVarint(absl::string_view* in, uint64_t* value) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && !in->empty(); shift += 7) {
    const auto byte = static_cast<uint8_t>(in->front());
    in->remove_prefix(1);
    v |= uint64_t{byte & 0x7fu} << shift;
    if (byte < 0x80) {
      *value = v;
      return true;
    }
  }
  return false;
}

inline uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

}  // namespace backtest::db

#endif  // BACKTEST_DB_VARINT_H_
