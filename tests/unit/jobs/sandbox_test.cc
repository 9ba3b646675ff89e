// The sandbox of user strategies: the bubblewrap command it builds, its refusal when bubblewrap
// is not usable, and a real sandboxed process through RunnerProcess (the runner's pipes). The
// hostile programs are tests/e2e/sandbox_e2e.sh. bubblewrap must be installed
// (scripts/install-deps.sh): without it these tests fail, they do not skip.
#include "server/jobs/sandbox.h"

#include <signal.h>
#include <stdlib.h>
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/run_process.h"
#include "tests/testing/project_dirs.h"
#include "tests/testing/temp_dir.h"

namespace backtest::jobs {
namespace {

using ::backtest::testing::BinDir;
using ::backtest::testing::BuildPython;
using ::backtest::testing::SourceDir;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

SandboxOptions Options(SandboxOptions::Mode mode = SandboxOptions::Mode::kAuto) {
  SandboxOptions o;
  o.exec_path = BinDir() + "/backtest-sandbox-exec";
  o.mode = mode;
  return o;
}

// The command line's parts: backtest-sandbox-exec --reap -- BWRAP ARGS -- INNER.
struct Parts {
  std::vector<std::string> reaper, bwrap, inner;
};
Parts Split(const std::vector<std::string>& args) {
  Parts parts;
  auto first = std::find(args.begin(), args.end(), "--");
  if (first == args.end()) return parts;
  auto second = std::find(first + 1, args.end(), "--");
  parts.reaper.assign(args.begin(), first);
  parts.bwrap.assign(first + 1, second);
  if (second != args.end()) parts.inner.assign(second + 1, args.end());
  return parts;
}

// The values that follow each occurrence of `flag` (`count` of them) in bubblewrap's arguments.
std::vector<std::vector<std::string>> FlagValues(const std::vector<std::string>& command,
                                                 const std::string& flag, int count) {
  std::vector<std::vector<std::string>> values;
  const std::vector<std::string> args = Split(command).bwrap;
  for (auto it = args.begin(); it != args.end(); ++it) {
    const auto end = args.end();
    if (*it != flag || end - it <= count) continue;
    values.emplace_back(it + 1, it + 1 + count);
  }
  return values;
}

class SandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    strategy_ = dir_.File("strategy");
    std::filesystem::create_directories(strategy_);
    chmod(dir_.path().c_str(), 0755);
    chmod(strategy_.c_str(), 0755);
  }
  void WriteStrategyFile(const std::string& name, const std::string& text) {
    std::ofstream(strategy_ + "/" + name) << text;
    chmod((strategy_ + "/" + name).c_str(), 0644);
  }

  testing::TempDir dir_;
  std::string strategy_;
};

TEST_F(SandboxTest, BubblewrapIsUsableHere) {
  Sandbox sandbox = Sandbox::Detect(Options());
  EXPECT_TRUE(sandbox.usable()) << "install bubblewrap (scripts/install-deps.sh): "
                                << sandbox.unusable_reason();
}

TEST_F(SandboxTest, PrivilegedCommandUnsharesEverythingAndShowsOnlyWhatItNeeds) {
  Sandbox sandbox = Sandbox::Detect(Options(SandboxOptions::Mode::kPrivileged));
  ASSERT_TRUE(sandbox.usable()) << sandbox.unusable_reason();
  const std::string db_dir = dir_.File("var");
  std::filesystem::create_directories(db_dir);
  auto command = sandbox.Build({.args = {BuildPython(), "-c", "pass"},
                                .strategy_dir = strategy_,
                                .env = {{"RR", "2.5"}},
                                .limits = {.cpu_seconds = 7, .memory_mb = 300, .open_files = 40,
                                           .processes = 9, .file_size_mb = 5, .tmp_mb = 11}});
  ASSERT_TRUE(command.ok()) << command.status();
  const std::vector<std::string>& a = command->args;
  EXPECT_EQ(a[0], command->path);
  EXPECT_TRUE(command->signal_in_exit_code);
  // bubblewrap runs under backtest-sandbox-exec --reap, the sandbox's subreaper.
  const Parts parts = Split(a);
  EXPECT_EQ(parts.reaper, (std::vector<std::string>{BinDir() + "/backtest-sandbox-exec", "--reap"}));
  ASSERT_FALSE(parts.bwrap.empty());
  EXPECT_EQ(std::filesystem::path(parts.bwrap[0]).filename(), "bwrap");
  // bubblewrap itself inherits nothing from the server.
  EXPECT_TRUE(command->env.empty());
  for (const char* flag : {"--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                           "--die-with-parent", "--new-session", "--clearenv"}) {
    EXPECT_THAT(parts.bwrap, Contains(flag));
  }
  EXPECT_THAT(FlagValues(a, "--cap-drop", 1), Contains(std::vector<std::string>{"ALL"}));
  std::set<std::string> added;
  for (const auto& v : FlagValues(a, "--cap-add", 1)) added.insert(v[0]);
  EXPECT_EQ(added, (std::set<std::string>{"CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"}));
  // The environment: the sandbox's own and the command's, nothing else.
  std::map<std::string, std::string> env;
  for (const auto& v : FlagValues(a, "--setenv", 2)) env[v[0]] = v[1];
  const auto base_env = SandboxEnvironment();
  std::map<std::string, std::string> expected(base_env.begin(), base_env.end());
  expected["RR"] = "2.5";
  EXPECT_EQ(env, expected);
  // Read-only: the system, the interpreter's venv and its base install (not the home folder it
  // is in), the strategy; nothing writable but /tmp, a tmpfs of its own size.
  std::map<std::string, std::string> ro;
  for (const auto& v : FlagValues(a, "--ro-bind", 2)) ro[v[1]] = v[0];
  EXPECT_EQ(ro["/usr"], "/usr");
  EXPECT_EQ(ro["/strategy"], strategy_);
  EXPECT_EQ(ro[SourceDir() + "/build/venv"], SourceDir() + "/build/venv");
  const std::string base = std::filesystem::canonical(BuildPython()).parent_path().parent_path();
  if (!absl::StartsWith(base, "/usr")) {
    EXPECT_EQ(ro[base], base);
  }
  for (const auto& [dest, src] : ro) {
    EXPECT_FALSE(dest == "/" || dest == "/root" || dest == "/home" || dest == "/var" ||
                 dest == "/work" || dest == SourceDir() || dest == SourceDir() + "/var")
        << dest;
    EXPECT_FALSE(absl::StartsWith(src, dir_.path().string()) && src != strategy_) << src;
  }
  EXPECT_THAT(FlagValues(a, "--bind", 2), ::testing::IsEmpty());
  EXPECT_THAT(FlagValues(a, "--dev-bind", 2), ::testing::IsEmpty());
  EXPECT_THAT(FlagValues(a, "--size", 1), Contains(std::vector<std::string>{"11534336"}));
  EXPECT_THAT(FlagValues(a, "--tmpfs", 1), Contains(std::vector<std::string>{"/tmp"}));
  EXPECT_THAT(FlagValues(a, "--remount-ro", 1), Contains(std::vector<std::string>{"/"}));
  EXPECT_THAT(FlagValues(a, "--remount-ro", 1), Contains(std::vector<std::string>{"/dev"}));
  // The command: backtest-sandbox-exec switches to the sandbox's user and sets the limits.
  EXPECT_EQ(absl::StrJoin(parts.inner, " "),
            absl::StrCat("/run/backtestd/sandbox-exec --uid 65534 --gid 65534 --cpu-seconds 7 "
                         "--memory-mb 300 --open-files 40 --processes 9 --file-size-mb 5 -- ",
                         BuildPython(), " -c pass"));
}

// Each worker's runners run as a user of their own (RLIMIT_NPROC counts per uid): worker N's as
// worker_uid_base + N, the group unchanged; a command without a uid as SandboxOptions::uid.
TEST_F(SandboxTest, PrivilegedWorkersRunAsUsersOfTheirOwn) {
  Sandbox sandbox = Sandbox::Detect(Options(SandboxOptions::Mode::kPrivileged));
  ASSERT_TRUE(sandbox.usable()) << sandbox.unusable_reason();
  EXPECT_EQ(sandbox.WorkerUid(0), 1'900'000'000u);
  EXPECT_EQ(sandbox.WorkerUid(3), 1'900'000'003u);
  auto command = sandbox.Build({.args = {BuildPython(), "-c", "import os; print(os.getuid(), os.getgid())"},
                                .uid = sandbox.WorkerUid(3)});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_THAT(Split(command->args).inner,
              ::testing::IsSupersetOf({"--uid", "1900000003", "--gid", "65534"}));
  auto process = RunnerProcess::Spawn(*command, 0, "");
  ASSERT_TRUE(process.ok()) << process.status();
  std::string out;
  char buf[256];
  while (true) {
    pollfd pfd{process->stdout_fd(), POLLIN, 0};
    if (::poll(&pfd, 1, 30'000) <= 0) break;
    const ssize_t n = ::read(process->stdout_fd(), buf, sizeof buf);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) break;
    if (n > 0) out.append(buf, static_cast<size_t>(n));
  }
  EXPECT_TRUE(process->Wait().exited);
  EXPECT_EQ(out, "1900000003 65534\n");
  SandboxOptions o = Options(SandboxOptions::Mode::kPrivileged);
  o.worker_uid_base = 0;
  EXPECT_EQ(Sandbox::Detect(o).WorkerUid(3), 65534u);
}

TEST_F(SandboxTest, UserNamespaceCommandRunsAsAnUnmappedUserWithoutCapabilities) {
  Sandbox sandbox = Sandbox::Detect(Options(SandboxOptions::Mode::kUserNamespace));
  ASSERT_TRUE(sandbox.usable()) << sandbox.unusable_reason();
  auto command = sandbox.Build({.args = {BuildPython()}});
  ASSERT_TRUE(command.ok()) << command.status();
  const std::vector<std::string>& a = command->args;
  const Parts parts = Split(a);
  EXPECT_THAT(parts.bwrap, Contains("--unshare-user"));
  EXPECT_THAT(parts.bwrap, Contains("--disable-userns"));
  EXPECT_THAT(FlagValues(a, "--uid", 1), Contains(std::vector<std::string>{"65534"}));
  EXPECT_THAT(FlagValues(a, "--cap-add", 1), ::testing::IsEmpty());
  EXPECT_THAT(parts.inner, Not(Contains("--uid")));
  // No strategy folder: the working directory is the private /tmp.
  EXPECT_THAT(FlagValues(a, "--chdir", 1), Contains(std::vector<std::string>{"/tmp"}));
}

TEST_F(SandboxTest, WithoutBubblewrapUserStrategiesAreRefusedWithTheReason) {
  SandboxOptions o = Options();
  o.bwrap_path = dir_.File("no-such-bwrap");
  Sandbox sandbox = Sandbox::Detect(o);
  EXPECT_FALSE(sandbox.usable());
  EXPECT_FALSE(sandbox.runs_commands());
  EXPECT_THAT(sandbox.unusable_reason(), HasSubstr("bubblewrap is not installed"));
  auto command = sandbox.Build({.args = {BuildPython()}, .strategy_dir = strategy_});
  EXPECT_EQ(command.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(command.status().message(), HasSubstr("bubblewrap is not installed"));
  EXPECT_THAT(command.status().message(), HasSubstr("--unsafe-no-sandbox"));
}

TEST_F(SandboxTest, BubblewrapThatCannotCreateItsNamespacesIsNotUsable) {
  // What bubblewrap says where the kernel forbids unprivileged user namespaces.
  const std::string fake = dir_.File("bwrap");
  std::ofstream(fake) << "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
                         "exit 1\n";
  chmod(fake.c_str(), 0755);
  SandboxOptions o = Options();
  o.bwrap_path = fake;
  Sandbox sandbox = Sandbox::Detect(o);
  EXPECT_FALSE(sandbox.usable());
  EXPECT_THAT(sandbox.unusable_reason(), HasSubstr("No permissions to create new namespace"));
  EXPECT_EQ(sandbox.Build({.args = {BuildPython()}}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST_F(SandboxTest, UnsafeNoSandboxRunsWithLimitsAndAScrubbedEnvironmentOnly) {
  setenv("BACKTEST_SANDBOX_TEST_SECRET", "s3cr3t-unsafe", 1);
  SandboxOptions o = Options();
  o.bwrap_path = dir_.File("no-such-bwrap");
  o.allow_unsandboxed = true;
  Sandbox sandbox = Sandbox::Detect(o);
  EXPECT_FALSE(sandbox.usable());
  EXPECT_TRUE(sandbox.runs_commands());
  EXPECT_EQ(sandbox.VisibleStrategyDir(strategy_), strategy_);
  WriteStrategyFile("env.py",
                    "import os, resource\n"
                    "print(sorted(os.environ))\n"
                    "print(os.getcwd())\n"
                    "print(resource.getrlimit(resource.RLIMIT_NPROC))\n");
  auto command = sandbox.Build({.args = {BuildPython(), "env.py"},
                                .strategy_dir = strategy_,
                                .limits = {.processes = 50}});
  ASSERT_TRUE(command.ok()) << command.status();
  EXPECT_EQ(command->path, o.exec_path);
  auto process = RunnerProcess::Spawn(*command, 0, "");
  ASSERT_TRUE(process.ok()) << process.status();
  testing::ProcessRun run = testing::RunToEnd(*process, 60);
  ASSERT_TRUE(run.exit.exited && run.exit.code == 0) << absl::StrJoin(run.stderr_lines, "\n");
  ASSERT_EQ(run.stdout_lines.size(), 3u);
  std::vector<std::string> names;
  for (const auto& [name, value] : SandboxEnvironment()) names.push_back("'" + name + "'");
  std::sort(names.begin(), names.end());
  // Python adds LC_CTYPE when it coerces the C locale; nothing else is there.
  EXPECT_THAT(run.stdout_lines[0], Not(HasSubstr("BACKTEST_SANDBOX_TEST_SECRET")));
  for (const std::string& name : names) EXPECT_THAT(run.stdout_lines[0], HasSubstr(name));
  EXPECT_EQ(run.stdout_lines[1], strategy_);
  EXPECT_EQ(run.stdout_lines[2], "(50, 50)");
}

TEST_F(SandboxTest, BuildRejectsWhatItCannotShowSafely) {
  Sandbox sandbox = Sandbox::Detect(Options(SandboxOptions::Mode::kPrivileged));
  ASSERT_TRUE(sandbox.usable()) << sandbox.unusable_reason();
  EXPECT_EQ(sandbox.Build({.args = {"python3"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sandbox.Build({.args = {BuildPython()}, .read_only_paths = {dir_.File("missing")}})
                .status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sandbox.Build({.args = {BuildPython()}, .read_only_paths = {"/"}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(sandbox.Build({.args = {BuildPython()}, .limits = {.tmp_mb = 0}}).status().code(),
            absl::StatusCode::kInvalidArgument);
  // The sandbox's user could not read a folder only its owner may enter.
  chmod(strategy_.c_str(), 0700);
  auto hidden = sandbox.Build({.args = {BuildPython()}, .strategy_dir = strategy_});
  EXPECT_EQ(hidden.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(hidden.status().message(), HasSubstr("not readable by the sandbox's user"));
}

// A real sandboxed process with the runner's pipes: the spec on stdin, frames on fd 3, stdout
// and stderr captured; the server's environment, user and files out of sight.
TEST_F(SandboxTest, SandboxedProcessGetsTheRunnerPipesAndNothingOfTheServer) {
  setenv("BACKTEST_SANDBOX_TEST_SECRET", "s3cr3t-sandboxed", 1);
  Sandbox sandbox = Sandbox::Detect(Options());
  ASSERT_TRUE(sandbox.usable()) << sandbox.unusable_reason();
  EXPECT_EQ(sandbox.VisibleStrategyDir(strategy_), "/strategy");
  std::ofstream(dir_.File("secret.token")) << "not for the sandbox\n";
  WriteStrategyFile("runner.py",
                    "import os, sys, json\n"
                    "spec = sys.stdin.buffer.read()\n"
                    "os.write(3, b'frame:' + spec)\n"
                    "print(json.dumps({'uid': os.getuid(), 'cwd': os.getcwd(),\n"
                    "  'env': dict(os.environ), 'pid': os.getpid(),\n"
                    "  'token': os.path.exists(sys.argv[1]), 'fds': sorted(os.listdir('/proc/self/fd'))}))\n"
                    "print('to stderr', file=sys.stderr)\n"
                    "open('/tmp/scratch', 'w').write('x')\n");
  auto command = sandbox.Build({.args = {BuildPython(), "runner.py", dir_.File("secret.token")},
                                .strategy_dir = strategy_,
                                .env = {{"BACKTEST_JOB", "1"}}});
  ASSERT_TRUE(command.ok()) << command.status();
  auto process = RunnerProcess::Spawn(*command, 0, "the spec");
  ASSERT_TRUE(process.ok()) << process.status();
  testing::ProcessRun run = testing::RunToEnd(*process, 60);
  ASSERT_TRUE(run.exit.exited) << DescribeSignal(run.exit.signal);
  ASSERT_EQ(run.exit.code, 0) << absl::StrJoin(run.stderr_lines, "\n");
  EXPECT_EQ(run.events, "frame:the spec");
  EXPECT_EQ(run.stderr_lines, std::vector<std::string>{"to stderr"});
  ASSERT_EQ(run.stdout_lines.size(), 1u);
  const std::string& out = run.stdout_lines[0];
  EXPECT_THAT(out, HasSubstr("\"uid\": 65534"));
  EXPECT_THAT(out, HasSubstr("\"cwd\": \"/strategy\""));
  EXPECT_THAT(out, HasSubstr("\"BACKTEST_JOB\": \"1\""));
  EXPECT_THAT(out, Not(HasSubstr("s3cr3t-sandboxed")));
  EXPECT_THAT(out, HasSubstr("\"token\": false"));
  // Its own pid namespace (bubblewrap's init is 1), and only the runner's descriptors (the
  // listing's own is the fifth).
  EXPECT_THAT(out, HasSubstr("\"pid\": 2"));
  EXPECT_THAT(out, HasSubstr("\"fds\": [\"0\", \"1\", \"2\", \"3\", \"4\"]"));
}

TEST_F(SandboxTest, ExitByASignalIsReportedAsThatSignal) {
  Sandbox sandbox = Sandbox::Detect(Options());
  ASSERT_TRUE(sandbox.usable()) << sandbox.unusable_reason();
  auto command = sandbox.Build(
      {.args = {BuildPython(), "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"}});
  ASSERT_TRUE(command.ok()) << command.status();
  auto process = RunnerProcess::Spawn(*command, 0, "");
  ASSERT_TRUE(process.ok()) << process.status();
  testing::ProcessRun run = testing::RunToEnd(*process, 60);
  EXPECT_FALSE(run.exit.exited);
  EXPECT_EQ(run.exit.signal, SIGSEGV);
  EXPECT_EQ(DescribeSandboxedExit(run.exit, {}), "killed by SIGSEGV");
}

// The CPU time of everything in the sandbox reaches the server's wait (bubblewrap alone would
// leave its pid 1 unreaped and lose it), and the CPU limit ends a busy loop with SIGXCPU.
TEST_F(SandboxTest, CpuTimeOfTheSandboxReachesTheServerAndItsLimitHolds) {
  Sandbox sandbox = Sandbox::Detect(Options());
  ASSERT_TRUE(sandbox.usable()) << sandbox.unusable_reason();
  auto command = sandbox.Build({.args = {BuildPython(), "-c", "while True: pass"},
                                .limits = {.cpu_seconds = 1}});
  ASSERT_TRUE(command.ok()) << command.status();
  auto process = RunnerProcess::Spawn(*command, 0, "");
  ASSERT_TRUE(process.ok()) << process.status();
  testing::ProcessRun run = testing::RunToEnd(*process, 60);
  EXPECT_FALSE(run.exit.exited);
  EXPECT_EQ(run.exit.signal, SIGXCPU);
  EXPECT_GT(run.exit.cpu_seconds, 0.5);
  EXPECT_EQ(DescribeSandboxedExit(run.exit, {.cpu_seconds = 1}), "CPU time limit of 1 s exceeded");
}

TEST(DescribeSandboxedExitTest, NamesTheLimitThatEndedIt) {
  SandboxLimits limits = {.cpu_seconds = 3, .file_size_mb = 8};
  EXPECT_EQ(DescribeSandboxedExit({.exited = true, .code = 0}, limits), "");
  EXPECT_EQ(DescribeSandboxedExit({.exited = true, .code = 1}, limits), "exited with code 1");
  EXPECT_EQ(DescribeSandboxedExit({.signal = SIGXCPU}, limits), "CPU time limit of 3 s exceeded");
  EXPECT_EQ(DescribeSandboxedExit({.signal = SIGKILL, .cpu_seconds = 3.9}, limits),
            "CPU time limit of 3 s exceeded");
  EXPECT_EQ(DescribeSandboxedExit({.signal = SIGKILL, .cpu_seconds = 0.1}, limits),
            "killed by SIGKILL");
  EXPECT_EQ(DescribeSandboxedExit({.signal = SIGXFSZ}, limits), "file size limit of 8 MB exceeded");
}

}  // namespace
}  // namespace backtest::jobs
