# Hostile: read what belongs to the host. /etc/shadow, the server's database file and admin
# token (their host paths are the arguments), the server's process (its host pid) and pid 1's
# environment and root, root's shell history, the database's folder. Prints BREACH with what it
# read if anything opens.
import os
import sys

db_path, token_path, server_pid = sys.argv[1], sys.argv[2], sys.argv[3]
targets = [
    "/etc/shadow",
    db_path,
    token_path,
    os.path.join(os.path.dirname(db_path), "backtest.db-wal"),
    "/proc/%s/environ" % server_pid,
    "/proc/%s/root/etc/shadow" % server_pid,
    "/proc/1/environ",
    "/proc/1/root/etc/shadow",
    "/root/.bash_history",
    "/etc/passwd",
]
first_error = None
for path in targets:
    try:
        with open(path, "rb") as f:
            data = f.read(200)
        print("BREACH: read %s: %r" % (path, data), flush=True)
        sys.exit(0)
    except OSError as e:
        print("%s: %s" % (path, e), file=sys.stderr)
        first_error = first_error or e
for folder in [os.path.dirname(db_path)]:
    try:
        names = os.listdir(folder)
        if names:
            print("BREACH: listed %s: %s" % (folder, names), flush=True)
            sys.exit(0)
    except OSError as e:
        print("%s: %s" % (folder, e), file=sys.stderr)
raise first_error
