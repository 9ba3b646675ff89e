# Hostile: print 1 GB to stdout (1,048,576 lines of 1 KB), then end normally.
import sys

line = b"x" * 1023 + b"\n"
chunk = line * 1024
out = sys.stdout.buffer
for _ in range(1024):
    out.write(chunk)
out.flush()
