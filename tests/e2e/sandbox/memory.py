# Hostile: allocate 10 GB and touch every page.
big = bytearray(10 << 30)
for i in range(0, len(big), 4096):
    big[i] = 1
print("BREACH: 10 GB allocated", flush=True)
