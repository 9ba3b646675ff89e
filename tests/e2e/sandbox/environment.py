# Hostile: find the server's secrets in the environment: its own, and every process it can see.
# The name to look for is argv[1].
import os
import sys

name = sys.argv[1]
found = []
if name in os.environ:
    found.append("os.environ")
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        with open("/proc/%s/environ" % pid, "rb") as f:
            if name.encode() in f.read():
                found.append("/proc/%s/environ" % pid)
    except OSError as e:
        print("/proc/%s/environ: %s" % (pid, e), file=sys.stderr)
if found:
    print("BREACH: %s in %s" % (name, found), flush=True)
    sys.exit(0)
print("environment: %s" % sorted(os.environ), file=sys.stderr)
raise RuntimeError("%s is nowhere in sight" % name)
