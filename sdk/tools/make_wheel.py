#!/usr/bin/env python3
"""Writes the backtestd wheel from the package the build assembled (sdk/CMakeLists.txt).

A wheel is a zip of the package plus a .dist-info folder (METADATA, WHEEL, RECORD: PEP 427/491).
The build makes the native module itself, so no build backend is involved; the metadata comes
from sdk/pyproject.toml's [project] table. Entries are sorted and stamped with a fixed time, so
the same package gives the same wheel bytes.

    make_wheel.py --package DIR [--package DIR2 …] --pyproject FILE --version V
                  --tag cp311-cp311-linux_x86_64 --out WHEEL

Each --package is a top-level package of the wheel (backtestd, and backtestd_client: the
client's old name).
"""
import argparse
import base64
import hashlib
import os
import tomllib
import zipfile

FIXED_TIME = (2026, 1, 1, 0, 0, 0)


def metadata(project, version):
    lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {version}"]
    if "description" in project:
        lines.append(f"Summary: {project['description']}")
    if "requires-python" in project:
        lines.append(f"Requires-Python: {project['requires-python']}")
    for dep in project.get("dependencies", []):
        lines.append(f"Requires-Dist: {dep}")
    for extra, deps in project.get("optional-dependencies", {}).items():
        lines.append(f"Provides-Extra: {extra}")
        for dep in deps:
            lines.append(f"Requires-Dist: {dep}; extra == \"{extra}\"")
    return "\n".join(lines) + "\n"


def record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--package", required=True, action="append")
    ap.add_argument("--pyproject", required=True)
    ap.add_argument("--version", required=True)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    name = project["name"]
    dist_info = f"{name}-{args.version}.dist-info"
    files = []
    for package in args.package:
        root = os.path.dirname(os.path.abspath(package))
        for dirpath, dirnames, filenames in os.walk(package):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
            for fn in sorted(filenames):
                if fn.endswith((".py", ".so", ".pyi")) or fn == "py.typed":
                    path = os.path.join(dirpath, fn)
                    files.append((os.path.relpath(path, root), path))
    entries = []
    for arcname, path in sorted(files):
        with open(path, "rb") as f:
            entries.append((arcname, f.read()))
    entries.append((f"{dist_info}/METADATA", metadata(project, args.version).encode()))
    wheel = (f"Wheel-Version: 1.0\nGenerator: backtestd make_wheel.py\nRoot-Is-Purelib: false\n"
             f"Tag: {args.tag}\n")
    entries.append((f"{dist_info}/WHEEL", wheel.encode()))
    record = [record_line(n, d) for n, d in entries] + [f"{dist_info}/RECORD,,"]
    entries.append((f"{dist_info}/RECORD", ("\n".join(record) + "\n").encode()))
    tmp = args.out + ".tmp"
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for arcname, data in entries:
            info = zipfile.ZipInfo(arcname, FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, data)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
