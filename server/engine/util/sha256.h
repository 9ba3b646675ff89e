// SHA-256 (FIPS 180-4), streaming, computed by OpenSSL's libcrypto (SHA extensions where the CPU
// has them). Used for result and trace digests, which feed it many small pieces (8-byte numbers),
// so it gathers them into blocks of kChunk bytes before handing them on.
// Not thread-safe; one object per digest.
#ifndef BACKTEST_SERVER_ENGINE_UTIL_SHA256_H_
#define BACKTEST_SERVER_ENGINE_UTIL_SHA256_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace backtest::engine {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  // Inline while the piece fits the gathering buffer (the common case: 8-byte numbers).
  void Update(const void* data, size_t size) {
    if (size <= kChunk - buffered_) {
      std::memcpy(buffer_.get() + buffered_, data, size);
      buffered_ += size;
      return;
    }
    UpdateLarge(data, size);
  }
  void Update(absl::string_view text) { Update(text.data(), text.size()); }

  // Writing in place, for a caller that feeds many small pieces and keeps its write position in
  // a register (through Update, every 8-byte number loads and stores the buffered count): Room
  // returns where the next bytes go, with room for at least `size` (≤ kChunk) up to RoomEnd()
  // (what was gathered is hashed first when less is free); Written(end) then takes the bytes
  // written up to `end` as fed. Nothing else may be called on the hash in between.
  uint8_t* Room(size_t size) {
    if (size > kChunk - buffered_) Flush();
    return buffer_.get() + buffered_;
  }
  uint8_t* RoomEnd() { return buffer_.get() + kChunk; }
  void Written(const uint8_t* end) { buffered_ = static_cast<size_t>(end - buffer_.get()); }
  // Finishes the digest and returns it as 64 lower-case hex characters. The object is spent.
  std::string HexDigest();

  // The state after everything fed so far (the chaining value, the length and the partial
  // block), to go on from later: a hash restored from it and fed the rest gives the digest of
  // the whole. 112 bytes of a fixed layout (not the library's struct).
  std::string SaveState();
  // Replaces this hash's state with a saved one; false (and unchanged) when `state` is not one.
  bool RestoreState(absl::string_view state);

  // The gathering buffer's size: the most Room can promise.
  static constexpr size_t kChunk = 16384;

 private:
  void Flush();
  void UpdateLarge(const void* data, size_t size);

  struct State;  // OpenSSL's context, kept out of this header
  std::unique_ptr<State> state_;
  std::unique_ptr<uint8_t[]> buffer_;
  size_t buffered_ = 0;
};

}  // namespace backtest::engine

#endif  // BACKTEST_SERVER_ENGINE_UTIL_SHA256_H_
