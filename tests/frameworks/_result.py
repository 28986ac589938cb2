"""Shared by the all-reduce scripts: arguments and the result file."""
import argparse
import json
import os
import sys


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fail-rank", type=int, default=-1,
                        help="this global rank exits 3 after joining, before the all-reduce")
    return parser.parse_args()


def fail_if_chosen(rank: int, args: argparse.Namespace) -> None:
    if rank == args.fail_rank:
        print(f"rank {rank}: failing on purpose", flush=True)
        sys.exit(3)


def report(rank: int, world_size: int, total: float) -> None:
    print(f"rank {rank} of {world_size}: all-reduce sum {total}", flush=True)
    if rank == 0:
        path = os.path.join(os.environ["BML_OUTPUT_DIR"], "result.json")
        with open(path, "w") as f:
            json.dump({"world_size": world_size, "sum": total}, f)
