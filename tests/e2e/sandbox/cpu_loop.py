# Hostile: loop forever.
while True:
    pass
