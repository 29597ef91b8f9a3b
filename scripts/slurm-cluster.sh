#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for tests and demos: start | stop | status | env.
#
#   scripts/slurm-cluster.sh start    # installs slurm-wlm + munge if missing, starts the daemons,
#                                     # waits until the node is idle, prints `export SLURM_CONF=...`
#   eval "$(scripts/slurm-cluster.sh env)"; sbatch --wrap hostname
#   scripts/slurm-cluster.sh stop     # cancels jobs, stops the daemons by their pid files,
#                                     # removes the scratch dir
#
# Everything the cluster writes (config, munge key and socket, state, spool, logs, pid files)
# lives in one scratch dir, $PY2RELY_SLURM_DIR (default /tmp/py2rely-slurm-$UID); nothing is
# written to /etc, so `stop` leaves the machine as it found it (apart from the Debian packages
# that `start` may have installed). Clients find the cluster through $SLURM_CONF.
#
# The node has two partitions, `cpu` (the default) and `gpu`, so that partition selection can be
# tested; it has no GPUs (GRES cannot be simulated without devices).
#
# Environment:
#   PY2RELY_SLURM_DIR    scratch dir (default /tmp/py2rely-slurm-$UID)
#   PY2RELY_SLURM_CPUS   CPUs the node declares (default: max(nproc, 4); more than the machine
#                        has is allowed so that 3-rank gold-standard MPI jobs can be scheduled on
#                        a 2-core machine)
#   PY2RELY_SLURM_PORT   slurmctld port; slurmd uses the next one (default: two free ports)
#   PY2RELY_SLURM_KEEP   1: `stop` keeps the scratch dir (logs) instead of removing it
set -euo pipefail

SCRATCH="${PY2RELY_SLURM_DIR:-/tmp/py2rely-slurm-$(id -u)}"
CONF="$SCRATCH/etc/slurm.conf"
MUNGE_DIR="$SCRATCH/munge"
MUNGE_SOCKET="$MUNGE_DIR/munge.socket"
START_TIMEOUT=60

die() { echo "slurm-cluster: $*" >&2; exit 1; }
say() { echo "slurm-cluster: $*" >&2; }

pid_of() {  # pid from a pid file, if that process is alive
    local file="$1" pid
    [ -s "$file" ] || return 1
    pid="$(tr -dc '0-9' < "$file")"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null || missing+=(slurmctld)
    command -v slurmd >/dev/null || missing+=(slurmd)
    command -v sbatch >/dev/null || missing+=(slurm-client)
    command -v munged >/dev/null || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    [ "$(id -u)" -eq 0 ] || die "slurm-wlm/munge are not installed and installing them needs root"
    say "installing slurm-wlm and munge with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    # A stale package list cannot find the packages; refresh it only when the install fails.
    apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null 2>&1 || {
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends slurm-wlm munge >/dev/null
    }
}

free_ports() {  # two consecutive free TCP ports on the loopback address
    python3 - <<'EOF'
import socket
for base in range(16817, 17817, 2):
    sockets = []
    try:
        for port in (base, base + 1):
            s = socket.socket()
            s.bind(("127.0.0.1", port))
            sockets.append(s)
    except OSError:
        continue
    finally:
        for s in sockets:
            s.close()
    print(base)
    break
EOF
}

write_config() {
    local cpus="${PY2RELY_SLURM_CPUS:-}" port="${PY2RELY_SLURM_PORT:-}" mem
    if [ -z "$cpus" ]; then
        cpus="$(nproc)"
        [ "$cpus" -ge 4 ] || cpus=4
    fi
    [ -n "$port" ] || port="$(free_ports)"
    [ -n "$port" ] || die "no two free ports in 16817-17816 (set PY2RELY_SLURM_PORT)"
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
    mkdir -p "$SCRATCH"/{etc,state,spool,log,run}
    cat > "$CONF.tmp" <<EOF
# Written by scripts/slurm-cluster.sh; everything lives in $SCRATCH.
ClusterName=py2rely
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$SCRATCH/state
SlurmdSpoolDir=$SCRATCH/spool
SlurmctldPidFile=$SCRATCH/run/slurmctld.pid
SlurmdPidFile=$SCRATCH/run/slurmd.pid
SlurmctldLogFile=$SCRATCH/log/slurmctld.log
SlurmdLogFile=$SCRATCH/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in this container: track processes through /proc, bind no tasks.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, a job that asks for no memory is given the whole node and blocks the others.
DefMemPerCPU=1000
SchedulerType=sched/builtin
# Schedule a submitted batch job at once instead of batching submissions (2.5-3 s -> about 1 s
# from sbatch to RUNNING).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
ReturnToService=2
# The node declares more CPUs than the machine may have (see PY2RELY_SLURM_CPUS).
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# Quick ends for tests: TERM-to-KILL grace; finished jobs stay visible to scontrol for an hour
# (there is no accounting to ask once slurmctld forgets them, and a pipeline test runs for minutes).
KillWait=5
MinJobAge=3600
InactiveLimit=0
BatchStartTimeout=20
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost Default=NO MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    if pid_of "$MUNGE_DIR/munged.pid" >/dev/null; then return 0; fi
    mkdir -p "$MUNGE_DIR"
    if [ ! -s "$MUNGE_DIR/munge.key" ]; then
        dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
    fi
    local user=root
    # munged refuses files it does not own; run it as `munge` when that user exists (as Debian does).
    if id munge >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then user=munge; fi
    chown -R "$user" "$MUNGE_DIR"
    chmod 0700 "$MUNGE_DIR"
    chmod 0400 "$MUNGE_DIR/munge.key"
    local args=(--socket="$MUNGE_SOCKET" --key-file="$MUNGE_DIR/munge.key"
                --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log"
                --seed-file="$MUNGE_DIR/munged.seed")
    if [ "$user" = root ]; then
        munged --force "${args[@]}"
    else
        # The socket dir must be reachable by clients (root here) but owned by munged's user.
        chmod 0755 "$MUNGE_DIR"
        su -s /bin/sh munge -c "munged $(printf '%q ' "${args[@]}")"
    fi
    munge -S "$MUNGE_SOCKET" -n | unmunge -S "$MUNGE_SOCKET" >/dev/null \
        || die "munged started but a credential does not decode (see $MUNGE_DIR/munged.log)"
}

wait_idle() {
    local deadline=$(( SECONDS + START_TIMEOUT )) state=""
    while [ $SECONDS -lt $deadline ]; do
        state="$(SLURM_CONF="$CONF" sinfo -h -n localhost -o '%T' 2>/dev/null | sort -u | head -1 || true)"
        case "$state" in
            idle|mixed|allocated) return 0 ;;
        esac
        sleep 0.5
    done
    die "node is '${state:-unknown}' after ${START_TIMEOUT}s, not idle (see $SCRATCH/log/)"
}

cmd_start() {
    install_packages
    if pid_of "$SCRATCH/run/slurmctld.pid" >/dev/null && pid_of "$SCRATCH/run/slurmd.pid" >/dev/null; then
        say "already running in $SCRATCH"
        cmd_env
        return 0
    fi
    mkdir -p "$SCRATCH"
    # munged runs as `munge` and must reach its files through this dir (mktemp makes it 0700).
    chmod 0755 "$SCRATCH"
    [ -s "$CONF" ] || write_config
    start_munge
    export SLURM_CONF="$CONF"
    pid_of "$SCRATCH/run/slurmctld.pid" >/dev/null || slurmctld -f "$CONF"
    pid_of "$SCRATCH/run/slurmd.pid" >/dev/null || slurmd -f "$CONF" -N localhost
    wait_idle
    say "running in $SCRATCH ($(sinfo -h -o '%P' | tr '\n' ' '))"
    cmd_env
}

stop_daemons() {  # TERM to all at once (each takes 1-2 s to exit), KILL whatever is left after 10 s
    local file pids=() pid
    for file in "$@"; do
        pid="$(pid_of "$file")" && pids+=("$pid")
    done
    [ ${#pids[@]} -eq 0 ] && return 0
    kill -TERM "${pids[@]}" 2>/dev/null || true
    local alive
    for _ in $(seq 1 100); do
        alive=0
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ $alive -eq 0 ] && return 0
        sleep 0.1
    done
    say "daemons ${pids[*]} ignored TERM for 10 s; killing them"
    kill -KILL "${pids[@]}" 2>/dev/null || true
}

cmd_stop() {
    if pid_of "$SCRATCH/run/slurmctld.pid" >/dev/null; then
        # Jobs' slurmstepd processes outlive slurmd: end the jobs first, so none is left behind.
        local jobs
        jobs="$(SLURM_CONF="$CONF" squeue -h -o '%i' 2>/dev/null || true)"
        if [ -n "$jobs" ]; then
            # shellcheck disable=SC2086
            SLURM_CONF="$CONF" scancel $jobs 2>/dev/null || true
            for _ in $(seq 1 30); do
                [ -z "$(SLURM_CONF="$CONF" squeue -h -o '%i' 2>/dev/null || true)" ] && break
                sleep 0.5
            done
        fi
    fi
    stop_daemons "$SCRATCH/run/slurmd.pid" "$SCRATCH/run/slurmctld.pid" "$MUNGE_DIR/munged.pid"
    if [ "${PY2RELY_SLURM_KEEP:-0}" = 1 ]; then
        say "stopped; logs kept in $SCRATCH/log"
    elif [ -d "$SCRATCH" ]; then
        rm -rf "$SCRATCH"
        say "stopped; removed $SCRATCH"
    fi
}

cmd_status() {
    local daemon running=0
    for daemon in "$MUNGE_DIR/munged.pid" "$SCRATCH/run/slurmctld.pid" "$SCRATCH/run/slurmd.pid"; do
        if pid="$(pid_of "$daemon")"; then
            echo "$(basename "$daemon" .pid): running (pid $pid)"
            running=$((running + 1))
        else
            echo "$(basename "$daemon" .pid): not running"
        fi
    done
    if [ $running -eq 3 ]; then
        SLURM_CONF="$CONF" sinfo
        return 0
    fi
    return 3
}

cmd_env() {
    echo "export SLURM_CONF=$CONF"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    *) echo "usage: $0 start|stop|status|env   (scratch dir: $SCRATCH)" >&2; exit 2 ;;
esac
