#include "server/engine/util/sha256.h"

#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>

namespace backtest::engine {
namespace {

// A digest that cannot be computed is a broken installation, not a recoverable condition.
void Check(int ok) {
  if (ok != 1) std::abort();
}

}  // namespace

void Sha256::CtxFree::operator()(evp_md_ctx_st* ctx) const { EVP_MD_CTX_free(ctx); }

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()), buffer_(new uint8_t[kChunk]) {
  if (ctx_ == nullptr) std::abort();
  Check(EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr));
}

Sha256::~Sha256() = default;

void Sha256::Flush() {
  if (buffered_ > 0) Check(EVP_DigestUpdate(ctx_.get(), buffer_.get(), buffered_));
  buffered_ = 0;
}

void Sha256::Update(const void* data, size_t size) {
  if (size <= kChunk - buffered_) {
    std::memcpy(buffer_.get() + buffered_, data, size);
    buffered_ += size;
    return;
  }
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
