"""`bmlocal serve`: the server, configured by flags, BMLOCAL_* variables and a TOML file."""
import argparse
import os

from rich.markup import escape

from bmlocal import serverlog
from bmlocal.cli.common import USAGE, err
from bmlocal.config import ConfigError, load

FLAGS = (("--host", "address to listen on (127.0.0.1)"), ("--port", "port (8765)"),
         ("--data-dir", "database, job directories and logs (./.bmlocal)"),
         ("--pfs-root", "where PFS paths live (<data-dir>/pfs)"),
         ("--bos-root", "local bucket directories (<data-dir>/bos)"),
         ("--executor", "auto, process, docker or simulate (auto)"),
         ("--hour-seconds", "length of one max_duration hour in seconds (3600)"),
         ("--grace-seconds", "SIGTERM to SIGKILL grace when a job is ended (30)"),
         ("--config", "TOML file: credentials, pools, GPUs, quotas, BOS"))


def register(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser("serve", help="serve the training-job API")
    for flag, help_text in FLAGS:
        serve.add_argument(flag, help=f"{help_text}; env BMLOCAL_"
                           f"{flag[2:].upper().replace('-', '_')}")
    serve.set_defaults(run=run_server)


def run_server(args: argparse.Namespace) -> int:
    level = os.environ.get("BMLOCAL_LOG_LEVEL", "info").lower()
    if level not in serverlog.LEVELS:
        err.print(f"[red]bmlocal: BMLOCAL_LOG_LEVEL={escape(level)}: use one of "
                  f"{', '.join(serverlog.LEVELS)}[/red]")
        return USAGE
    serverlog.configure(level=level)
    flags = {flag[2:].replace("-", "_"): getattr(args, flag[2:].replace("-", "_"))
             for flag, _ in FLAGS}
    try:
        settings = load(flags)
    except ConfigError as exc:
        err.print(f"[red]bmlocal: {escape(str(exc))}[/red]")
        return USAGE
    from bmlocal.runtime.store import StoreError
    from bmlocal.server import serve  # Flask and friends only for the server
    try:
        serve(settings)
    except (ConfigError, StoreError) as exc:
        err.print(f"[red]bmlocal: {escape(str(exc))}[/red]")
        return USAGE
    return 0
