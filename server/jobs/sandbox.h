// The sandbox that user strategies (kinds `sdk` and `backtrader`) run in: bubblewrap for the
// namespaces and the filesystem view, backtest-sandbox-exec inside it for the uid, the rlimits
// and the seccomp filter (docs/sandbox.md says what is allowed and denied, and why).
//
// A Sandbox is probed once (Detect, when the job manager starts) and then only builds command
// lines: RunnerProcess::Spawn(sandbox.Build(command), …) starts a sandboxed runner with the usual
// pipes (the spec on stdin, events on fd 3, stdout and stderr captured). Immutable after Detect,
// so thread-safe. Owned by the job manager.
#ifndef BACKTEST_SERVER_JOBS_SANDBOX_H_
#define BACKTEST_SERVER_JOBS_SANDBOX_H_

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "server/jobs/runner_process.h"

namespace backtest::jobs {

// What a sandboxed process may use. Each is a hard rlimit set inside the sandbox before the
// command starts, so the command cannot raise it; 0 means no limit (tmp_mb excepted).
struct SandboxLimits {
  int64_t cpu_seconds = 600;   // RLIMIT_CPU, per process: SIGXCPU at N s, SIGKILL at N + 1
  int64_t memory_mb = 2048;    // RLIMIT_AS, per process
  int64_t open_files = 256;    // RLIMIT_NOFILE
  int64_t processes = 64;      // RLIMIT_NPROC: processes and threads of the sandbox's user
  int64_t file_size_mb = 256;  // RLIMIT_FSIZE: the largest file it may write
  int64_t tmp_mb = 256;        // the size of its private /tmp (a tmpfs; must be > 0)
};

// The server's sandbox settings.
struct SandboxOptions {
  // bubblewrap; a name without a slash is looked up on the PATH.
  std::string bwrap_path = "bwrap";
  // backtest-sandbox-exec (built with backtestd); empty: the one beside the runner.
  std::string exec_path;
  // --unsafe-no-sandbox: when bubblewrap is not usable, run user strategies anyway, with the
  // rlimits, seccomp filter and scrubbed environment but no namespaces, as the server's user.
  bool allow_unsandboxed = false;
  // The user and group the command runs as when the server runs as root (bubblewrap then runs
  // privileged and backtest-sandbox-exec switches to them). Unprivileged servers run the command
  // as themselves inside a user namespace of their own, as uid/gid 65534 there.
  uid_t uid = 65534;
  gid_t gid = 65534;
  // The user of worker N's job runners when the server is root: worker_uid_base + N (each worker
  // its own uid, so that RLIMIT_NPROC, which counts a uid's processes across the host, is each
  // worker's: a fork bomb in one job fills its worker's count, not every job's). 0: `uid` for
  // all. The default is above the ranges systems allocate (login users, system users, systemd's
  // dynamic users and containers: up to 1879048191); the group stays `gid`.
  uid_t worker_uid_base = 1'900'000'000;
  // How bubblewrap creates the namespaces; kAuto: kPrivileged when the server runs as root.
  enum class Mode { kAuto, kPrivileged, kUserNamespace };
  Mode mode = Mode::kAuto;
};

// One process to run in the sandbox.
struct SandboxedCommand {
  // argv; args[0] is the program, an absolute path. The install it comes from (its prefix, and
  // for a Python virtual environment the venv and its base interpreter) is made visible
  // read-only at the same path.
  std::vector<std::string> args;
  // The strategy folder, visible read-only at /strategy and the working directory; empty: none
  // (the working directory is then /tmp).
  std::string strategy_dir;
  // More host paths visible read-only at the same path (a package the program imports…).
  std::vector<std::string> read_only_paths;
  // The environment besides the sandbox's own (SandboxEnvironment); a name given here wins.
  std::vector<std::pair<std::string, std::string>> env;
  SandboxLimits limits;
  // The user it runs as when the server is root (Sandbox::WorkerUid); unset: SandboxOptions::uid.
  // Ignored otherwise: an unprivileged server's sandboxes each have a user namespace of their
  // own, where uid 65534's process count is the sandbox's.
  std::optional<uid_t> uid;
};

// Where the strategy folder is inside the sandbox.
inline constexpr char kSandboxStrategyDir[] = "/strategy";

// The environment every sandboxed process starts from: PATH, HOME and TMPDIR (/tmp), LANG,
// USER and LOGNAME, and one thread for the numeric libraries (their threads count against
// `processes`). Nothing of the server's environment.
std::vector<std::pair<std::string, std::string>> SandboxEnvironment();

class Sandbox {
 public:
  // Finds bubblewrap and backtest-sandbox-exec and runs the sandbox once with every namespace
  // and limit (a few milliseconds), so that an unusable sandbox is known before any job needs
  // it, with the reason. Never fails: usable() says how it went. Call it from a thread that
  // outlives the probe (it is waited for here).
  static Sandbox Detect(SandboxOptions options);

  // Whether bubblewrap works here; when not, unusable_reason() says why.
  bool usable() const { return usable_; }
  const std::string& unusable_reason() const { return reason_; }
  // Whether Build gives a command at all: usable, or not usable but allowed unsandboxed.
  bool runs_commands() const { return usable_ || options_.allow_unsandboxed; }
  // Privileged (the server is root) or user-namespace mode, as resolved by Detect.
  bool privileged() const { return privileged_; }
  const SandboxOptions& options() const { return options_; }

  // The command line that runs `command` in the sandbox (for RunnerProcess::Spawn).
  // FailedPrecondition when bubblewrap is not usable and the server was not started with
  // --unsafe-no-sandbox (the message says why and what to do); InvalidArgument when args[0] is
  // not an absolute path, a read-only path does not exist, the strategy folder is not a directory
  // or (privileged) not readable by the sandbox's user, or tmp_mb is not positive.
  absl::StatusOr<ProcessCommand> Build(const SandboxedCommand& command) const;
  // Where the command sees `strategy_dir`: /strategy in the sandbox, its own path unsandboxed.
  std::string VisibleStrategyDir(const std::string& strategy_dir) const;
  // The user of worker `worker`'s runners (SandboxedCommand::uid): worker_uid_base + worker, or
  // `uid` when worker_uid_base is 0.
  uid_t WorkerUid(int worker) const;

 private:
  Sandbox() = default;
  absl::StatusOr<ProcessCommand> BuildBwrap(const SandboxedCommand& command,
                                            std::vector<std::string> env) const;
  absl::StatusOr<ProcessCommand> BuildUnsandboxed(const SandboxedCommand& command,
                                                  std::vector<std::string> env) const;
  // backtest-sandbox-exec's arguments up to and including "--".
  std::vector<std::string> ExecArgs(const SandboxLimits& limits, bool switch_user,
                                    uid_t uid) const;

  SandboxOptions options_;
  std::string bwrap_;  // resolved path
  bool usable_ = false;
  bool privileged_ = false;
  std::string reason_;
};

// Why a sandboxed process ended, in words, or "" when it exited 0: the limit a signal enforced
// ("CPU time limit of 600 s exceeded", "file size limit of 256 MB exceeded"), "killed by SIGSEGV",
// "exited with code 1". `exit` as RunnerProcess::Wait gives it (signals decoded).
std::string DescribeSandboxedExit(const ExitInfo& exit, const SandboxLimits& limits);

}  // namespace backtest::jobs

#endif  // BACKTEST_SERVER_JOBS_SANDBOX_H_
