// A job's runner reference: where its runner runs or ran, beside the seed's pid (the Slurm
// backend's is checked against a real cluster by tests/e2e/slurm_e2e.sh).
#include <stdlib.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;
using ::testing::MatchesRegex;

TEST(RunnerReferenceTest, ALocalJobNamesItsRunnersPidAndKeepsItAfterTheEnd) {
  TestServer server;
  server.options().workers = 1;
  server.Start();
  const std::string id = server.Submit({{"strategy", "sma_cross"}, {"symbols", "EURUSD"},
                                        {"timeframe", "M1"}, {"start_date", "2015-01-01"},
                                        {"end_date", "2026-01-01"}});
  backtest::v1::Job job;
  ASSERT_TRUE(PollUntil([&] { return server.GetJob(id, &job).ok() && job.pid() > 0; }));
  EXPECT_EQ(job.runner(), "local pid " + std::to_string(job.pid()));
  const std::string while_running = job.runner();

  backtest::v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  backtest::v1::CancelJobResponse cancelled;
  ASSERT_TRUE(server.jobs().CancelJob(server.Context().get(), cancel, &cancelled).ok());
  ASSERT_TRUE(PollUntil([&] { return server.GetJob(id, &job).ok() && job.status() != "running"; }));
  EXPECT_EQ(job.runner(), while_running);
  EXPECT_THAT(job.runner(), MatchesRegex("local pid [0-9]+"));
}

// A server started inside a Slurm allocation (by sbatch) has the allocation's variables in its
// environment: its local runners do not take themselves for Slurm steps.
TEST(RunnerReferenceTest, ALocalRunnerOfAServerInASlurmAllocationIsNoSlurmStep) {
  ::setenv("SLURM_JOB_ID", "4242", 1);
  ::setenv("SLURM_STEP_ID", "0", 1);
  ::setenv("SLURMD_NODENAME", "n12", 1);
  TestServer server;
  server.options().workers = 1;
  server.Start();
  const std::string id = server.Submit({{"strategy", "sma_cross"}, {"symbols", "EURUSD"},
                                        {"timeframe", "H1"}, {"start_date", "2022-01-01"},
                                        {"end_date", "2022-03-01"}});
  backtest::v1::Job job;
  EXPECT_TRUE(PollUntil([&] { return server.GetJob(id, &job).ok() && job.status() == "finished"; }))
      << job.status() << " " << job.error();
  EXPECT_THAT(job.runner(), MatchesRegex("local pid [0-9]+"));
  ::unsetenv("SLURM_JOB_ID");
  ::unsetenv("SLURM_STEP_ID");
  ::unsetenv("SLURMD_NODENAME");
}

TEST(RunnerReferenceTest, AQueuedJobHasNone) {
  TestServer server;
  server.options().workers = 1;
  server.Start();
  const std::map<std::string, std::string> long_run = {
      {"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"timeframe", "M1"},
      {"start_date", "1990-01-01"}, {"end_date", "2026-01-01"}};
  const std::string running = server.Submit(long_run);
  const std::string queued = server.Submit(long_run);
  backtest::v1::Job job;
  ASSERT_TRUE(server.GetJob(queued, &job).ok());
  EXPECT_EQ(job.status(), "queued");
  EXPECT_EQ(job.runner(), "");
  for (const std::string& id : {queued, running}) {
    backtest::v1::CancelJobRequest cancel;
    cancel.set_job_id(id);
    backtest::v1::CancelJobResponse cancelled;
    server.jobs().CancelJob(server.Context().get(), cancel, &cancelled);
  }
}

}  // namespace
}  // namespace backtest
