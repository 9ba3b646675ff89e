// The runner's result frames (runner::ToResultFrames) of fixed results, byte for byte: the
// server stores them as they come and stored results are compared byte for byte, so a faster
// conversion must write exactly the bytes it wrote before. The pinned hashes were computed with
// the conversion of results format 4 as it first was; re-pin only with a new results format.
#include "server/runner/result_conversion.h"

#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/data/dataset_hash.h"
#include "server/engine/util/sha256.h"
#include "tests/unit/engine/result_fixtures.h"

namespace backtest::runner {
namespace {

using engine::testing::ResultFixtures;

enum class Known {
  kNone,        // the server has none of the run's datasets: each goes out in a dataset frame
  kHashedHere,  // it has them, and the conversion hashes the candles to see so
  kHashedEarly  // it has them, and the hashes come with the call (hashed while the run went on)
};

// SHA-256 of the frames' bytes (each length-prefixed) as the runner's writer serializes them.
std::string FramesHash(const engine::RunResult& r, Known known) {
  google::protobuf::RepeatedPtrField<v1::KnownDataset> datasets_known;
  std::vector<std::string> hashes;
  if (known != Known::kNone) {
    for (const engine::SymbolResult& s : r.symbols) {
      v1::KnownDataset* k = datasets_known.Add();
      k->set_symbol(s.symbol);
      k->set_hash(engine::DatasetHash(s.candles()));
      if (known == Known::kHashedEarly) hashes.push_back(k->hash());
    }
  }
  std::vector<v1::RunnerEvent> datasets;
  v1::RunnerEvent result;
  ToResultFrames(r, datasets_known, &datasets, result.mutable_result(), hashes);
  datasets.push_back(std::move(result));
  engine::Sha256 h;
  for (const v1::RunnerEvent& e : datasets) {
    const std::string bytes = e.SerializeAsString();
    const uint64_t size = bytes.size();
    h.Update(&size, sizeof size);
    h.Update(bytes);
  }
  return h.HexDigest();
}

TEST(ResultFramesTest, FixturesConvertToTheBytesTheyAlwaysDid) {
  // fixture → (frames with no known dataset, frames with every dataset known).
  const std::map<std::string, std::pair<std::string, std::string>> want = {
      {"odd",
       {"b3b4b17d40c1fc0e4e72a08da5318ded6e7fa3f20f541222f6f4981fc7f58650",
        "a696e8b4fc371023595d5a90244a397f85408cbba98afb871585e841e9dc37f5"}},
      {"overlapping_trades",
       {"b5d6836cb3a309eefbd01a5bd7ebae617150a892a1f550493a8482b0b0c4500a",
        "961414d4a0a17fd417930c638f86951e8c1c02f254bc2e064ef9d6f5e0821db0"}},
      {"sma_cross",
       {"a88bf5ff50d7300da597bf0664c3ffd2e15dad9553d453f4ff7682434ad3786c",
        "2b894207d3c6115a8547aa03313128c98a90d9815a4c71b583e903ac5f2727bd"}},
      {"sma_cross_traced",
       {"f1188e23940ad6c9ebcc44fadd755256e5c3e4c396814aa329a19b57f5a60b40",
        "5e3c641845e63d4f7c874c628aa60c8b3f9b0e18ccf670ceaa9c6dff0e36caf4"}},
      {"sr_breakout",
       {"8d8e5f185a60c888c6317ab044e511026fdea5b8852460a3979025274f215ec3",
        "04569507c2c58c07ce16b50cd86de5a56a24bf6ec24791bf6d6be593585b866b"}},
  };
  const auto fixtures = ResultFixtures();
  ASSERT_EQ(fixtures.size(), want.size());
  for (const auto& [name, r] : fixtures) {
    const auto& [none, known] = want.at(name);
    EXPECT_EQ(FramesHash(r, Known::kNone), none) << name;
    EXPECT_EQ(FramesHash(r, Known::kHashedHere), known) << name;
    EXPECT_EQ(FramesHash(r, Known::kHashedEarly), known) << name;
  }
}

// The fixtures take every path of the conversion that the pinned bytes are to cover.
TEST(ResultFramesTest, FixturesCoverTheConversionsPaths) {
  const auto fixtures = ResultFixtures();
  auto convert = [&](const std::string& name) {
    v1::RunOutput out;
    std::vector<v1::RunnerEvent> datasets;
    ToResultFrames(fixtures.at(name), {}, &datasets, &out);
    return out;
  };
  const v1::RunOutput sma = convert("sma_cross");
  EXPECT_TRUE(sma.has_equity_pieces());
  EXPECT_TRUE(sma.marker_columns().from_trades());
  EXPECT_GT(sma.trade_columns().id().delta_size(), 10);
  EXPECT_TRUE(convert("sma_cross_traced").equity_at_candles());
  const v1::RunOutput sr = convert("sr_breakout");
  EXPECT_GT(sr.series(0).zones_size(), 0);
  EXPECT_TRUE(sr.series(0).has_ema_columns());
  // Fills out of the trades' order: sorted.
  const v1::RunOutput overlapping = convert("overlapping_trades");
  EXPECT_TRUE(overlapping.marker_columns().from_trades());
  EXPECT_TRUE(overlapping.equity_at_candles());
  const v1::RunOutput odd = convert("odd");
  EXPECT_FALSE(odd.marker_columns().from_trades());
  EXPECT_FALSE(odd.equity_at_candles());
  EXPECT_GT(odd.marker_columns().price().plain_size(), 0);
  EXPECT_GT(odd.trade_columns().size().plain_size(), 0);
  EXPECT_TRUE(odd.trade_columns().commission().has_delta());
}

}  // namespace
}  // namespace backtest::runner
