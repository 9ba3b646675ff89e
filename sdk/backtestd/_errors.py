"""How a strategy's exception is told in one line (a failed job's error, the runner's failure)."""

import os
import traceback


def describe(exc):
    """`FILE:LINE in FUNCTION: Type: message`, FILE being the last frame's file name."""
    frames = traceback.extract_tb(exc.__traceback__)
    head = ""
    if frames:
        last = frames[-1]
        head = f"{os.path.basename(last.filename)}:{last.lineno} in {last.name}: "
    message = str(exc)
    return f"{head}{type(exc).__name__}" + (f": {message}" if message else "")
