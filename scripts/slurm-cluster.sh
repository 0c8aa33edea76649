#!/usr/bin/env bash
# A real one-machine SLURM cluster (munged + slurmctld + slurmd on loopback), everything under one folder:
#   bash scripts/slurm-cluster.sh start DIR   # then: export SLURM_CONF=DIR/slurm.conf; sbatch …; squeue
#   bash scripts/slurm-cluster.sh stop DIR    # stops the three daemons by their pid files
# Needs root and Debian's slurm-wlm + munge (scripts/system-deps.sh installs them). Nothing is written outside
# DIR: munged gets its own key and socket, slurm.conf points slurmctld/slurmd/sbatch at them. Ports: $SLURMCTLD_PORT
# and $SLURMD_PORT, or two random ones in 20000-39999.
set -euo pipefail
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

stop_cluster() {
  local f pid
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    # wait up to 10 s for it to exit, then force
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}

case "$cmd" in
stop)
  stop_cluster
  exit 0
  ;;
start) ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac

[ "$(id -u)" = 0 ] || { echo "slurm-cluster: needs root (slurmd runs jobs as their user)" >&2; exit 1; }
for b in munged slurmctld slurmd sinfo; do
  command -v "$b" >/dev/null || { echo "slurm-cluster: $b not found (apt-get install slurm-wlm munge)" >&2; exit 1; }
done
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# munged refuses a socket whose folders others cannot traverse
chmod 755 "$dir"
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 755 "$dir/munge"
head -c 1024 /dev/urandom >"$dir/munge/munge.key"
chmod 400 "$dir/munge/munge.key"
munged --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" --log-file="$dir/munge/munged.log" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed"

host=$(hostname -s)
cpus=$(nproc)
mem_mb=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) / 1024 * 9 / 10))
ctld_port=${SLURMCTLD_PORT:-$((20000 + RANDOM % 10000))}
slurmd_port=${SLURMD_PORT:-$((30000 + RANDOM % 10000))}
cat >"$dir/slurm.conf" <<EOF
ClusterName=quirky
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
trap 'stop_cluster' ERR
slurmctld -f "$dir/slurm.conf"
slurmd -f "$dir/slurm.conf"
export SLURM_CONF="$dir/slurm.conf"
# the node reports in after a few seconds
for _ in $(seq 60); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && { echo "export SLURM_CONF=$dir/slurm.conf"; exit 0; }
  sleep 0.5
done
echo "slurm-cluster: node $host not idle after 30 s (state: ${state:-none}); logs in $dir/log" >&2
stop_cluster
exit 1
