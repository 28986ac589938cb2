#!/usr/bin/env bash
# Private two-node Slurm cluster on 127.0.0.1 for bmlocal's CI and tests (recipe:
# ../shared/docs/RECIPES.md, "Slurm").
#
#   scripts/slurm.sh start   install munge, slurmctld, slurmd and slurm-client when missing,
#                            start munged, slurmctld and one slurmd per fake node (n1, n2), and
#                            wait until both nodes are idle (idempotent)
#   scripts/slurm.sh stop    cancel what is left in the queue, stop the daemons by their pids
#   scripts/slurm.sh status  exit 0 when the controller answers and both nodes are up
#   scripts/slurm.sh env     print `export SLURM_CONF=...` (use: eval "$(scripts/slurm.sh env)")
#
# Everything lives in /run/bmlocal-ci/slurm (configuration, sockets, pids, logs) and
# /var/lib/bmlocal-ci/slurm (state). Needs root. BMLOCAL_SLURM_START_TIMEOUT (s, default 60).
set -euo pipefail

RUN_DIR=/run/bmlocal-ci/slurm
STATE_DIR=/var/lib/bmlocal-ci/slurm
CONF="$RUN_DIR/slurm.conf"
MUNGE_DIR="$RUN_DIR/munge"
MUNGE_SOCK="$MUNGE_DIR/munge.socket"
NODES=(n1 n2)
CTLD_PORT=16817
NODE_PORT0=17001
START_TIMEOUT="${BMLOCAL_SLURM_START_TIMEOUT:-60}"
export SLURM_CONF="$CONF"

log() { echo "slurm.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# pid from a pidfile when that process is alive and runs the named program
live_pid() {
    local pidfile="$1" comm="$2" pid
    [[ -r "$pidfile" ]] || return 1
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
    echo "$pid"
}

install_slurm() {
    local missing=() cmd
    for cmd in munged slurmctld slurmd sbatch; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    [[ ${#missing[@]} == 0 ]] && return 0
    [[ "$(id -u)" == 0 ]] || die "${missing[*]} missing and installing them needs root"
    log "missing ${missing[*]}: installing Debian's munge slurmctld slurmd slurm-client"
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
               -o Dpkg::Options::=--force-confold)
    "${apt[@]}" update </dev/null >&2  # lists on a new machine may be absent or stale
    # no default daemons from the packages' init scripts: ours run on private sockets
    local policy=/usr/sbin/policy-rc.d own_policy=0 rc=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
    fi
    "${apt[@]}" install --no-install-recommends munge slurmctld slurmd slurm-client \
        </dev/null >&2 || rc=$?
    [[ "$own_policy" == 1 ]] && rm -f "$policy"
    [[ "$rc" == 0 ]] || die "apt-get install of Slurm failed ($rc)"
}

write_conf() {
    local host
    host="$(hostname)"
    mkdir -p "$RUN_DIR" "$STATE_DIR/ctld"
    cat >"$CONF" <<EOF
# written by scripts/slurm.sh: two fake nodes on this machine, 2 CPUs and 4 GB each
# whatever the machine has (SlurmdParameters=config_overrides), so that tests see the same
ClusterName=bmlocal
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCK
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/d-%n
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd-%n.pid
SlurmctldLogFile=$RUN_DIR/slurmctld.log
SlurmdLogFile=$RUN_DIR/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
GresTypes=gpu
MinJobAge=3600
EnforcePartLimits=ALL
KillWait=5
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerParameters=sched_min_interval=0
NodeName=n[1-2] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$NODE_PORT0-$((NODE_PORT0 + 1))] CPUs=2 RealMemory=4096 State=UNKNOWN
PartitionName=debug Nodes=n[1-2] Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    if live_pid "$MUNGE_DIR/munged.pid" munged >/dev/null; then return 0; fi
    mkdir -p "$MUNGE_DIR"
    chown munge:munge "$MUNGE_DIR"
    chmod 755 "$MUNGE_DIR"
    rm -f "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    setsid runuser -u munge -- munged -F --socket="$MUNGE_SOCK" \
        --pid-file="$MUNGE_DIR/munged.pid" --log-file="$MUNGE_DIR/munged.log" \
        --seed-file="$MUNGE_DIR/munged.seed" </dev/null >>"$RUN_DIR/munged.out" 2>&1 9>&- &
    local t0=$SECONDS
    until [[ -S "$MUNGE_SOCK" ]]; do
        (( SECONDS - t0 < START_TIMEOUT )) || die "munged did not start (log: $MUNGE_DIR/munged.log)"
        sleep 0.05
    done
}

start_daemons() {
    if ! live_pid "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null; then
        # -i: ignore state a crash left that does not match; jobs from an earlier run are gone
        setsid slurmctld -D -i -f "$CONF" </dev/null >>"$RUN_DIR/slurmctld.out" 2>&1 9>&- &
    fi
    local node
    for node in "${NODES[@]}"; do
        mkdir -p "$STATE_DIR/d-$node"
        if ! live_pid "$RUN_DIR/slurmd-$node.pid" slurmd >/dev/null; then
            setsid slurmd -D -N "$node" -f "$CONF" </dev/null \
                >>"$RUN_DIR/slurmd-$node.out" 2>&1 9>&- &
        fi
    done
}

# both nodes known to the controller and not down
ready() {
    local states
    states="$(timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null)" || return 1
    [[ "$(grep -cE '^n[12] (idle|alloc|mix|comp)' <<<"$states")" == 2 ]]
}

start() {
    [[ "$(id -u)" == 0 ]] || die "starting Slurm needs root"
    install_slurm
    mkdir -p "$RUN_DIR"
    write_conf
    start_munge
    start_daemons
    local t0=$SECONDS t0r=$EPOCHREALTIME
    until ready; do
        if (( SECONDS - t0 >= START_TIMEOUT )); then
            tail -n 20 "$RUN_DIR/slurmctld.log" "$RUN_DIR"/slurmd-*.log >&2 || true
            die "the cluster was not up within ${START_TIMEOUT}s (logs in $RUN_DIR)"
        fi
        sleep 0.1
    done
    log "ready after $(awk -v a="$t0r" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}')s: export SLURM_CONF=$CONF"
}

stop_pid() {
    local pidfile="$1" comm="$2" pid t0=$SECONDS
    pid="$(live_pid "$pidfile" "$comm")" || { rm -f "$pidfile"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    while [[ -d "/proc/$pid" ]]; do
        if (( SECONDS - t0 >= 20 )); then kill -KILL "$pid" 2>/dev/null || true; fi
        sleep 0.05
    done
    rm -f "$pidfile"
}

stop() {
    if live_pid "$RUN_DIR/slurmctld.pid" slurmctld >/dev/null; then
        timeout 10 scancel --full --state=PENDING,RUNNING,SUSPENDED 2>/dev/null || true
    fi
    local node
    for node in "${NODES[@]}"; do stop_pid "$RUN_DIR/slurmd-$node.pid" slurmd; done
    stop_pid "$RUN_DIR/slurmctld.pid" slurmctld
    stop_pid "$MUNGE_DIR/munged.pid" munged
    log "stopped"
}

locked() {
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/slurm-sh.lock"
    flock -w 90 9 || die "another slurm.sh start/stop holds $RUN_DIR/slurm-sh.lock"
    "$@"
}

case "${1:-}" in
    start) locked start ;;
    stop) locked stop ;;
    restart) locked stop; locked start ;;
    status) if ready; then echo "running: SLURM_CONF=$CONF"; else echo "not running"; exit 1; fi ;;
    env) echo "export SLURM_CONF=$CONF" ;;
    *) echo "usage: $0 start|stop|restart|status|env" >&2; exit 2 ;;
esac
