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


def _inside(path, folder):
    try:
        return os.path.commonpath([os.path.abspath(path), folder]) == folder
    except ValueError:
        return False


def _param_line(path, name):
    """The line declaring class attribute `name` in `path` (`    name = …`), or None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, text in enumerate(f, 1):
                stripped = text.lstrip()
                if stripped != text and stripped.startswith(name):
                    rest = stripped[len(name):].lstrip()
                    if rest.startswith(("=", ":")) and not rest.startswith("=="):
                        return number
    except OSError:
        pass
    return None


def describe_load(exc, folder):
    """Why a strategy folder did not load, in one line naming the user's file and line: a syntax
    error's place, else the last frame in the folder (for a bad parameter declaration, the line
    declaring that parameter), else `describe(exc)`."""
    folder = os.path.abspath(folder)
    name = type(exc).__name__
    if isinstance(exc, SyntaxError) and exc.filename:
        where = os.path.relpath(exc.filename, folder) if _inside(exc.filename, folder) else \
            os.path.basename(exc.filename)
        return f"{where}:{exc.lineno}: {name}: {exc.msg}"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _inside(f.filename, folder)]
    if not frames:
        return describe(exc)
    last = frames[-1]
    line = last.lineno
    message = str(exc)
    if name == "ParamError":  # "NAME: what is wrong"
        line = _param_line(last.filename, message.split(":", 1)[0]) or line
    where = os.path.relpath(last.filename, folder)
    return f"{where}:{line} in {last.name}: {name}" + (f": {message}" if message else "")
