#include "server/engine/util/sha256.h"

// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, but the EVP path fetches
// the implementation through the provider machinery on first use (initialising OpenSSL, its name
// tables and the default provider: about a millisecond in a runner, which digests once). The
// one-shot block functions need none of it and use the same SHA extensions.
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include <cstdlib>
#include <cstring>

namespace backtest::engine {
namespace {

// A digest that cannot be computed is a broken installation, not a recoverable condition.
void Check(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

struct Sha256::State {
  SHA256_CTX ctx;
};

Sha256::Sha256() : state_(new State), buffer_(new uint8_t[kChunk]) {
  Check(SHA256_Init(&state_->ctx));
}

Sha256::~Sha256() = default;

void Sha256::Flush() {
  if (buffered_ > 0) Check(SHA256_Update(&state_->ctx, buffer_.get(), buffered_));
  buffered_ = 0;
}

void Sha256::UpdateLarge(const void* data, size_t size) {
  Flush();
  if (size >= kChunk) {
    Check(SHA256_Update(&state_->ctx, data, size));
  } else {
    std::memcpy(buffer_.get(), data, size);
    buffered_ = size;
  }
}

std::string Sha256::HexDigest() {
  Flush();
  unsigned char digest[SHA256_DIGEST_LENGTH];
  Check(SHA256_Final(digest, &state_->ctx));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * SHA256_DIGEST_LENGTH, '0');
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace backtest::engine
