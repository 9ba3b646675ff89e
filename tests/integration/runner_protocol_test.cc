// The runner protocol's handshake through the whole job path (docs/runner-protocol.md): a job
// whose runner speaks an older protocol (version 1: no hello) or an unknown one fails with an
// error that says so, and its runner is stopped; the real runner's jobs finish, at their RunEnd
// rather than at their process's exit.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "tests/integration/test_server.h"
#include "tests/testing/project_dirs.h"

namespace backtest {
namespace {

using ::backtest::testing::PollUntil;
using ::backtest::testing::TestServer;
using ::testing::HasSubstr;

// A runner that writes `first_frame` (hex) to fd 3 as its first event, then waits on stdin
// (which the server keeps open) until it is killed.
std::string FakeRunner(const TestServer& server, const std::string& name,
                       const std::string& first_frame_hex) {
  const std::string path = server.dir().File(name);
  std::ofstream out(path);
  out << "#!/usr/bin/env python3\n"
         "import os, sys\n"
         "os.write(3, bytes.fromhex('" << first_frame_hex << "'))\n"
         "sys.stdin.buffer.read()\n";
  out.close();
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

// RunnerEvent frames, hand-encoded: a hello of version 3 (field 9: {1: 3, 2: "fake"}, seq 1),
// and a version-1 runner's first event, a heartbeat without a number (field 5: {1: 1}).
constexpr char kHelloOfVersion3[] = "0c000000" "4a08" "0803" "120466616b65" "7801";
constexpr char kVersion1Heartbeat[] = "04000000" "2a02" "0801";

std::string EndOf(TestServer& server, const std::string& id, backtest::v1::Job* job) {
  EXPECT_TRUE(PollUntil([&] {
    return server.GetJob(id, job).ok() && job->status() != "queued" && job->status() != "running";
  }));
  return job->status();
}

std::map<std::string, std::string> Params() {
  return {{"strategy", "sma_cross"}, {"symbols", "EURUSD"}, {"timeframe", "H1"},
          {"start_date", "2022-01-01"}, {"end_date", "2022-03-01"}};
}

TEST(RunnerProtocolTest, ARunnerOfAnUnknownVersionIsRefused) {
  TestServer server;
  server.options().workers = 1;
  server.options().runner_path = FakeRunner(server, "runner-v3", kHelloOfVersion3);
  server.Start();
  backtest::v1::Job job;
  EXPECT_EQ(EndOf(server, server.Submit(Params()), &job), "failed");
  EXPECT_THAT(job.error(), HasSubstr("runner protocol error"));
  EXPECT_THAT(job.error(), HasSubstr("speaks protocol version 3; this server speaks version 2"));
}

TEST(RunnerProtocolTest, ARunnerOfTheOlderProtocolIsRefused) {
  TestServer server;
  server.options().workers = 1;
  server.options().runner_path = FakeRunner(server, "runner-v1", kVersion1Heartbeat);
  server.Start();
  backtest::v1::Job job;
  EXPECT_EQ(EndOf(server, server.Submit(Params()), &job), "failed");
  EXPECT_THAT(job.error(), HasSubstr("older protocol (version 1"));
}

TEST(RunnerProtocolTest, TheRealRunnerSpeaksIt) {
  TestServer server;
  server.options().workers = 1;
  server.Start();
  backtest::v1::Job job;
  EXPECT_EQ(EndOf(server, server.Submit(Params()), &job), "finished") << job.error();
}

// The job is finished at the runner's RunEnd, not when its process has exited (a large run's
// teardown takes milliseconds): here the runner's process lives on for 30 s after its end. The
// server kills it after a grace period, and the worker runs the next job.
TEST(RunnerProtocolTest, AJobEndsAtItsRunEndNotAtItsRunnersExit) {
  TestServer server;
  server.options().workers = 1;
  const std::string path = server.dir().File("lingering-runner");
  std::ofstream out(path);
  out << "#!/bin/sh\n\"" << testing::BinDir() << "/backtest-runner\" \"$@\"\nexec sleep 30\n";
  out.close();
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  server.options().runner_path = path;
  server.Start();
  backtest::v1::Job job;
  ASSERT_EQ(EndOf(server, server.Submit(Params()), &job), "finished") << job.error();
  int pid = 0;
  ASSERT_TRUE(absl::SimpleAtoi(absl::StripPrefix(job.runner(), "local pid "), &pid)) << job.runner();
  EXPECT_EQ(::kill(pid, 0), 0) << "the runner's process had exited before its job finished";
  EXPECT_TRUE(PollUntil([&] { return ::kill(pid, 0) != 0; }, 20)) << "the runner was left running";
  EXPECT_EQ(EndOf(server, server.Submit(Params()), &job), "finished") << job.error();
}

}  // namespace
}  // namespace backtest
