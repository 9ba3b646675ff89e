// backtest-sandbox-exec: the process around a user strategy's sandbox, and the last step inside
// it before the interpreter starts.
//
// Around it (--reap, started by the server): it runs bubblewrap as its child and stays until
// every process of the sandbox is gone and reaped. bubblewrap exits as soon as its pid 1 reports
// the command's status, before reaping that pid 1, whose zombie would go to the host's init
// (which may never reap it) and whose CPU time would be lost; this process is their subreaper,
// so the server's wait sees the sandbox's whole CPU time and nothing is left behind. It dies with
// the server thread that started it (bubblewrap, --die-with-parent, then with it), passes
// SIGTERM, SIGINT and SIGHUP on to bubblewrap, and exits with bubblewrap's status (128 + N when
// bubblewrap died by signal N).
//
// Inside (bubblewrap starts it, or the server with --unsafe-no-sandbox), it sets what bubblewrap
// does not and execs the command:
//
//   1. closes every file descriptor but 0-3 (stdin: the spec; stdout, stderr; 3: the events);
//   2. --uid/--gid (privileged sandbox, the server is root): drops the supplementary groups,
//      switches group and user, empties the capability bounding set; afterwards it holds no
//      capability, and refuses to go on if it still is root;
//   3. sets each limit as both soft and hard rlimit (the CPU time's hard limit one second past
//      the soft one: SIGXCPU first, then SIGKILL), and no core dumps;
//   4. --chdir DIR (unsandboxed runs; bubblewrap does it otherwise);
//   5. no_new_privs, then a seccomp filter: sockets other than AF_UNIX are refused (EACCES, so
//      no network even where the network namespace has a loopback), and so are new namespaces
//      and mounts, ptrace, the kernel keyrings, bpf, perf events, userfaultfd, io_uring, module
//      and kexec calls, and faking terminal input (TIOCSTI); clone3 answers ENOSYS (its flags
//      cannot be inspected; libc falls back to clone); other architectures' calls kill the
//      process.
//   6. execs the command with the environment it was given.
//
// Usage: backtest-sandbox-exec --reap -- BWRAP [ARGS...]
//        backtest-sandbox-exec [--uid U --gid G] [--cpu-seconds N] [--memory-mb N]
//            [--open-files N] [--processes N] [--file-size-mb N] [--chdir DIR]
//            -- PROGRAM [ARGS...]
// A value of 0 leaves that limit unset. Exit status 126 when a step fails (the message on
// stderr names it), 127 when PROGRAM cannot be executed.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

namespace {

[[noreturn]] void Die(const char* what) {
  fprintf(stderr, "backtest-sandbox-exec: %s: %s\n", what, strerror(errno));
  _exit(126);
}

[[noreturn]] void Usage(const char* message) {
  fprintf(stderr, "backtest-sandbox-exec: %s\n", message);
  _exit(126);
}

struct Settings {
  int64_t uid = -1;
  int64_t gid = -1;
  int64_t cpu_seconds = 0;
  int64_t memory_mb = 0;
  int64_t open_files = 0;
  int64_t processes = 0;
  int64_t file_size_mb = 0;
  const char* chdir = nullptr;
  bool reap = false;
  char** command = nullptr;
};

int64_t Number(const char* flag, const char* text) {
  char* end = nullptr;
  errno = 0;
  long long v = strtoll(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || v < 0) {
    fprintf(stderr, "backtest-sandbox-exec: %s: not a non-negative number: %s\n", flag, text);
    _exit(126);
  }
  return v;
}

Settings Parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--") {
      if (i + 1 >= argc) Usage("no command after --");
      s.command = argv + i + 1;
      return s;
    }
    if (flag == "--reap") {
      s.reap = true;
      continue;
    }
    if (i + 1 >= argc) Usage(("no value for " + flag).c_str());
    const char* value = argv[++i];
    if (flag == "--uid") s.uid = Number(argv[i - 1], value);
    else if (flag == "--gid") s.gid = Number(argv[i - 1], value);
    else if (flag == "--cpu-seconds") s.cpu_seconds = Number(argv[i - 1], value);
    else if (flag == "--memory-mb") s.memory_mb = Number(argv[i - 1], value);
    else if (flag == "--open-files") s.open_files = Number(argv[i - 1], value);
    else if (flag == "--processes") s.processes = Number(argv[i - 1], value);
    else if (flag == "--file-size-mb") s.file_size_mb = Number(argv[i - 1], value);
    else if (flag == "--chdir") s.chdir = value;
    else Usage(("unknown flag " + flag).c_str());
  }
  Usage("usage: backtest-sandbox-exec [limits] -- PROGRAM [ARGS...]");
}

// Switches to the sandbox's user for good: no groups, no capabilities, no way back.
void SwitchUser(uid_t uid, gid_t gid) {
  if (uid == 0 || gid == 0) Usage("--uid and --gid must not be 0");
  if (setgroups(0, nullptr) != 0) Die("setgroups");
  if (setresgid(gid, gid, gid) != 0) Die("setresgid");
  // The bounding set limits what any later exec could gain; emptied while CAP_SETPCAP is held.
  for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; ++cap) {
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) Die("dropping the capability bounding set");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) Die("clearing ambient caps");
  // Leaving uid 0 clears the permitted and effective capabilities.
  if (setresuid(uid, uid, uid) != 0) Die("setresuid");
  uid_t r, e, s;
  if (getresuid(&r, &e, &s) != 0 || r == 0 || e == 0 || s == 0) Usage("still root after setresuid");
  // The inheritable set survives the switch: emptied too.
  __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2] = {};
  if (syscall(SYS_capset, &header, data) != 0) Die("capset");
  if (syscall(SYS_capget, &header, data) != 0) Die("capget");
  for (const auto& d : data) {
    if (d.effective != 0 || d.permitted != 0 || d.inheritable != 0) {
      Usage("capabilities left after setresuid");
    }
  }
}

void Limit(int resource, const char* name, rlim_t soft, rlim_t hard) {
  rlimit limit = {soft, hard};
  if (setrlimit(resource, &limit) != 0) Die(name);
}

void SetLimits(const Settings& s) {
  constexpr rlim_t kMb = 1 << 20;
  if (s.cpu_seconds > 0) {
    Limit(RLIMIT_CPU, "RLIMIT_CPU", static_cast<rlim_t>(s.cpu_seconds),
          static_cast<rlim_t>(s.cpu_seconds) + 1);
  }
  if (s.memory_mb > 0) {
    rlim_t bytes = static_cast<rlim_t>(s.memory_mb) * kMb;
    Limit(RLIMIT_AS, "RLIMIT_AS", bytes, bytes);
  }
  if (s.open_files > 0) {
    Limit(RLIMIT_NOFILE, "RLIMIT_NOFILE", s.open_files, s.open_files);
  }
  if (s.processes > 0) {
    Limit(RLIMIT_NPROC, "RLIMIT_NPROC", s.processes, s.processes);
  }
  if (s.file_size_mb > 0) {
    rlim_t bytes = static_cast<rlim_t>(s.file_size_mb) * kMb;
    Limit(RLIMIT_FSIZE, "RLIMIT_FSIZE", bytes, bytes);
  }
  // A core dump of user code could go to a host-side handler (core_pattern): none.
  Limit(RLIMIT_CORE, "RLIMIT_CORE", 0, 0);
}

void Deny(scmp_filter_ctx ctx, int syscall_nr, int error) {
  if (syscall_nr < 0) return;  // not on this architecture
  if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(error), syscall_nr, 0) != 0) {
    errno = EINVAL;
    Die("seccomp rule");
  }
}

void LoadSeccompFilter() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) Die("PR_SET_NO_NEW_PRIVS");
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == nullptr) Usage("seccomp_init failed");
  // System calls of another ABI (32-bit x86 on x86-64, x32) would bypass the rules below.
  if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) != 0) {
    Usage("seccomp: cannot set the action for other architectures");
  }
  bool ok = true;
  // No network: only local (AF_UNIX) sockets, which reach nothing outside the sandbox.
  ok &= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EACCES), SCMP_SYS(socket), 1,
                         SCMP_A0(SCMP_CMP_NE, AF_UNIX)) == 0;
  // No new namespaces: a user namespace would give the code capabilities of its own there.
  for (uint64_t flag : {uint64_t{CLONE_NEWNS}, uint64_t{CLONE_NEWUSER}, uint64_t{CLONE_NEWPID},
                        uint64_t{CLONE_NEWNET}, uint64_t{CLONE_NEWIPC}, uint64_t{CLONE_NEWUTS},
                        uint64_t{CLONE_NEWCGROUP}}) {
    ok &= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                           SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag)) == 0;
  }
  // Faking input on a terminal: bubblewrap gives the sandbox a session of its own; an
  // unsandboxed run stays in the server's session, and this is its guard.
  ok &= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
                         SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI)) == 0;
  if (!ok) Usage("seccomp: cannot add the socket, clone or ioctl rules");
  Deny(ctx, SCMP_SYS(clone3), ENOSYS);
  for (int nr : {SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(mount), SCMP_SYS(umount2),
                 SCMP_SYS(pivot_root), SCMP_SYS(chroot), SCMP_SYS(open_tree), SCMP_SYS(move_mount),
                 SCMP_SYS(fsopen), SCMP_SYS(fsconfig), SCMP_SYS(fsmount), SCMP_SYS(fspick),
                 SCMP_SYS(mount_setattr), SCMP_SYS(ptrace), SCMP_SYS(process_vm_readv),
                 SCMP_SYS(process_vm_writev), SCMP_SYS(keyctl), SCMP_SYS(add_key),
                 SCMP_SYS(request_key), SCMP_SYS(bpf), SCMP_SYS(perf_event_open),
                 SCMP_SYS(userfaultfd), SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter),
                 SCMP_SYS(io_uring_register), SCMP_SYS(init_module), SCMP_SYS(finit_module),
                 SCMP_SYS(delete_module), SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load),
                 SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct),
                 SCMP_SYS(quotactl), SCMP_SYS(syslog), SCMP_SYS(iopl), SCMP_SYS(ioperm),
                 // Another process's descriptors (pidfd_getfd) and comparing them (kcmp).
                 SCMP_SYS(pidfd_getfd), SCMP_SYS(kcmp),
                 // IPC objects that outlive their process in the sandbox's IPC namespace: where a
                 // fork server runs one job after another, a job could leave one for the next.
                 SCMP_SYS(shmget), SCMP_SYS(semget), SCMP_SYS(msgget), SCMP_SYS(mq_open)}) {
    Deny(ctx, nr, EPERM);
  }
  int rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    errno = -rc;
    Die("seccomp_load");
  }
}

volatile sig_atomic_t g_child = 0;

void Forward(int signal) {
  if (g_child > 0) kill(g_child, signal);
}

// The Slurm step's identity (when this runs as one): bubblewrap's --clearenv would hide it from
// the runner, whose hello names the job, step and node for the job's record. Returns `command`
// with `--setenv NAME VALUE` for each after its --clearenv (the same command when there is none).
char** WithStepIdentity(char** command) {
  static std::vector<std::string> storage;
  static std::vector<char*> args;
  storage.clear();
  for (const char* name : {"SLURM_JOB_ID", "SLURM_STEP_ID", "SLURMD_NODENAME"}) {
    if (const char* value = getenv(name); value != nullptr) {
      storage.insert(storage.end(), {"--setenv", name, value});
    }
  }
  if (storage.empty()) return command;
  args.clear();
  for (char** a = command; *a != nullptr; ++a) {
    args.push_back(*a);
    if (strcmp(*a, "--clearenv") == 0) {
      for (std::string& extra : storage) args.push_back(extra.data());
    }
  }
  args.push_back(nullptr);
  return args.data();
}

// --reap: runs `command` (bubblewrap) as a child and reaps it and everything reparented here.
[[noreturn]] void Reap(char** command) {
  command = WithStepIdentity(command);
  const pid_t parent = getppid();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) Die("PR_SET_CHILD_SUBREAPER");
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) Die("PR_SET_PDEATHSIG");
  if (getppid() != parent) _exit(126);  // the parent died before the line above
  sigset_t forwarded, previous;
  sigemptyset(&forwarded);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&forwarded, sig);
  sigprocmask(SIG_BLOCK, &forwarded, &previous);
  const pid_t child = fork();
  if (child < 0) Die("fork");
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &previous, nullptr);
    execv(command[0], command);
    fprintf(stderr, "backtest-sandbox-exec: cannot execute %s: %s\n", command[0], strerror(errno));
    _exit(127);
  }
  g_child = child;
  struct sigaction forward = {};
  forward.sa_handler = Forward;
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) sigaction(sig, &forward, nullptr);
  sigprocmask(SIG_SETMASK, &previous, nullptr);
  int status = 0, child_status = 0;
  for (;;) {
    pid_t done = wait(&status);
    if (done == child) child_status = status;
    if (done < 0 && errno == ECHILD) break;
  }
  if (WIFSIGNALED(child_status)) _exit(128 + WTERMSIG(child_status));
  _exit(WEXITSTATUS(child_status));
}

}  // namespace

int main(int argc, char** argv) {
  Settings s = Parse(argc, argv);
  if (s.reap) Reap(s.command);
  // Whatever the starter left open (bubblewrap's own descriptors included) stays outside.
  if (syscall(SYS_close_range, 4u, ~0u, 0u) != 0) Die("close_range");
  if (s.uid >= 0 || s.gid >= 0) {
    if (s.uid < 0 || s.gid < 0) Usage("--uid and --gid go together");
    SwitchUser(static_cast<uid_t>(s.uid), static_cast<gid_t>(s.gid));
  }
  SetLimits(s);
  if (s.chdir != nullptr && chdir(s.chdir) != 0) Die("chdir");
  LoadSeccompFilter();
  execv(s.command[0], s.command);
  fprintf(stderr, "backtest-sandbox-exec: cannot execute %s: %s\n", s.command[0], strerror(errno));
  return 127;
}
