"""`bmlocal pools`: each pool's GPUs, who holds which, and its queue in order."""
import argparse
from typing import Any

from rich.markup import escape
from rich.table import Table

from bmlocal.cli.common import OK, add_client_options, connect, emit_json, guarded, out
from bmlocal.cli.remote import get_json


def register(commands: argparse._SubParsersAction) -> None:
    pools = commands.add_parser("pools", help="pools, GPUs and their holders, the queues")
    add_client_options(pools)
    pools.set_defaults(run=guarded(run_pools))


def run_pools(args: argparse.Namespace) -> int:
    with connect(args) as client:
        pools = get_json(client, "/ops/v1/pools", {}, "pools")
    if args.output == "json":
        emit_json(pools)
        return OK
    out.print(summary(pools))
    holders = [(p["pool"], h) for p in pools for h in p["holders"]]
    if holders:
        table = Table(title="GPUs in use", title_justify="left")
        for column in ("GPU", "POOL", "JOB", "PROJECT", "NODE"):
            table.add_column(column)
        for pool, h in holders:
            table.add_row(str(h["gpu"]), pool, f"{h['job_id']} {escape(h['name'])}",
                          escape(h["project"]), str(h["rank"]))
        out.print(table)
    waiting = [(p["pool"], w) for p in pools for w in p["queue"]]
    if waiting:
        table = Table(title="queue", title_justify="left")
        for column in ("POOL", "POSITION", "JOB", "PROJECT", "NODES", "WAITING (s)"):
            table.add_column(column)
        for pool, w in waiting:
            table.add_row(pool, str(w["position"]), f"{w['job_id']} {escape(w['name'])}",
                          escape(w["project"]), str(w["node_count"]),
                          str(int(w["waited_seconds"])))
        out.print(table)
    return OK


def summary(pools: list[dict[str, Any]]) -> Table:
    table = Table(title="pools", title_justify="left")
    for column in ("POOL", "GPU TYPE", "GPUS IN USE", "RUNNING JOBS", "WAITING"):
        table.add_column(column)
    for p in pools:
        table.add_row(escape(p["pool"]), escape(p["gpu_type"]),
                      f"{p['gpus_in_use']}/{p['gpus_total']}", str(p["running_jobs"]),
                      str(len(p["queue"])))
    return table
