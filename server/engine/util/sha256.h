// SHA-256 (FIPS 180-4), streaming. Used for result and trace digests.
// Not thread-safe; one object per digest.
#ifndef BACKTEST_SERVER_ENGINE_UTIL_SHA256_H_
#define BACKTEST_SERVER_ENGINE_UTIL_SHA256_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace backtest::engine {

class Sha256 {
 public:
  Sha256();
  void Update(const void* data, size_t size);
  void Update(absl::string_view text) { Update(text.data(), text.size()); }
  // Finishes the digest and returns it as 64 lower-case hex characters. The object is spent.
  std::string HexDigest();

 private:
  void Block(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> buffer_;
  size_t buffered_ = 0;
  uint64_t total_bytes_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_UTIL_SHA256_H_
