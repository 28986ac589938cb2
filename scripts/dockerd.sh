#!/usr/bin/env bash
# Private Docker engine for bmlocal's CI and tests (recipe: ../shared/docs/RECIPES.md,
# "Docker engine").
#
#   scripts/dockerd.sh start   install Debian's docker.io if dockerd is missing, start dockerd
#                              on the private socket and wait until it answers (idempotent)
#   scripts/dockerd.sh stop    stop it by the pid in its pidfile and wait for it to exit
#   scripts/dockerd.sh status  exit 0 when it answers
#   scripts/dockerd.sh env     print `export DOCKER_HOST=...` (use: eval "$(scripts/dockerd.sh env)")
#
# Images live in /var/lib/bmlocal-ci/docker, so they survive a stop/start on this machine.
# Needs root. Tunables: BMLOCAL_DOCKERD_START_TIMEOUT (s, default 60),
# BMLOCAL_DOCKERD_STOP_TIMEOUT (s, default 60).
set -euo pipefail

RUN_DIR=/run/bmlocal-ci
SOCK="$RUN_DIR/docker.sock"
PIDFILE="$RUN_DIR/docker.pid"
LOG="$RUN_DIR/dockerd.log"
EXEC_ROOT="$RUN_DIR/exec"
DATA_ROOT=/var/lib/bmlocal-ci/docker
HOST_URL="unix://$SOCK"
START_TIMEOUT="${BMLOCAL_DOCKERD_START_TIMEOUT:-60}"
STOP_TIMEOUT="${BMLOCAL_DOCKERD_STOP_TIMEOUT:-60}"

log() { echo "dockerd.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# pid from the pidfile when that process is alive and is a dockerd, else nothing
live_pid() {
    local pid
    [[ -r "$PIDFILE" ]] || return 1
    pid="$(tr -dc '0-9' <"$PIDFILE")"
    [[ -n "$pid" && -d "/proc/$pid" ]] || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]] || return 1
    echo "$pid"
}

# does the engine answer on the private socket? (GET /_ping)
answers() {
    [[ -S "$SOCK" ]] || return 1
    if command -v curl >/dev/null 2>&1; then
        [[ "$(curl -fsS --max-time 2 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null)" == OK ]]
    else
        DOCKER_HOST="$HOST_URL" timeout 5 docker version >/dev/null 2>&1
    fi
}

install_engine() {
    command -v dockerd >/dev/null 2>&1 && return 0
    [[ "$(id -u)" == 0 ]] || die "dockerd is missing and installing docker.io needs root"
    log "dockerd missing: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    local apt=(apt-get -y -q -o DPkg::Lock::Timeout=600 -o Dpkg::Options::=--force-confdef
               -o Dpkg::Options::=--force-confold)
    # apt-get update only when the package lists do not know docker.io
    if ! apt-cache show docker.io >/dev/null 2>&1; then
        "${apt[@]}" update </dev/null >&2
    fi
    # The package's init script may start a default daemon (/var/run/docker.sock) where
    # invoke-rc.d thinks it may: forbid service starts for the duration of the install.
    local policy=/usr/sbin/policy-rc.d own_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=1
    fi
    local rc=0
    "${apt[@]}" install --no-install-recommends docker.io </dev/null >&2 || rc=$?
    [[ "$own_policy" == 1 ]] && rm -f "$policy"
    [[ "$rc" == 0 ]] || die "apt-get install docker.io failed ($rc)"
    command -v dockerd >/dev/null 2>&1 || die "docker.io installed but no dockerd on PATH"
}

start() {
    local pid
    if pid="$(live_pid)"; then
        if answers; then log "already running (pid $pid), $HOST_URL"; return 0; fi
        log "dockerd (pid $pid) is starting; waiting"
    else
        [[ "$(id -u)" == 0 ]] || die "starting dockerd needs root"
        install_engine
        mkdir -p "$RUN_DIR" "$DATA_ROOT"
        rm -f "$PIDFILE"                  # stale: its process is gone
        [[ -S "$SOCK" ]] && rm -f "$SOCK" # stale socket of a dead daemon
        # setsid: the daemon must not die with the shell or CI step that started it
        setsid dockerd --storage-driver=overlay2 --host="$HOST_URL" \
            --data-root="$DATA_ROOT" --exec-root="$EXEC_ROOT" \
            --pidfile="$PIDFILE" --bridge=none --iptables=false --ip6tables=false \
            </dev/null >>"$LOG" 2>&1 9>&- &
        pid=$!
        log "started dockerd (pid $pid), log $LOG"
    fi
    local t0=$SECONDS t0r=$EPOCHREALTIME
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null && ! live_pid >/dev/null; then
            tail -n 30 "$LOG" >&2 || true
            die "dockerd exited during start-up (log: $LOG)"
        fi
        if (( SECONDS - t0 >= START_TIMEOUT )); then
            tail -n 30 "$LOG" >&2 || true
            die "dockerd did not answer on $SOCK within ${START_TIMEOUT}s (log: $LOG)"
        fi
        sleep 0.1
    done
    log "ready after $(awk -v a="$t0r" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.2f", b - a}')s: export DOCKER_HOST=$HOST_URL"
}

stop() {
    local pid
    if ! pid="$(live_pid)"; then
        log "not running"
        rm -f "$PIDFILE"
        return 0
    fi
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local t0=$SECONDS
    while [[ -d "/proc/$pid" ]]; do
        if (( SECONDS - t0 >= STOP_TIMEOUT )); then
            log "dockerd (pid $pid) still alive after ${STOP_TIMEOUT}s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            local t1=$SECONDS
            while [[ -d "/proc/$pid" ]] && (( SECONDS - t1 < 10 )); do sleep 0.1; done
            break
        fi
        sleep 0.1
    done
    [[ -d "/proc/$pid" ]] && die "dockerd (pid $pid) would not exit"
    rm -f "$PIDFILE"
    log "stopped after $((SECONDS - t0))s"
}

# One start/stop at a time (CI and a developer may both call this). The daemon is started
# with the lock's descriptor closed, so it never holds the lock itself.
locked() {
    [[ "$(id -u)" == 0 ]] || { "$@"; return; }
    mkdir -p "$RUN_DIR"
    exec 9>"$RUN_DIR/dockerd-sh.lock"
    if ! flock -w 90 9; then
        [[ "$1" == stop ]] || die "another dockerd.sh start/stop holds $RUN_DIR/dockerd-sh.lock"
        log "warning: $RUN_DIR/dockerd-sh.lock still held after 90s; stopping anyway"
    fi
    "$@"
}

case "${1:-}" in
    start) locked start ;;
    stop) locked stop ;;
    restart) locked stop; locked start ;;
    status) if answers; then echo "running: $HOST_URL"; else echo "not running"; exit 1; fi ;;
    env) echo "export DOCKER_HOST=$HOST_URL" ;;
    *) echo "usage: $0 start|stop|restart|status|env" >&2; exit 2 ;;
esac
