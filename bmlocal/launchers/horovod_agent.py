"""One node of a Horovod job, without horovodrun or ssh.

Node 0 hosts horovod's own rendezvous server on the job's port; every node starts its
local ranks with the variables `horovodrun --gloo` would give them, and exits with the
first failing rank's status after stopping the others. Each rank's output goes to the
node's output, each line prefixed with `[node N rank R] `, and to
LOG_DIR/node-N.rank-R.log.

    python -m bmlocal.launchers.horovod_agent --node-rank 0 --node-count 2 --slots 1 \
        --rendezvous 127.0.0.1:PORT --timeout 45 --log-dir LOGS \
        -- /bin/sh -c 'exec python x.py'

With --horovodrun, the words after `--` are horovodrun's (`-np 2 --fusion-threshold-mb 32
python x.py`): read by horovodrun's own parser, its tuning options given to every rank as
the HOROVOD_* variables horovodrun sets, its command run as each rank.
"""
import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from typing import BinaryIO

import psutil
from horovod.runner.common.util.hosts import SlotInfo, get_host_assignments, parse_hosts
from horovod.runner.gloo_run import create_run_env_vars, create_slot_env_vars
from horovod.runner.http.http_server import RendezvousHandler, RendezvousHTTPServer

from bmlocal.launchers.horovodrun_options import Horovodrun, Refused, parse
from bmlocal.launchers.supervise import parse_with_command, supervise

SERVER_UNREACHABLE = 124
REFUSED = 2  # as horovodrun's own usage errors
_output_lock = threading.Lock()


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="horovod_agent")
    parser.add_argument("--node-rank", type=int, required=True)
    parser.add_argument("--node-count", type=int, required=True)
    parser.add_argument("--slots", type=int, required=True, help="ranks on each node")
    parser.add_argument("--rendezvous", required=True, help="node 0's ADDR:PORT")
    parser.add_argument("--timeout", type=int, required=True,
                        help="seconds to wait for node 0's server, and gloo's timeout")
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--horovodrun", action="store_true",
                        help="the command is horovodrun's options and command")
    return parse_with_command(parser, argv)


def host_name(node_rank: int) -> str:
    """The node's name in the plan: HOROVOD_HOSTNAME, which names its rendezvous scope."""
    return f"node{node_rank}"


def plan(node_count: int, slots: int) -> list[SlotInfo]:
    hosts = parse_hosts(",".join(f"{host_name(n)}:{slots}" for n in range(node_count)))
    return get_host_assignments(hosts, node_count * slots)


def serve(port: int, slots: list[SlotInfo]) -> None:
    """Horovod's RendezvousServer, on a fixed port: planned before it accepts requests."""
    server = RendezvousHTTPServer(("", port), RendezvousHandler, 0)
    server.init(slots)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def wait_for_server(addr: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((addr, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def interface_towards(addr: str) -> str:
    """The network interface this node uses to reach `addr` (gloo needs a real one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((socket.gethostbyname(addr), 9))
        local = s.getsockname()[0]
    for name, addresses in psutil.net_if_addrs().items():
        if any(a.family == socket.AF_INET and a.address == local for a in addresses):
            return name
    raise RuntimeError(f"no network interface has address {local}")


def run_env(addr: str, port: int, timeout: int, nics: list[str] | None = None
            ) -> dict[str, str]:
    """The node's environment plus what every rank gets from `horovodrun --gloo`."""
    env = {**create_run_env_vars(addr, nics or [interface_towards(addr)], port),
           "HOROVOD_GLOO_TIMEOUT_SECONDS": timeout}
    return {**os.environ, **{k: str(v) for k, v in env.items()}}


def slot_env(slot: SlotInfo) -> dict[str, str]:
    """HOROVOD_RANK, _SIZE, _LOCAL_RANK, _LOCAL_SIZE, _CROSS_RANK, _CROSS_SIZE, _HOSTNAME."""
    return {k: str(v) for k, v in create_slot_env_vars(slot).items()}


def rank_log(log_dir: str, node_rank: int, rank: int) -> str:
    return os.path.join(log_dir, f"node-{node_rank}.rank-{rank}.log")


def start_rank(command: list[str], env: dict[str, str], prefix: str,
               log_path: str) -> tuple[subprocess.Popen, threading.Thread]:
    """A rank, and the thread copying its output (stdout and stderr)."""
    proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    copier = threading.Thread(target=_copy_output, daemon=True,
                              args=(proc.stdout, prefix.encode(), log_path))
    copier.start()
    return proc, copier


def _copy_output(stream: BinaryIO, prefix: bytes, log_path: str) -> None:
    with open(log_path, "ab") as log:
        for line in iter(stream.readline, b""):
            log.write(line)
            log.flush()
            with _output_lock:
                sys.stdout.buffer.write(prefix + line)
                sys.stdout.buffer.flush()


def launcher_settings(args: argparse.Namespace) -> Horovodrun:
    """What the ranks run: the command as given, or horovodrun's command and options."""
    if not args.horovodrun:
        return Horovodrun(args.command, {})
    settings = parse(args.command)
    for note in settings.notes:
        print(f"bmlocal: node {args.node_rank}: {note}", flush=True)
    return settings


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        settings = launcher_settings(args)
    except Refused as exc:
        print(f"bmlocal: node {args.node_rank}: {exc}", file=sys.stderr)
        return REFUSED
    addr, port = args.rendezvous.rsplit(":", 1)
    slots = plan(args.node_count, args.slots)
    wait = settings.start_timeout or args.timeout
    if args.node_rank == 0:
        serve(int(port), slots)
    elif not wait_for_server(addr, int(port), wait):
        print(f"bmlocal: node {args.node_rank}: node 0's horovod rendezvous at "
              f"{args.rendezvous} did not come up within {wait} s", file=sys.stderr)
        return SERVER_UNREACHABLE
    os.makedirs(args.log_dir, exist_ok=True)
    base_env = {**run_env(addr, int(port), args.timeout, settings.nics), **settings.env}
    local = [s for s in slots if s.hostname == host_name(args.node_rank)]
    started = [start_rank(settings.command, {**base_env, **slot_env(slot)},
                          f"[node {args.node_rank} rank {slot.rank}] ",
                          rank_log(args.log_dir, args.node_rank, slot.rank))
               for slot in local]
    status, failed = supervise([proc for proc, _ in started])
    for _, copier in started:
        copier.join(timeout=5)
    if failed is not None:
        print(f"bmlocal: node {args.node_rank}: rank {local[failed].rank} exited with status "
              f"{status}; the node's other ranks were stopped", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
