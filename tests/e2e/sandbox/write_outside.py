# Hostile: write outside the private /tmp. The strategy folder, the system, the root, /dev, and
# the host path given as argv[1]. Prints BREACH if any write succeeds.
import os
import sys

targets = [
    "/strategy/pwned",
    "/usr/pwned",
    "/etc/pwned",
    "/pwned",
    "/run/pwned",
    "/dev/pwned",
    "/dev/shm/pwned",
    "/proc/sys/kernel/hostname",
    sys.argv[1],
]
first_error = None
for path in targets:
    try:
        with open(path, "w") as f:
            f.write("pwned\n")
        print("BREACH: wrote %s" % path, flush=True)
        sys.exit(0)
    except OSError as e:
        print("%s: %s" % (path, e), file=sys.stderr)
        first_error = first_error or e
with open("/tmp/allowed", "w") as f:
    f.write("the private tmp is writable\n")
raise first_error
