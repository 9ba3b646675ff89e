# Hostile: write one file in the private /tmp until something stops it.
chunk = b"x" * (1 << 20)
with open("/tmp/big", "wb") as f:
    while True:
        f.write(chunk)
        f.flush()
