#!/usr/bin/env bash
# Fault: the database's disk is full. The database lives on a small tmpfs (mount -t tmpfs, size
# 64 MiB) that a filler file fills while a traced run writes: clear errors, no corruption, recovery
# once space returns (tests/e2e/python/fault_disk_full.py; docs/reliability.md, "Faults").
# Without the right to mount (not root), the same tmpfs is mounted in a private user and mount
# namespace (unshare -rm); if neither works the test fails, it does not skip.
. "$(dirname "$0")/fault_lib.sh"
dbfs=$WORK/dbfs
mkdir -p "$dbfs"
driver=("$python" "$ROOT/tests/e2e/python/fault_disk_full.py" "$WORK/s" "$dbfs")

if mount -t tmpfs -o size=64m backtestd-e2e "$dbfs" 2>"$WORK/mount.err"; then
  trap 'umount -l "$dbfs" 2>/dev/null || true; fault_cleanup' EXIT
  echo "database on a 64 MiB tmpfs mounted at $dbfs"
  "${driver[@]}"
elif unshare -rm true 2>/dev/null; then
  echo "mount refused ($(cat "$WORK/mount.err")); using a tmpfs in a private namespace (unshare -rm)"
  unshare -rm bash -c 'mount -t tmpfs -o size=64m backtestd-e2e "$0" && exec "$@"' \
    "$dbfs" "${driver[@]}"
else
  echo "FAIL cannot mount a small file system here: $(cat "$WORK/mount.err"); unshare -rm refused too"
  exit 1
fi
