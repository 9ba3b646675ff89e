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

TEST(Sha256Test, ASavedStateGoesOnWhereItStopped) {
  std::string text(100'000, 'x');
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<char>('a' + (i * 7919) % 26);
  Sha256 whole;
  whole.Update(text);
  const std::string expected = whole.HexDigest();
  // Cut inside a block, at a block's end, in the gathering buffer and past it.
  for (size_t cut : {0u, 1u, 63u, 64u, 1000u, 16383u, 16384u, 70001u}) {
    Sha256 head;
    head.Update(text.data(), cut);
    const std::string state = head.SaveState();
    EXPECT_EQ(state.size(), 112u);
    Sha256 tail;
    tail.Update("something else first");
    ASSERT_TRUE(tail.RestoreState(state)) << cut;
    tail.Update(text.data() + cut, text.size() - cut);
    EXPECT_EQ(tail.HexDigest(), expected) << cut;
  }
  // Not a state: refused, the hash unchanged.
  Sha256 h;
  h.Update("abc");
  EXPECT_FALSE(h.RestoreState(""));
  EXPECT_FALSE(h.RestoreState(std::string(112, 'z')));
  std::string bad = Sha256().SaveState();
  bad[4 + 40] = 64;  // a partial block of 64 bytes cannot be
  EXPECT_FALSE(h.RestoreState(bad));
  EXPECT_EQ(h.HexDigest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace backtest::engine
