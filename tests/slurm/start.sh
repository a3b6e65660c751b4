#!/usr/bin/env bash
# A real, single-node Slurm on 127.0.0.1 for tests/test_slurm.py: munge + slurmctld + slurmd,
# started directly (no systemd), as root. Idempotent: a cluster that already answers is left as
# it is. Needs Debian's packages: apt-get install slurm-wlm munge.
#
# The node declares what `slurmd -C` finds (CPUs, sockets, memory) and no GPUs, so CPU-only
# tasks (--gpus-per-task 0) schedule on a machine without one. No accounting database: robeval
# reads task states from squeue, not sacct.
set -euo pipefail

conf=/etc/slurm/slurm.conf
log=/var/log/slurm

fail() { echo "tests/slurm/start.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it starts munged, slurmctld and slurmd)"
for tool in munged slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null || fail "$tool not found: apt-get install slurm-wlm munge"
done

node_idle() {
    timeout 5 sinfo -h -o '%T' 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

if node_idle && [ -f "$conf" ] && grep -q '^# robeval single-node test cluster' "$conf"; then
    echo "slurm: already up ($(sinfo -h -o '%N %c CPUs %T'))"
    exit 0
fi

# --- munge: the shared-key authentication slurm uses between its daemons and clients
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    runuser -u munge -- munged
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || fail "munged did not start (see /var/log/munge/munged.log)"
fi

# --- slurm.conf: this machine's own hardware line from slurmd -C, reachable on 127.0.0.1
hw=$(slurmd -C | head -n 1)
node=$(sed -E 's/^NodeName=([^ ]+).*/\1/' <<<"$hw")
mkdir -p /etc/slurm "$log" /var/spool/slurmctld /var/spool/slurmd
new=$(cat <<EOF
# robeval single-node test cluster (tests/slurm/start.sh); rewritten on every start
ClusterName=robeval
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
JobRequeue=1
KillWait=0
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$log/slurmctld.log
SlurmdLogFile=$log/slurmd.log
$hw NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)
printf '%s\n' "$new" | sed '/^UpTime=/d' > "$conf.tmp"
mv "$conf.tmp" "$conf"

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
running /run/slurmctld.pid || slurmctld || fail "slurmctld did not start; see $log/slurmctld.log"
running /run/slurmd.pid || slurmd || fail "slurmd did not start; see $log/slurmd.log"
scontrol reconfigure >/dev/null 2>&1 || true

for _ in $(seq 60); do
    node_idle && break
    state=$(timeout 5 sinfo -h -o '%T' 2>/dev/null || true)
    case "$state" in
        down*|drain*) scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.5
done
node_idle || fail "the node did not come up: $(sinfo -h -o '%N %T %E' 2>&1); see $log/"
echo "slurm: up ($(sinfo -h -o '%N %c CPUs %T'))"
