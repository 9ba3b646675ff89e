# Hostile: fill the private /tmp with files each below the file size limit.
import sys

chunk = b"x" * (1 << 20)
i = 0
while True:
    with open("/tmp/part%d" % i, "wb") as f:
        for _ in range(int(sys.argv[1])):
            f.write(chunk)
    i += 1
