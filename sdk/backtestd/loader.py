"""Loading a strategy from a strategy folder (or file), and the folder's source hash.

A folder holds `strategy.py` with one Strategy subclass (or names another file and class in its
entry, `FILE.py:Class`). The strategy's name is the folder's name. The source hash covers every
file of the folder but `__pycache__` and dot files: `sha256:` + the hex SHA-256 of, per file in
order of relative path, the path (UTF-8), a NUL byte, the size as 8 little-endian bytes, the bytes.
"""

import hashlib
import importlib.util
import os
import re
import sys

from backtestd.params import ParamError
from backtestd.strategy import Strategy


class LoadError(ValueError):
    """A strategy that cannot be loaded; the message says why."""


def source_files(folder):
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for fn in filenames:
            if not fn.startswith("."):
                path = os.path.join(dirpath, fn)
                out.append((os.path.relpath(path, folder).replace(os.sep, "/"), path))
    return sorted(out)


def source_hash(path):
    folder = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    h = hashlib.sha256()
    for rel, full in source_files(folder):
        with open(full, "rb") as f:
            data = f.read()
        h.update(rel.encode())
        h.update(b"\0")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return "sha256:" + h.hexdigest()


def _class_lines(file):
    """{class name: the line of its `class` statement} in a Python file."""
    out = {}
    with open(file, encoding="utf-8", errors="replace") as f:
        for number, text in enumerate(f, 1):
            m = re.match(r"class\s+([A-Za-z_][A-Za-z0-9_]*)", text)
            if m:
                out.setdefault(m.group(1), number)
    return out


def load(path, entry=""):
    """(Strategy subclass, name, folder) for a folder or a .py file; LoadError says why not.
    The strategy's own exceptions while its file runs propagate as they are."""
    path = os.path.abspath(path)
    if os.path.isdir(path):
        folder = path
        filename, _, class_name = (entry or "strategy.py").partition(":")
        file = os.path.join(folder, filename or "strategy.py")
    else:
        folder = os.path.dirname(path)
        file = path
        class_name = entry.partition(":")[2] if entry else ""
    if not os.path.isfile(file):
        raise LoadError(f"{file}: no such file")
    name = os.path.basename(folder) if os.path.isdir(path) else os.path.splitext(
        os.path.basename(file))[0]
    module_name = f"backtestd_strategy_{abs(hash(file))}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    sys.path.insert(0, folder)  # the strategy's own helper modules
    try:
        spec.loader.exec_module(module)
    except ParamError:
        raise
    finally:
        sys.path.remove(folder)
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, Strategy) and v is not Strategy
             and v.__module__ == module_name]
    if class_name:
        found = [c for c in found if c.__name__ == class_name]
        if not found:
            raise LoadError(f"{os.path.basename(file)}: no Strategy subclass named {class_name}")
    if not found:
        raise LoadError(f"{os.path.basename(file)}: defines no Strategy subclass")
    if len(found) > 1:
        lines = _class_lines(file)
        names = ", ".join(f"{c.__name__} at line {lines[c.__name__]}" if c.__name__ in lines
                          else c.__name__ for c in sorted(found, key=lambda c: c.__name__))
        raise LoadError(f"{os.path.basename(file)}: defines several Strategy subclasses ({names}); "
                        f"name one in the entry (FILE.py:Class)")
    return found[0], name, folder
