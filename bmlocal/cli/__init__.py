"""bmlocal: serve the training-job API; submit, list, show, follow, stop, delete and wait
for jobs on any server (bmlocal or the cloud); see the pools and their queues.

Each group of commands is a module with `register(commands)` that adds its subcommands,
each with `run` set to a function of the parsed arguments that returns the exit code; a new
group is one more module and one more line in GROUPS."""
import argparse
import sys

from bmlocal.cli import jobs, logs, pools, serve
from bmlocal.replay import commands as replay

GROUPS = [serve, jobs, logs, pools, replay]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="bmlocal", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
