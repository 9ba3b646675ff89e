#include "server/engine/util/sha256.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>

namespace backtest::engine {
namespace {

// A digest that cannot be computed is a broken installation, not a recoverable condition.
void Check(int ok) {
  if (ok != 1) std::abort();
}

// A digest needs no OpenSSL configuration: skipping openssl.cnf (parsed on first use otherwise)
// saves a runner, which digests once, a good part of a millisecond. Where OpenSSL was set up
// already (the server), this changes nothing.
evp_md_ctx_st* NewContext() {
  static const bool initialized = OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, nullptr) == 1;
  (void)initialized;
  return EVP_MD_CTX_new();
}

}  // namespace

void Sha256::CtxFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(NewContext()), buffer_(new uint8_t[kChunk]) {
  if (ctx_ == nullptr) std::abort();
  Check(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr));
}

Sha256::~Sha256() = default;

void Sha256::Flush() {
  if (buffered_ > 0) Check(EVP_DigestUpdate(ctx_.get(), buffer_.get(), buffered_));
  buffered_ = 0;
}

void Sha256::UpdateLarge(const void* data, size_t size) {
  Flush();
  if (size >= kChunk) {
    Check(EVP_DigestUpdate(ctx_.get(), data, size));
  } else {
    std::memcpy(buffer_.get(), data, size);
    buffered_ = size;
  }
}

std::string Sha256::HexDigest() {
  Flush();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Check(EVP_DigestFinal_ex(ctx_.get(), digest, &len));
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * len, '0');
  for (unsigned int i = 0; i < len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0xf];
  }
  return out;
}

}  // namespace backtest::engine
