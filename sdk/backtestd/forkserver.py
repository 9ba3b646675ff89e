"""The fork server: one sandboxed runner that has done its imports, forking a runner per job.

`python -m backtestd.runner --fork-server --kind K` (docs/sandbox.md, "Fork server"). The server
starts it in the sandbox of one strategy folder (at one source hash), with a Unix socket
(SOCK_SEQPACKET) as its stdin instead of a spec. It imports what every job of that kind needs (the
SDK, numpy; backtrader's adapter and backtrader for kind backtrader) — never the user's code, so no
code of a job runs in this process, which outlives the job — and then, for each message on the
socket:

    request  b"job", with 4 descriptors: the job's stdin (its spec), fd 3 (events), stdout, stderr
    reply    b"exit STATUS CPU": the child's wait status (as waitpid gives it) and its CPU seconds

Per job it forks a child that puts those descriptors at 0, 3, 1 and 2, closes every other one
(the socket too) and runs the job exactly as a warm runner does once its spec arrives
(`runner.run_job`). When the child has ended, before the reply, it clears what a job can leave in
the sandbox for the next one (in the sandbox only: outside it, kill(-1) and /tmp would be the
host's): every other process in the sandbox's pid namespace is killed, and /tmp is emptied. It serves one job at a time (the server sends the next request after the reply)
until the socket closes. Cancel and timeouts are the server's: it kills the whole sandbox.

What keeps one job from reaching the next (the sandbox's own rules, docs/sandbox.md, hold for
each): the child is a fresh copy of a process that ran no job; this process is not dumpable, so a
child (same uid) cannot open its /proc/PID/mem or take its descriptors (ptrace is filtered
anyway); the leftovers of a job (processes, files in /tmp) are gone before the next is forked;
SysV IPC and POSIX message queues, which outlive processes, cannot be created (the seccomp
filter); rlimits are per process (CPU time starts at 0 in each child) except the process count,
which is the sandbox user's, as for any runner.
"""

import os
import shutil
import signal
import socket
import sys

# prctl(2) options.
_PR_SET_DUMPABLE = 4


def _set_dumpable(on):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 1 if on else 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE)")


def _in_own_pid_namespace():
    """Whether pid 1 here is bubblewrap's: the sandbox's own pid namespace, where kill(-1) reaches
    only the sandbox's processes. Unsandboxed (--unsafe-no-sandbox) it would reach every process
    of the server's user, so leftovers are then not hunted that way."""
    try:
        with open("/proc/1/comm") as f:
            return f.read().strip() == "bwrap"
    except OSError:
        return False


def _mount_points():
    """Where the sandbox has mounts (/proc/self/mountinfo's fifth field); empty when unreadable."""
    try:
        with open("/proc/self/mountinfo") as f:
            return [line.split()[4] for line in f]
    except OSError:
        return []


def _empty_dir(path, mounts=None):
    """Removes what `path` holds, but not the sandbox's own mounts: with the build or the strategy
    folder under /tmp, bubblewrap's read-only binds sit in the sandbox's /tmp (a directory that
    holds one is emptied of everything else, the mount itself is left)."""
    if mounts is None:
        mounts = _mount_points()

    def unlock_and_retry(function, target, _exc):
        try:
            os.chmod(os.path.dirname(target) or target, 0o700)
            os.chmod(target, 0o700)
        except OSError:
            pass
        try:
            function(target)
        except OSError:
            pass

    try:
        entries = os.listdir(path)
    except OSError:
        return
    for name in entries:
        full = os.path.join(path, name)
        if full in mounts:
            continue
        if any(m.startswith(full + "/") for m in mounts):
            _empty_dir(full, mounts)
            continue
        try:
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, onerror=unlock_and_retry)
            else:
                os.unlink(full)
        except OSError:
            unlock_and_retry(os.unlink, full, None)


def _others_alive():
    """Processes of the pid namespace other than pid 1 and this one that are not zombies."""
    me = os.getpid()
    alive = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) in (1, me):
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                state = f.read().rsplit(b")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != b"Z":
            alive += 1
    return alive


def clear_leftovers(timeout=2.0):
    """What a job left in the sandbox: its other processes (killed, and waited for until none
    runs, at most `timeout` s), then /tmp's files. Only in the sandbox (`_in_own_pid_namespace`):
    outside, kill(-1) and /tmp would be the host's."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        try:
            os.kill(-1, signal.SIGKILL)  # every process it may signal but itself and pid 1
        except OSError:
            pass
        if not _others_alive() or time.monotonic() > deadline:
            break
        time.sleep(0.001)
    _empty_dir("/tmp")


def _child(fds, run_job):
    try:
        for target, fd in zip((0, 3, 1, 2), fds):
            os.dup2(fd, target, inheritable=True)
        os.closerange(4, os.sysconf("SC_OPEN_MAX") if os.sysconf("SC_OPEN_MAX") > 0 else 1024)
        _set_dumpable(True)  # the job's process is as a warm runner's (its own /proc readable)
        code = run_job()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:  # noqa: BLE001 — a child never returns into the server's loop
        code = 1
        try:
            import traceback
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code)


def serve(run_job, control_fd=0):
    """The fork server's loop on `control_fd` until it closes; `run_job()` runs one job in a child
    (its descriptors in place) and returns the exit status. Returns 0."""
    _set_dumpable(False)
    sandboxed = _in_own_pid_namespace()
    control = socket.socket(fileno=control_fd)
    sys.stdout.flush()
    sys.stderr.flush()
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(control, 64, 4)
        except InterruptedError:
            continue
        if not message:
            return 0
        if message != b"job" or len(fds) != 4:
            for fd in fds:
                os.close(fd)
            control.send(b"error expected b'job' with 4 descriptors")
            continue
        try:
            pid = os.fork()
        except OSError as e:  # EAGAIN: the sandbox user's process limit (a fork bomb of its own)
            try:
                os.write(fds[3], f"fork server: cannot start the job's runner: {e}\n".encode())
            except OSError:
                pass
            for fd in fds:
                os.close(fd)
            control.send(f"exit {1 << 8} 0".encode())  # as a runner that exited with 1
            continue
        if pid == 0:
            _child(fds, run_job)
        for fd in fds:
            os.close(fd)
        while True:
            try:
                _, status, usage = os.wait4(pid, 0)
                break
            except InterruptedError:
                continue
        if sandboxed:
            clear_leftovers()
        cpu = usage.ru_utime + usage.ru_stime
        control.send(f"exit {status} {cpu:.6f}".encode())
