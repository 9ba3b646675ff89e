// Job.kind: a sweep's job says it is one (GetJob, ListJobs), so clients send it to its sweep
// page instead of asking for a result it does not have; a run says "backtest".
#include <string>

#include "backtest/v1/sweep_service.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::TestServer;

TEST(JobKindTest, ASweepsJobIsASweepAndARunIsABacktest) {
  TestServer server;
  server.options().workers = 1;
  server.Start();
  const std::string run = server.Submit({{"strategy", "sma_cross"}, {"symbols", "EURUSD"},
                                         {"max_candles", "500"}});

  backtest::v1::RunSweepRequest request;
  (*request.mutable_params())["strategy"].set_string_value("sma_cross");
  (*request.mutable_params())["max_candles"].set_number_value(500);
  auto* fast = request.add_ranges();
  fast->set_name("fast_period");
  fast->add_values()->set_number_value(5);
  fast->add_values()->set_number_value(8);
  request.mutable_objective()->set_stat("return_pct");
  backtest::v1::RunSweepResponse started;
  auto sweeps = backtest::v1::SweepService::NewStub(server.channel());
  grpc::Status s = sweeps->RunSweep(server.Context().get(), request, &started);
  ASSERT_TRUE(s.ok()) << s.error_message();

  backtest::v1::Job job;
  ASSERT_TRUE(server.GetJob(started.sweep_id(), &job).ok());
  EXPECT_EQ(job.kind(), "sweep");
  ASSERT_TRUE(server.GetJob(run, &job).ok());
  EXPECT_EQ(job.kind(), "backtest");

  backtest::v1::ListJobsRequest list;
  backtest::v1::ListJobsResponse listed;
  ASSERT_TRUE(server.jobs().ListJobs(server.Context().get(), list, &listed).ok());
  ASSERT_EQ(listed.jobs_size(), 2);
  for (const backtest::v1::Job& j : listed.jobs()) {
    EXPECT_EQ(j.kind(), j.job_id() == run ? "backtest" : "sweep") << j.job_id();
  }
}

}  // namespace
}  // namespace backtest
