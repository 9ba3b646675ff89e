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

namespace {

constexpr char kStateMagic[4] = {'s', '2', '5', '6'};
constexpr size_t kStateBytes = sizeof kStateMagic + 4 * (8 + 2 + 1) + SHA256_CBLOCK;

void PutU32(uint32_t v, char* p) {
  for (int k = 0; k < 4; ++k) p[k] = static_cast<char>(v >> (8 * k));
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int k = 0; k < 4; ++k) v |= static_cast<uint32_t>(static_cast<uint8_t>(p[k])) << (8 * k);
  return v;
}

}  // namespace

std::string Sha256::SaveState() {
  Flush();
  const SHA256_CTX& c = state_->ctx;
  std::string out(kStateBytes, '\0');
  char* p = out.data();
  std::memcpy(p, kStateMagic, sizeof kStateMagic);
  p += sizeof kStateMagic;
  for (SHA_LONG h : c.h) {
    PutU32(h, p);
    p += 4;
  }
  PutU32(c.Nl, p);
  PutU32(c.Nh, p + 4);
  PutU32(c.num, p + 8);
  std::memcpy(p + 12, c.data, SHA256_CBLOCK);
  return out;
}

bool Sha256::RestoreState(absl::string_view state) {
  if (state.size() != kStateBytes || std::memcmp(state.data(), kStateMagic, 4) != 0) return false;
  const char* p = state.data() + sizeof kStateMagic;
  const uint32_t num = GetU32(p + 4 * 10);
  if (num >= SHA256_CBLOCK) return false;
  SHA256_CTX c;
  Check(SHA256_Init(&c));
  for (SHA_LONG& h : c.h) {
    h = GetU32(p);
    p += 4;
  }
  c.Nl = GetU32(p);
  c.Nh = GetU32(p + 4);
  c.num = num;
  std::memcpy(c.data, p + 12, SHA256_CBLOCK);
  state_->ctx = c;
  buffered_ = 0;
  return true;
}

}  // namespace backtest::engine
