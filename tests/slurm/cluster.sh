#!/usr/bin/env bash
# A one-node Slurm cluster in a directory of its own, for the tests of the Slurm runner backend
# (docs/runner-backends.md): munged, slurmctld and slurmd as the current user (root here), no
# systemd, no cgroups, no accounting; every state, spool, pid, log and socket path inside DIR,
# ports picked free. Prints the SLURM_CONF to export.
#
#   tests/slurm/cluster.sh start DIR [OWNER_PID]  # prints: export SLURM_CONF=DIR/slurm.conf
#   tests/slurm/cluster.sh stop DIR
#   tests/slurm/cluster.sh node-start DIR         # slurmd again (after a kill), until the node is idle
#
# With OWNER_PID, a watcher stops the cluster when that process has ended, however it ended (a
# test binary killed at its timeout leaves no daemon behind). SLURMD_TIMEOUT (seconds, Slurm's
# default 300) is how long slurmctld waits for a silent slurmd before it sets the node down and
# fails its jobs (a test of a dead node sets it low).
set -euo pipefail
cmd=${1:?start|stop|node-start} dir=${2:?directory} owner=${3:-}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

stop() {
  local f
  for f in slurmd slurmctld munged; do
    [ -f "$dir/$f.pid" ] && kill "$(cat "$dir/$f.pid")" 2>/dev/null || true
  done
  for f in slurmd slurmctld munged; do
    if [ -f "$dir/$f.pid" ]; then
      local pid; pid=$(cat "$dir/$f.pid")
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      rm -f "$dir/$f.pid"
    fi
  done
}

# Waits until the node is idle (it takes jobs); prints the SLURM_CONF to export.
wait_idle() {
  for _ in $(seq 100); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qx 'idle'; then
      echo "export SLURM_CONF=$SLURM_CONF"
      return 0
    fi
    sleep 0.1
  done
  echo "cluster.sh: the node did not become idle:" >&2
  sinfo >&2 || true
  tail -5 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2 || true
  return 1
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
if [ "$cmd" = node-start ]; then
  export SLURM_CONF=$dir/slurm.conf
  slurmd -f "$SLURM_CONF" -N localhost
  wait_idle
  exit
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop|node-start DIR" >&2; exit 2; }
for tool in munged slurmctld slurmd srun scancel squeue; do
  command -v "$tool" >/dev/null || { echo "cluster.sh: $tool missing (scripts/install-deps.sh installs Slurm)" >&2; exit 1; }
done

mkdir -p "$dir"/{munge,munge-run,state,spool,log}
chmod 0700 "$dir/munge"
chmod 0755 "$dir/munge-run"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$dir/munge/munge.key"
munged --key-file="$dir/munge/munge.key" --socket="$dir/munge-run/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" \
  --force

user=$(id -un)
cat >"$dir/slurm.conf" <<CONF
ClusterName=backtestd-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge-run/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
${SLURMD_TIMEOUT:+SlurmdTimeout=$SLURMD_TIMEOUT}
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 )) State=UNKNOWN
PartitionName=backtest Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
export SLURM_CONF=$dir/slurm.conf
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N localhost
if [ -n "$owner" ]; then
  setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec bash "$2" stop "$3"' \
    watcher "$owner" "$(readlink -f "$0")" "$(readlink -f "$dir")" </dev/null >/dev/null 2>&1 &
fi
wait_idle || { stop; exit 1; }
