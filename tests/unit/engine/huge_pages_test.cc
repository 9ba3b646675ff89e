#include "server/engine/util/huge_pages.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstring>
#include <memory>

namespace backtest::engine {
namespace {

int64_t MinorFaults() {
  rusage usage = {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// What an idle runner does before its job (ReadyHeap): a block the size of the job's memory,
// allocated and written afterwards, touches pages that are there already. Without it each 4 KiB
// page of a fresh block is a fault: 1,024 for these 4 MiB.
TEST(ReadyHeapTest, ABlockAllocatedAfterItIsWrittenWithoutPageFaults) {
  constexpr size_t kBlock = size_t{4} << 20;
  ReadyHeap(size_t{8} << 20);
  const int64_t before = MinorFaults();
  auto block = std::make_unique<char[]>(kBlock);  // zeroed: written whole
  std::memset(block.get(), 1, kBlock);
  const int64_t faults = MinorFaults() - before;
  EXPECT_EQ(block[kBlock - 1], 1);
  EXPECT_LT(faults, 64) << "a readied heap faulted " << faults << " pages for 4 MiB";
}

}  // namespace
}  // namespace backtest::engine
