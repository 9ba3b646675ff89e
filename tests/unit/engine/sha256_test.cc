#include "server/engine/util/sha256.h"

#include <string>

#include "gtest/gtest.h"

namespace backtest::engine {
namespace {

TEST(Sha256Test, KnownVectors) {
  EXPECT_EQ(Sha256().HexDigest(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.Update("abc");
  EXPECT_EQ(abc.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  Sha256 two;
  two.Update("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq");
  EXPECT_EQ(two.HexDigest(), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Split updates give the same digest.
  std::string million(1'000'000, 'a');
  Sha256 a, b;
  a.Update(million);
  for (size_t i = 0; i < million.size(); i += 999) {
    b.Update(million.data() + i, std::min<size_t>(999, million.size() - i));
  }
  std::string da = a.HexDigest();
  EXPECT_EQ(da, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(b.HexDigest(), da);
  // A small piece left buffered, then one larger than the buffer.
  Sha256 c;
  c.Update(million.data(), 7);
  c.Update(million.data() + 7, million.size() - 7);
  EXPECT_EQ(c.HexDigest(), da);
}

}  // namespace
}  // namespace backtest::engine
