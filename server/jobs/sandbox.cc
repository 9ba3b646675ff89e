#include "server/jobs/sandbox.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace backtest::jobs {
namespace {

namespace fs = std::filesystem;

// Where backtest-sandbox-exec is inside the sandbox.
constexpr char kExecInside[] = "/run/backtestd/sandbox-exec";
// The system an interpreter needs, read-only. /usr holds the programs and libraries (Debian's
// /bin, /sbin and /lib* are links into it); from /etc only what the dynamic loader and the
// C library read: no passwd, no shadow, no hosts or resolver (there is no network), no ssl.
constexpr const char* kTopLevelLinks[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
constexpr const char* kEtcFiles[] = {"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
                                     "/etc/localtime", "/etc/alternatives"};
// Paths the system binds above already cover.
constexpr const char* kSystemRoots[] = {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
                                        "/libx32", "/etc"};

bool Under(const std::string& path, const std::string& root) {
  return path == root || absl::StartsWith(path, root + "/");
}

bool IsSystemPath(const std::string& path) {
  for (const char* root : kSystemRoots) {
    if (Under(path, root)) return true;
  }
  return false;
}

// The installs `program` comes from: the prefix of the file it resolves to (…/bin/x → …), and
// for a Python virtual environment (bin/ beside pyvenv.cfg) the venv and the prefix of its
// `home` interpreter: /root/.pyenv/versions/3.11.7, not /root.
std::vector<std::string> InstallPaths(const std::string& program) {
  std::vector<std::string> paths;
  std::error_code ec;
  auto prefix_of = [](const fs::path& binary) {
    fs::path dir = binary.parent_path();
    return dir.filename() == "bin" ? dir.parent_path() : dir;
  };
  const fs::path lexical = fs::path(program).lexically_normal();
  const fs::path venv = lexical.parent_path().parent_path();
  if (fs::exists(venv / "pyvenv.cfg", ec)) {
    paths.push_back(venv.string());
    std::ifstream cfg(venv / "pyvenv.cfg");
    std::string line;
    while (std::getline(cfg, line)) {
      std::pair<std::string, std::string> kv = absl::StrSplit(line, absl::MaxSplits('=', 1));
      if (absl::StripAsciiWhitespace(kv.first) != "home") continue;
      fs::path home = fs::canonical(std::string(absl::StripAsciiWhitespace(kv.second)), ec);
      if (!ec) paths.push_back(home.filename() == "bin" ? home.parent_path().string()
                                                         : home.string());
    }
  }
  fs::path real = fs::canonical(lexical, ec);
  if (!ec) paths.push_back(prefix_of(real).string());
  return paths;
}

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.empty() ? "no message" : line;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> SandboxEnvironment() {
  return {{"PATH", "/usr/local/bin:/usr/bin:/bin"},
          {"HOME", "/tmp"},
          {"TMPDIR", "/tmp"},
          {"LANG", "C.UTF-8"},
          {"USER", "sandbox"},
          {"LOGNAME", "sandbox"},
          {"OMP_NUM_THREADS", "1"},
          {"OPENBLAS_NUM_THREADS", "1"},
          {"MKL_NUM_THREADS", "1"},
          {"PYTHONDONTWRITEBYTECODE", "1"}};
}

Sandbox Sandbox::Detect(SandboxOptions options) {
  Sandbox sandbox;
  sandbox.options_ = std::move(options);
  const SandboxOptions& o = sandbox.options_;
  sandbox.privileged_ = o.mode == SandboxOptions::Mode::kPrivileged ||
                        (o.mode == SandboxOptions::Mode::kAuto && geteuid() == 0);
  if (o.exec_path.empty() || access(o.exec_path.c_str(), X_OK) != 0) {
    sandbox.reason_ = absl::StrCat("backtest-sandbox-exec not found at '", o.exec_path,
                                   "' (it is built with backtestd)");
    return sandbox;
  }
  sandbox.bwrap_ = FindOnPath(o.bwrap_path);
  if (sandbox.bwrap_.empty()) {
    sandbox.reason_ = absl::StrCat("bubblewrap is not installed ('", o.bwrap_path,
                                   "' not found; Debian package bubblewrap)");
    return sandbox;
  }
  // The real thing once: every namespace, the user switch, the limits and the seccomp filter.
  sandbox.usable_ = true;
  auto command = sandbox.Build({.args = {"/usr/bin/true"}});
  sandbox.usable_ = false;
  if (!command.ok()) {
    sandbox.reason_ = std::string(command.status().message());
    return sandbox;
  }
  auto process = RunnerProcess::Spawn(*command, 0, "");
  if (!process.ok()) {
    sandbox.reason_ = absl::StrCat("cannot start ", sandbox.bwrap_, ": ",
                                   process.status().message());
    return sandbox;
  }
  std::string err;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!process->all_closed() && std::chrono::steady_clock::now() < deadline) {
    pollfd fds[3];
    int n = 0;
    for (int fd : {process->events_fd(), process->stdout_fd(), process->stderr_fd()}) {
      if (fd >= 0) fds[n++] = {fd, POLLIN, 0};
    }
    if (::poll(fds, n, 100) <= 0) continue;
    for (int i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = ::read(fds[i].fd, buf, sizeof buf);
      if (got > 0 && fds[i].fd == process->stderr_fd() && err.size() < 4096) err.append(buf, got);
      if (got == 0) process->CloseFd(fds[i].fd);
    }
  }
  if (!process->all_closed()) process->Signal(SIGKILL);
  ExitInfo exit = process->Wait();
  if (exit.exited && exit.code == 0) {
    sandbox.usable_ = true;
  } else {
    sandbox.reason_ = absl::StrCat(sandbox.bwrap_, " cannot set up the sandbox here (",
                                   DescribeSandboxedExit(exit, {}), "): ", FirstLine(err));
  }
  return sandbox;
}

std::string Sandbox::VisibleStrategyDir(const std::string& strategy_dir) const {
  return usable_ ? kSandboxStrategyDir : strategy_dir;
}

absl::StatusOr<ProcessCommand> Sandbox::Build(const SandboxedCommand& command) const {
  if (!usable_ && !options_.allow_unsandboxed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "strategies from users run only in the sandbox, and the sandbox is not usable here: ",
        reason_, ". Install bubblewrap, or start backtestd with --unsafe-no-sandbox to run them "
        "without it"));
  }
  if (command.args.empty() || !absl::StartsWith(command.args[0], "/")) {
    return absl::InvalidArgumentError("the sandboxed program must be an absolute path");
  }
  if (command.limits.tmp_mb <= 0) {
    return absl::InvalidArgumentError("limits.tmp_mb must be positive");
  }
  std::error_code ec;
  if (!command.strategy_dir.empty()) {
    if (!fs::is_directory(command.strategy_dir, ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat("strategy folder ", command.strategy_dir, " is not a directory"));
    }
    struct stat st = {};
    if (usable_ && privileged_ && (stat(command.strategy_dir.c_str(), &st) != 0 ||
                                   (st.st_mode & (S_IROTH | S_IXOTH)) != (S_IROTH | S_IXOTH))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "strategy folder ", command.strategy_dir, " is not readable by the sandbox's user "
          "(it needs the others' read and search permission)"));
    }
  }
  for (const std::string& path : command.read_only_paths) {
    if (!absl::StartsWith(path, "/") || path == "/" || !fs::exists(path, ec)) {
      return absl::InvalidArgumentError(
          absl::StrCat("read-only path '", path, "' is not an existing absolute path below /"));
    }
  }
  std::vector<std::pair<std::string, std::string>> env = SandboxEnvironment();
  for (const auto& [name, value] : command.env) {
    auto it = std::find_if(env.begin(), env.end(), [&](const auto& e) { return e.first == name; });
    if (it != env.end()) {
      it->second = value;
    } else {
      env.emplace_back(name, value);
    }
  }
  std::vector<std::string> flat;
  for (const auto& [name, value] : env) flat.push_back(absl::StrCat(name, "=", value));
  return usable_ ? BuildBwrap(command, std::move(flat)) : BuildUnsandboxed(command, std::move(flat));
}

uid_t Sandbox::WorkerUid(int worker) const {
  return options_.worker_uid_base == 0 ? options_.uid
                                       : options_.worker_uid_base + static_cast<uid_t>(worker);
}

std::vector<std::string> Sandbox::ExecArgs(const SandboxLimits& limits, bool switch_user,
                                           uid_t uid) const {
  std::vector<std::string> args;
  if (switch_user) {
    args.insert(args.end(), {"--uid", absl::StrCat(uid), "--gid", absl::StrCat(options_.gid)});
  }
  args.insert(args.end(), {"--cpu-seconds", absl::StrCat(limits.cpu_seconds),
                           "--memory-mb", absl::StrCat(limits.memory_mb),
                           "--open-files", absl::StrCat(limits.open_files),
                           "--processes", absl::StrCat(limits.processes),
                           "--file-size-mb", absl::StrCat(limits.file_size_mb)});
  return args;
}

absl::StatusOr<ProcessCommand> Sandbox::BuildBwrap(const SandboxedCommand& command,
                                                   std::vector<std::string> env) const {
  // backtest-sandbox-exec --reap around bubblewrap: it reaps bubblewrap's pid 1, so the server's
  // wait sees the sandbox's CPU time and no zombie is left to the host's init.
  std::vector<std::string> a = {options_.exec_path, "--reap", "--", bwrap_,
                                // Own pid, network, IPC, hostname and cgroup view.
                                "--unshare-pid", "--unshare-net", "--unshare-ipc",
                                "--unshare-uts", "--unshare-cgroup-try"};
  if (privileged_) {
    // bubblewrap run by root keeps every capability unless told: only what
    // backtest-sandbox-exec needs to switch to the sandbox's user, which clears them all.
    a.insert(a.end(), {"--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add",
                       "CAP_SETGID", "--cap-add", "CAP_SETPCAP"});
  } else {
    a.insert(a.end(), {"--unshare-user", "--disable-userns", "--uid", "65534", "--gid", "65534"});
  }
  a.insert(a.end(), {"--die-with-parent", "--new-session", "--hostname", "sandbox", "--clearenv"});
  for (const std::string& e : env) {
    const size_t eq = e.find('=');
    a.insert(a.end(), {"--setenv", e.substr(0, eq), e.substr(eq + 1)});
  }
  a.insert(a.end(), {"--ro-bind", "/usr", "/usr"});
  for (const char* link : kTopLevelLinks) {
    std::error_code ec;
    fs::file_status st = fs::symlink_status(link, ec);
    if (fs::is_symlink(st)) {
      a.insert(a.end(), {"--symlink", fs::read_symlink(link, ec).string(), link});
    } else if (fs::is_directory(st)) {
      a.insert(a.end(), {"--ro-bind", link, link});
    }
  }
  // Directories bubblewrap would create on the way to a mount point get mode 0700 when it runs
  // privileged: each is made first, 0755, so the sandbox's user can pass.
  std::set<std::string> made = {"/", "/usr", "/tmp", "/proc", "/dev"};
  auto make_parents = [&](const std::string& dest) {
    std::vector<std::string> missing;
    for (fs::path p = fs::path(dest).parent_path(); made.insert(p.string()).second;
         p = p.parent_path()) {
      missing.push_back(p.string());
    }
    for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
      a.insert(a.end(), {"--perms", "0755", "--dir", *it});
    }
  };
  for (const char* file : kEtcFiles) {
    make_parents(file);
    a.insert(a.end(), {"--ro-bind-try", file, file});
  }
  // A /dev of its own (null, zero, random, urandom, tty…), read-only: no /dev/shm to fill.
  a.insert(a.end(), {"--proc", "/proc", "--dev", "/dev", "--remount-ro", "/dev",
                     // The private /tmp comes before the binds: one below /tmp (a venv in a
                     // temporary folder) is then mounted on it instead of hidden under it.
                     "--perms", "1777", "--size", absl::StrCat(command.limits.tmp_mb << 20),
                     "--tmpfs", "/tmp"});
  std::vector<std::string> read_only = InstallPaths(command.args[0]);
  read_only.insert(read_only.end(), command.read_only_paths.begin(),
                   command.read_only_paths.end());
  std::sort(read_only.begin(), read_only.end());
  std::vector<std::string> bound;
  for (const std::string& path : read_only) {
    if (IsSystemPath(path)) continue;
    // A path inside one already bound is visible through it.
    if (std::any_of(bound.begin(), bound.end(), [&](const auto& b) { return Under(path, b); })) {
      continue;
    }
    bound.push_back(path);
    make_parents(path);
    a.insert(a.end(), {"--ro-bind", path, path});
  }
  make_parents(kExecInside);
  a.insert(a.end(), {"--ro-bind", options_.exec_path, kExecInside});
  if (!command.strategy_dir.empty()) {
    a.insert(a.end(), {"--ro-bind", command.strategy_dir, kSandboxStrategyDir});
  }
  a.insert(a.end(), {// Nothing else is writable: the root that holds the mount points too.
                     "--remount-ro", "/",
                     "--chdir", command.strategy_dir.empty() ? "/tmp" : kSandboxStrategyDir,
                     "--", kExecInside});
  for (std::string& arg :
       ExecArgs(command.limits, privileged_, command.uid.value_or(options_.uid))) {
    a.push_back(std::move(arg));
  }
  a.push_back("--");
  a.insert(a.end(), command.args.begin(), command.args.end());
  // bubblewrap itself gets no environment at all: its pid 1 in the sandbox carries none.
  return ProcessCommand{.path = options_.exec_path, .args = std::move(a), .env = {},
                        .signal_in_exit_code = true};
}

absl::StatusOr<ProcessCommand> Sandbox::BuildUnsandboxed(const SandboxedCommand& command,
                                                         std::vector<std::string> env) const {
  std::vector<std::string> a = {options_.exec_path};
  for (std::string& arg : ExecArgs(command.limits, false, options_.uid)) a.push_back(std::move(arg));
  a.insert(a.end(), {"--chdir",
                     command.strategy_dir.empty() ? "/tmp" : command.strategy_dir, "--"});
  a.insert(a.end(), command.args.begin(), command.args.end());
  return ProcessCommand{.path = options_.exec_path, .args = std::move(a), .env = std::move(env)};
}

std::string DescribeSandboxedExit(const ExitInfo& exit, const SandboxLimits& limits) {
  if (exit.exited) return exit.code == 0 ? "" : absl::StrCat("exited with code ", exit.code);
  // The kernel sends SIGXCPU at the soft CPU limit and SIGKILL at the hard one a second later.
  if (limits.cpu_seconds > 0 &&
      (exit.signal == SIGXCPU ||
       (exit.signal == SIGKILL && exit.cpu_seconds >= static_cast<double>(limits.cpu_seconds)))) {
    return absl::StrCat("CPU time limit of ", limits.cpu_seconds, " s exceeded");
  }
  if (exit.signal == SIGXFSZ && limits.file_size_mb > 0) {
    return absl::StrCat("file size limit of ", limits.file_size_mb, " MB exceeded");
  }
  return absl::StrCat("killed by ", DescribeSignal(exit.signal));
}

}  // namespace backtest::jobs
