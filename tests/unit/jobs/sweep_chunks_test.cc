// A sweep fanned out over a cluster: its rows not stored yet, in chunks of at most the chunk
// size in row order; each chunk's spec holds only its combinations with their row numbers, no
// done rows and no walk-forward.
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/jobs/sweep_run.h"

namespace backtest::jobs {
namespace {

using ::testing::ElementsAre;
using ::testing::SizeIs;

backtest::runner::v1::RunSpec SweepOf(int combinations, std::vector<int> done = {}) {
  backtest::runner::v1::RunSpec spec;
  (*spec.mutable_params())["strategy"] = "sma_cross";
  auto* sweep = spec.mutable_sweep();
  sweep->add_names("fast_period");
  for (int i = 0; i < combinations; ++i) sweep->add_combinations()->add_values(std::to_string(i + 2));
  for (int row : done) sweep->add_done_rows(row);
  sweep->mutable_walk_forward()->set_train_bars(100);
  sweep->mutable_walk_forward()->set_test_bars(10);
  sweep->set_objective("sharpe");
  return spec;
}

TEST(SweepChunksTest, RowsAreCutInChunksOfAtMostTheChunkSizeInRowOrder) {
  auto chunks = PlanSweepChunks(SweepOf(7).sweep(), 3);
  ASSERT_THAT(chunks, SizeIs(3));
  EXPECT_EQ(chunks[0].index, 0);
  EXPECT_THAT(chunks[0].rows, ElementsAre(0, 1, 2));
  EXPECT_THAT(chunks[1].rows, ElementsAre(3, 4, 5));
  EXPECT_EQ(chunks[2].index, 2);
  EXPECT_THAT(chunks[2].rows, ElementsAre(6));
  EXPECT_EQ(DescribeChunkRows(chunks[0]), "rows 0–2");
  EXPECT_EQ(DescribeChunkRows(chunks[2]), "row 6");
}

TEST(SweepChunksTest, RowsStoredBeforeAreLeftOut) {
  auto chunks = PlanSweepChunks(SweepOf(6, {0, 2, 3}).sweep(), 2);
  ASSERT_THAT(chunks, SizeIs(2));
  EXPECT_THAT(chunks[0].rows, ElementsAre(1, 4));
  EXPECT_THAT(chunks[1].rows, ElementsAre(5));
  EXPECT_EQ(DescribeChunkRows(chunks[0]), "rows 1–4 (2 of them)");
  EXPECT_THAT(PlanSweepChunks(SweepOf(3, {0, 1, 2}).sweep(), 2), SizeIs(0));
}

TEST(SweepChunksTest, AChunkSpecHasOnlyItsCombinationsWithTheirRowNumbers) {
  const auto job = SweepOf(7, {0});
  auto chunks = PlanSweepChunks(job.sweep(), 4);
  ASSERT_THAT(chunks, SizeIs(2));
  auto base = job;
  base.clear_sweep();
  const auto spec = ChunkSpec(base, job.sweep(), chunks[1], 2);
  EXPECT_EQ(spec.params().at("strategy"), "sma_cross");
  ASSERT_EQ(spec.sweep().combinations_size(), 2);
  EXPECT_EQ(spec.sweep().combinations(0).values(0), "7");  // row 5's
  EXPECT_EQ(spec.sweep().combinations(1).values(0), "8");  // row 6's
  EXPECT_THAT(spec.sweep().rows(), ElementsAre(5, 6));
  EXPECT_EQ(spec.sweep().done_rows_size(), 0);
  EXPECT_FALSE(spec.sweep().has_walk_forward());
  EXPECT_EQ(spec.sweep().threads(), 2);
  EXPECT_EQ(spec.sweep().objective(), "sharpe");
  EXPECT_THAT(spec.sweep().names(), ElementsAre("fast_period"));
}

}  // namespace
}  // namespace backtest::jobs
