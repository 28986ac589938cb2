"""Bound how long a node of a PaddleFleet job waits for the others to join.

paddle.distributed.launch's HTTP rendezvous waits for every node forever. This runs the
launch command (in the node's process group) and watches that rendezvous (paddle's KV
store on node 0, where each node's launcher puts one key under /JOB_ID/info): when not every
node has joined within the timeout, it stops the command and fails the node.

    python -m bmlocal.launchers.paddle_guard --master ADDR:PORT --key /JOB_ID/info \
        --nodes 2 --timeout 45 -- /bin/sh -c 'exec python -m paddle.distributed.launch ...'
"""
import argparse
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from typing import Callable

from bmlocal.launchers.supervise import parse_with_command, supervise

NOT_JOINED = 124
POLL_S = 1.0
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no HTTP(S)_PROXY


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="paddle_guard")
    parser.add_argument("--master", required=True, help="paddle's rendezvous ADDR:PORT")
    parser.add_argument("--key", required=True, help="the key prefix every node puts under")
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--timeout", type=int, required=True)
    return parse_with_command(parser, argv)


def joined(master: str, key: str) -> int:
    """How many nodes have put their key so far (0 while the store is not up)."""
    try:
        with _direct.open(f"http://{master}{key}", timeout=2) as response:
            return len(json.load(response))
    except (OSError, ValueError):
        return 0


def join_check(args: argparse.Namespace) -> Callable[[], int | None]:
    """A supervise() check: NOT_JOINED once the timeout passes with a node missing."""
    deadline = time.monotonic() + args.timeout
    state = {"done": False, "next": 0.0, "seen": 0}

    def check() -> int | None:
        now = time.monotonic()
        if state["done"] or now < state["next"]:
            return None
        state["next"] = now + POLL_S
        state["seen"] = joined(args.master, args.key)
        state["done"] = state["seen"] >= args.nodes
        if not state["done"] and now > deadline:
            print(f"bmlocal: only {state['seen']} of {args.nodes} nodes joined paddle's "
                  f"rendezvous at {args.master} within {args.timeout} s", file=sys.stderr)
            return NOT_JOINED
        return None

    return check


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    proc = subprocess.Popen(args.command)
    status, _ = supervise([proc], join_check(args))
    return status


if __name__ == "__main__":
    sys.exit(main())
