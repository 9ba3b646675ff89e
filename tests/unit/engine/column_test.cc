#include "server/engine/data/column.h"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "server/engine/util/helper_thread.h"

namespace backtest::engine {
namespace {

TEST(ColumnTest, LargeColumnsLiveOnHugePageBoundariesAndBehaveAsVectors) {
  Column<double> big;
  big.resize(1'000'000);  // 8 MB
  ASSERT_EQ(reinterpret_cast<uintptr_t>(big.data()) % kHugePageBytes, 0u);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<double>(i) * 0.5;
  Column<double> copy = big;
  EXPECT_EQ(copy, big);
  EXPECT_NE(copy.data(), big.data());
  const double* data = big.data();
  Column<double> moved = std::move(big);
  EXPECT_EQ(moved.data(), data);
  moved.resize(3'000'000, 7.0);  // regrown: the old rows copied, the new ones written
  EXPECT_EQ(moved[999'999], 999'999 * 0.5);
  EXPECT_EQ(moved[2'999'999], 7.0);
  moved.assign(10, 1.5);
  EXPECT_EQ(moved.size(), 10u);
  EXPECT_EQ(moved[9], 1.5);
}

TEST(ColumnTest, SmallColumnsComeFromTheHeap) {
  Column<int64_t> small;
  for (int64_t i = 0; i < 1000; ++i) small.push_back(i);
  EXPECT_EQ(small.back(), 999);
  Column<int64_t> zeros(5, 0);
  EXPECT_EQ(zeros, Column<int64_t>({0, 0, 0, 0, 0}));
}

TEST(ColumnTest, AnAdoptedMappingIsTheColumnsMemoryUntilItGoes) {
  char path[] = "/tmp/column_test_XXXXXX";
  const int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  std::vector<double> values(3000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = 0.5 * static_cast<double>(i);
  const size_t bytes = values.size() * sizeof(double);
  ASSERT_EQ(::write(fd, values.data(), bytes), static_cast<ssize_t>(bytes));
  void* map = ::mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  ASSERT_NE(map, MAP_FAILED);
  ::close(fd);
  ::unlink(path);
  {
    Column<double> mapped;
    AdoptMapping(mapped, map, bytes, values.size());
    EXPECT_EQ(mapped.data(), map);  // in place: no copy
    ASSERT_EQ(mapped.size(), values.size());
    EXPECT_EQ(mapped[2999], 1499.5);
    // A copy has memory of its own, and can be written.
    Column<double> copy = mapped;
    EXPECT_NE(copy.data(), map);
    copy[0] = 7;
    EXPECT_EQ(mapped[0], 0);
    // Moved, the mapping goes along; the next allocation is an ordinary one.
    Column<double> moved = std::move(mapped);
    EXPECT_EQ(moved.data(), map);
    Column<double> other(values.size());
    EXPECT_NE(other.data(), map);
  }
  // Gone with its column: the range is no longer mapped.
  EXPECT_EQ(::msync(map, bytes, MS_ASYNC), -1);
  EXPECT_EQ(errno, ENOMEM);
}

TEST(HelperThreadTest, RunsItsTaskOnAnotherThreadAndJoins) {
  std::atomic<int> runs{0};
  std::thread::id where;
  HelperThread helper;
  ASSERT_TRUE(helper.Start([&] {
    where = std::this_thread::get_id();
    ++runs;
  }));
  helper.Join();
  EXPECT_EQ(runs.load(), 1);
  EXPECT_NE(where, std::this_thread::get_id());
  ASSERT_TRUE(helper.Start([&] { ++runs; }));  // reusable; the destructor joins
}

}  // namespace
}  // namespace backtest::engine
