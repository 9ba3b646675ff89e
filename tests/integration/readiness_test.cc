// Readiness in gRPC health: each service is SERVING while the database takes writes and the
// server is not draining; the overall status ("") stays SERVING (live). The real server's probe
// meets a real lock held past its busy timeout; the class alone meets failures on demand.
#include "server/readiness.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <vector>

#include "SQLiteCpp/Database.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "tests/integration/test_server.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;
using ::testing::ElementsAre;

TEST(ReadinessTest, PublishesEachChangeOnceAndDrainingWins) {
  absl::Status next = absl::OkStatus();
  std::vector<bool> published;
  Readiness readiness([&] { return next; }, [&](bool ready) { published.push_back(ready); },
                      /*interval_ms=*/600000);
  readiness.Start();
  readiness.ProbeNow();
  next = absl::ResourceExhaustedError("disk full");
  readiness.ProbeNow();
  readiness.ProbeNow();
  EXPECT_FALSE(readiness.database_writable());
  EXPECT_EQ(readiness.database_error(), "disk full");
  next = absl::OkStatus();
  readiness.ProbeNow();
  EXPECT_TRUE(readiness.database_writable());
  EXPECT_EQ(readiness.database_error(), "");
  readiness.SetDraining();
  readiness.ProbeNow();  // writable, but draining
  EXPECT_THAT(published, ElementsAre(true, false, true, false));
}

TEST(ReadinessTest, ProbesOnItsOwnEveryInterval) {
  std::atomic<int> probes = 0;
  Readiness readiness(
      [&] {
        ++probes;
        return absl::OkStatus();
      },
      [](bool) {}, /*interval_ms=*/20);
  readiness.Start();
  EXPECT_TRUE(PollUntil([&] { return probes >= 4; }, 10));
}

std::string Health(const std::shared_ptr<grpc::Channel>& channel, const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&context, request, &response);
  if (!status.ok()) return "error: " + status.error_message();
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

TEST(ServerReadinessTest, ServicesAreNotServingWhileTheDatabaseTakesNoWritesAndLiveThroughout) {
  TestServer server;
  server.options().readiness_probe_ms = 100;
  server.Start();
  const std::shared_ptr<grpc::Channel> channel = server.channel();
  EXPECT_EQ(Health(channel, "backtest.v1.BacktestService"), "SERVING");
  {
    // Another process's writer holds the write lock past the server's busy timeout (5 s).
    // (It waits for the server's own writes, the probe's among them, to take the lock.)
    SQLite::Database other(server.options().db_path, SQLite::OPEN_READWRITE,
                           /*busy_timeout_ms=*/10000);
    other.exec("BEGIN IMMEDIATE");
    EXPECT_TRUE(PollUntil(
        [&] { return Health(channel, "backtest.v1.BacktestService") == "NOT_SERVING"; }, 15));
    for (const char* service : {"backtest.v1.SweepService", "backtest.v1.TraceService"}) {
      EXPECT_EQ(Health(channel, service), "NOT_SERVING") << service;
    }
    EXPECT_EQ(Health(channel, ""), "SERVING");  // alive: nothing to restart
    // Reads still answer.
    backtest::v1::ListJobsRequest list;
    backtest::v1::ListJobsResponse jobs;
    EXPECT_TRUE(server.jobs().ListJobs(server.Context().get(), list, &jobs).ok());
    other.exec("ROLLBACK");
  }
  EXPECT_TRUE(PollUntil(
      [&] { return Health(channel, "backtest.v1.BacktestService") == "SERVING"; }, 15));

  server.server().BeginDrain();  // draining wins over a writable database
  EXPECT_TRUE(PollUntil(
      [&] { return Health(channel, "backtest.v1.BacktestService") == "NOT_SERVING"; }, 5));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // probes go on succeeding
  EXPECT_EQ(Health(channel, "backtest.v1.BacktestService"), "NOT_SERVING");
}

}  // namespace
}  // namespace backtest
