#!/usr/bin/env bash
# Online backup and restore (docs/reliability.md, "Backup and restore"): `backtestd backup` while
# backtestd runs jobs (tests/e2e/python/backup_restore.py checks the copy), then the restore steps
# of deploy/README.md, run as written on a second server with its own database, with `sudo` and
# `systemctl stop|start backtestd` standing for that server's stop and start; the restored server
# is then checked through the API.
. "$(dirname "$0")/fault_lib.sh"
run_fault backup_restore.py backup "$WORK"

# The README's block between its "restore steps" markers, without its two example paths.
awk '/<!-- restore steps begin/{on=1; next} /<!-- restore steps end/{on=0} on && !/^```/' \
  "$ROOT/deploy/README.md" >"$WORK/restore.readme"
grep -vE '^(DB|BACKUP)=' "$WORK/restore.readme" >"$WORK/restore.sh"
check "deploy/README.md has restore steps that set DB and BACKUP" \
  test "$(grep -cE '^(DB|BACKUP)=' "$WORK/restore.readme")" -eq 2
printf '     restore steps (deploy/README.md):\n'
sed 's/^/     | /' "$WORK/restore.sh"

start_server "$WORK/b"  # the second server: its own fresh database and admin.token
DB=$WORK/b/backtest.db
BACKUP=$WORK/backups/backtest-1.db
sudo() { "$@"; }
systemctl() {
  case "$*" in
    "stop backtestd") kill -TERM "$SERVER_PID" && wait "$SERVER_PID" ;;  # exit 0: a clean stop
    "start backtestd") start_server "$WORK/b" ;;
    *) echo "systemctl $*: not a step this test knows"; return 1 ;;
  esac
}
# Any failing step ends the script (set -e); its output is shown either way.
show_restore_output() {
  if [ -f "$WORK/restore.out" ]; then sed "s/^/     > /" "$WORK/restore.out"; fi
}
trap 'status=$?; show_restore_output; fault_cleanup; exit $status' EXIT
exec 3>&1 >"$WORK/restore.out" 2>&1
. "$WORK/restore.sh"
exec 1>&3 2>&1
cp "$WORK/restore.out" "$WORK/restore.log"
show_restore_output
rm "$WORK/restore.out"
ok "the restore steps ran on the second server (stopped cleanly, restarted)"
check "their integrity_check step printed ok" grep -qx ok "$WORK/restore.log"
check "the restored database passes integrity_check with the server running" \
  test "$(sqlite3 "$DB" 'PRAGMA integrity_check')" = ok
run_fault backup_restore.py verify "$WORK" "$SERVER_ADDR" || failed=$((failed + 1))
finish
