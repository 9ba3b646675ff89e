#include "server/engine/data/dataset_hash.h"

#include <bit>
#include <cstdint>

#include "server/engine/util/sha256.h"

namespace backtest::engine {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the columns are hashed as they are in memory: little-endian");

template <typename T>
void HashColumn(std::span<const T> values, Sha256& h) {
  h.Update(values.data(), values.size() * sizeof(T));
}

}  // namespace

std::string DatasetHash(const BarView& bars) {
  Sha256 h;
  h.Update("backtestd-dataset-v1");
  const uint64_t n = bars.size();
  h.Update(&n, sizeof n);
  HashColumn(bars.time, h);
  HashColumn(bars.open, h);
  HashColumn(bars.high, h);
  HashColumn(bars.low, h);
  HashColumn(bars.close, h);
  HashColumn(bars.volume, h);
  return h.HexDigest();
}

}  // namespace backtest::engine
