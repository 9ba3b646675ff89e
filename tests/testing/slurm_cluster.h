// A one-node Slurm cluster for tests of the Slurm runner backend: tests/slurm/cluster.sh's
// munged, slurmctld and slurmd in a private temp directory, stopped when the object goes (and,
// through the script's watcher, when the test process ends however it ends). Slurm comes from
// scripts/install-deps.sh; a cluster that cannot start is an error saying why, for the test to
// fail with.
#ifndef BACKTEST_TESTS_TESTING_SLURM_CLUSTER_H_
#define BACKTEST_TESTS_TESTING_SLURM_CLUSTER_H_

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/testing/project_dirs.h"
#include "tests/testing/temp_dir.h"

namespace backtest::testing {

// Runs `command` with sh; its exit status and what it wrote to stdout and stderr together.
struct CommandOutput {
  int status = -1;
  std::string output;
};
inline CommandOutput RunCommand(const std::string& command) {
  CommandOutput out;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return out;
  char buf[4096];
  for (size_t n; (n = ::fread(buf, 1, sizeof buf, pipe)) > 0;) out.output.append(buf, n);
  const int status = ::pclose(pipe);
  out.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

class SlurmCluster {
 public:
  // Starts a cluster. `slurmd_timeout_s` > 0: slurmctld sets a silent node down after it (and
  // fails its jobs) rather than after Slurm's default 300 s. SLURM_CONF is set in this process's
  // environment, so that the in-process server's srun and the tests' squeue use the cluster:
  // one cluster in use at a time per process (the one before is used again once this one goes).
  static absl::StatusOr<std::unique_ptr<SlurmCluster>> Start(int slurmd_timeout_s = 0) {
    std::unique_ptr<SlurmCluster> cluster(new SlurmCluster());
    const std::string env =
        slurmd_timeout_s > 0 ? absl::StrCat("SLURMD_TIMEOUT=", slurmd_timeout_s, " ") : "";
    CommandOutput started = RunCommand(absl::StrCat(env, "bash ", Script(), " start ",
                                                    cluster->dir(), " ", ::getpid()));
    if (started.status != 0) {
      return absl::UnavailableError(absl::StrCat(
          "the one-node Slurm cluster did not start (tests/slurm/cluster.sh, exit ",
          started.status, "): ", started.output));
    }
    if (const char* before = std::getenv("SLURM_CONF"); before != nullptr) {
      cluster->conf_before_ = before;
    }
    ::setenv("SLURM_CONF", cluster->conf().c_str(), 1);
    cluster->running_ = true;
    return cluster;
  }
  ~SlurmCluster() {
    if (!running_) return;
    RunCommand(absl::StrCat("bash ", Script(), " stop ", dir()));
    if (conf_before_.has_value()) {
      ::setenv("SLURM_CONF", conf_before_->c_str(), 1);
    } else {
      ::unsetenv("SLURM_CONF");
    }
  }
  SlurmCluster(const SlurmCluster&) = delete;
  SlurmCluster& operator=(const SlurmCluster&) = delete;

  std::string dir() const { return dir_.File("cluster"); }
  std::string conf() const { return dir() + "/slurm.conf"; }

  // The node's slurmd: killed with SIGKILL (its job steps' slurmstepd and tasks live on), and
  // started again (until the node is idle).
  int SlurmdPid() const {
    std::ifstream file(dir() + "/slurmd.pid");
    int pid = 0;
    file >> pid;
    return pid;
  }
  bool KillSlurmd() const {
    const int pid = SlurmdPid();
    return pid > 0 && ::kill(pid, SIGKILL) == 0;
  }
  absl::Status StartSlurmd() const {
    CommandOutput started = RunCommand(absl::StrCat("bash ", Script(), " node-start ", dir()));
    if (started.status != 0) {
      return absl::UnavailableError(absl::StrCat("slurmd did not start again: ", started.output));
    }
    return absl::OkStatus();
  }

  // The last lines of the daemons' logs, for a failure's message.
  std::string LogTails() const {
    return RunCommand(absl::StrCat("tail -n 15 ", dir(), "/log/slurmctld.log ", dir(),
                                   "/log/slurmd.log"))
        .output;
  }

  // The node's state as sinfo says ("idle", "mixed", "down*", …).
  std::string NodeState() const {
    std::string state = RunCommand("sinfo -h -o %T").output;
    while (!state.empty() && state.back() == '\n') state.pop_back();
    return state;
  }

  // The cluster's queue: job name → state ("RUNNING", …).
  std::map<std::string, std::string> Queue() const {
    std::map<std::string, std::string> queue;
    for (absl::string_view line :
         absl::StrSplit(RunCommand("squeue -h -o '%j %T'").output, '\n', absl::SkipEmpty())) {
      std::vector<std::string> fields = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (fields.size() == 2) queue[fields[0]] = fields[1];
    }
    return queue;
  }
  // The Slurm state of backtestd job `job_id`'s step; "" once it has left the queue.
  std::string StepState(const std::string& job_id) const {
    const auto queue = Queue();
    auto it = queue.find("backtestd-" + job_id);
    return it == queue.end() ? "" : it->second;
  }

  // The pid of backtestd job `job_id`'s runner on the node (this machine: its process whose
  // environment names the job's step); 0 when there is none.
  static int RunnerPidOnNode(const std::string& job_id) {
    const std::string name = "SLURM_JOB_NAME=backtestd-" + job_id;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string pid = entry.path().filename();
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream cmdline(entry.path() / "cmdline");
      std::string argv0;
      std::getline(cmdline, argv0, '\0');
      if (!argv0.ends_with("backtest-runner")) continue;
      std::ifstream environ(entry.path() / "environ");
      for (std::string var; std::getline(environ, var, '\0');) {
        if (var == name) return std::stoi(pid);
      }
    }
    return 0;
  }

 private:
  SlurmCluster() = default;
  static std::string Script() { return SourceDir() + "/tests/slurm/cluster.sh"; }

  TempDir dir_;
  bool running_ = false;
  std::optional<std::string> conf_before_;
};

}  // namespace backtest::testing

#endif  // BACKTEST_TESTS_TESTING_SLURM_CLUSTER_H_
