// The Slurm backend's srun command: one task on one node named after the job, the job's limits
// asked of Slurm (the runner applies them from its spec), events on stdout, SIGTERM for a kill.
#include "server/jobs/slurm.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace backtest::jobs {
namespace {

using ::backtest::testing::IsOk;
using ::backtest::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(SlurmTest, TheStepRunsTheRunnerWithTheJobsLimitsAndNameAndSendsEventsOnStdout) {
  SlurmOptions options{.partition = "cpu", .account = "quant", .extra_args = {"--exclusive"},
                       .srun = "/bin/true"};
  auto command = SlurmRunnerCommand(options, "/opt/bin/backtest-runner",
                                    {.cpu_seconds = 600, .memory_mb = 2048}, "abc123");
  ASSERT_THAT(command, IsOk());
  EXPECT_EQ(command->path, "/bin/true");
  EXPECT_THAT(command->args,
              ElementsAre("/bin/true", "--unbuffered", "--quiet", "--nodes=1", "--ntasks=1",
                          "--cpus-per-task=1", "--job-name=backtestd-abc123", "--mem=2048M",
                          "--time=11", "--partition=cpu", "--account=quant", "--exclusive", "--",
                          "/opt/bin/backtest-runner", "--events-fd", "1"));
  EXPECT_TRUE(command->events_on_stdout);
  EXPECT_EQ(command->kill_signal, SIGTERM);
  EXPECT_FALSE(command->env.empty());  // SLURM_CONF and PATH go through
}

TEST(SlurmTest, AStepRunsAnyProgramWithItsCpus) {
  // A strategy's sandboxed runner, the sandbox's command line whole; a sweep step of 4 CPUs.
  auto command = SlurmStepCommand({.srun = "/bin/true"},
                                  {"/opt/bin/backtest-sandbox-exec", "--reap", "--", "/usr/bin/bwrap",
                                   "--", "python", "--events-fd", "1"},
                                  {}, "j", 4);
  ASSERT_THAT(command, IsOk());
  EXPECT_THAT(command->args,
              ElementsAre("/bin/true", "--unbuffered", "--quiet", "--nodes=1", "--ntasks=1",
                          "--cpus-per-task=4", "--job-name=backtestd-j", "--",
                          "/opt/bin/backtest-sandbox-exec", "--reap", "--", "/usr/bin/bwrap", "--",
                          "python", "--events-fd", "1"));
  EXPECT_TRUE(command->events_on_stdout);
}

TEST(SlurmTest, NoLimitsAskNothingOfSlurm) {
  auto command = SlurmRunnerCommand({.srun = "/bin/true"}, "/r", {}, "j");
  ASSERT_THAT(command, IsOk());
  for (const std::string& arg : command->args) {
    EXPECT_THAT(arg, ::testing::Not(HasSubstr("--mem")));
    EXPECT_THAT(arg, ::testing::Not(HasSubstr("--time")));
  }
}

TEST(SlurmTest, AMissingSrunIsAClearError) {
  EXPECT_THAT(SlurmRunnerCommand({.srun = "no-such-srun-here"}, "/r", {}, "j"),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no-such-srun-here not found")));
}

}  // namespace
}  // namespace backtest::jobs
