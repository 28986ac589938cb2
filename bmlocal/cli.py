"""The `bmlocal` command: `serve` runs the server; `submit` sends a job and follows it."""
import argparse
import json
import logging
import sys
import time
from pathlib import Path

import requests
from rich.console import Console
from rich.markup import escape

from bmlocal.config import ConfigError, load

BASE = "/rpc/2.0/easydl/pro/remotetrain"
console = Console(stderr=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bmlocal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the training-job API")
    for flag, help_text in (
            ("--host", "address to listen on (127.0.0.1)"), ("--port", "port (8765)"),
            ("--data-dir", "database, job directories and logs (./.bmlocal)"),
            ("--pfs-root", "where PFS paths live (<data-dir>/pfs)"),
            ("--bos-root", "local bucket directories (<data-dir>/bos)"),
            ("--executor", "auto, process or docker (auto)"),
            ("--hour-seconds", "length of one max_duration hour in seconds (3600)"),
            ("--grace-seconds", "SIGTERM to SIGKILL grace when a job is ended (30)"),
            ("--config", "TOML file: credentials, pools, GPUs, quotas, BOS")):
        serve.add_argument(flag, help=f"{help_text}; env BMLOCAL_"
                           f"{flag[2:].upper().replace('-', '_')}")
    submit = commands.add_parser("submit", help="create a job from a JSON file and follow it")
    submit.add_argument("file", type=Path)
    submit.add_argument("--url", default="http://127.0.0.1:8765")
    submit.add_argument("--token", default="local")
    submit.add_argument("--no-follow", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "serve":
        return run_server(vars(args))
    return run_submit(args)


def run_server(flags: dict) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                                                   "%(message)s")
    try:
        settings = load({k: v for k, v in flags.items() if k != "command"})
    except ConfigError as exc:
        console.print(f"[red]bmlocal: {escape(str(exc))}[/red]", soft_wrap=True)
        return 2
    from bmlocal.runtime.store import StoreError
    from bmlocal.server import serve  # Flask and friends only for the server
    try:
        serve(settings)
    except (ConfigError, StoreError) as exc:
        console.print(f"[red]bmlocal: {escape(str(exc))}[/red]", soft_wrap=True)
        return 2
    return 0


class Client:
    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self.token = token

    def call(self, method: str, body: dict) -> object:
        answer = requests.post(f"{self.url}{BASE}/{method}",
                               params={"access_token": self.token}, json=body, timeout=30)
        payload = answer.json()
        if "error_code" in payload:
            raise RuntimeError(f"{method}: {payload['error_code']} {payload['error_msg']} "
                               f"(log_id {payload['log_id']})")
        return payload["result"]


def run_submit(args: argparse.Namespace) -> int:
    body = json.loads(args.file.read_text())
    client = Client(args.url, args.token)
    try:
        job_id = client.call("create", body)
        console.print(f"[bold]job {job_id}[/bold] created")
        if args.no_follow:
            return 0
        status = follow(client, int(job_id), body["prjId"])
    except (RuntimeError, requests.RequestException) as exc:
        console.print(f"[red]bmlocal: {escape(str(exc))}[/red]", soft_wrap=True)
        return 1
    return 0 if status == "SUCCESSED" else 1


def follow(client: Client, job_id: int, project: str) -> str:
    """Print the job's logs as they grow until it ends; its final status."""
    offsets: dict[str, int] = {}
    last_status = ""
    while True:
        info = client.call("detail", {"id": job_id, "prjId": project})
        if info["train_status"] != last_status:
            last_status = info["train_status"]
            console.print(f"[cyan]job {job_id}: {last_status}[/cyan]")
        for name in info.get("logs", []):
            while True:
                chunk = client.call("logs", {"id": job_id, "prjId": project, "file": name,
                                             "offset": offsets.get(name, 0)})
                if not chunk["content"]:
                    break
                offsets[name] = chunk["offset"]
                for line in chunk["content"].splitlines():
                    sys.stdout.write(f"{name[:-4]} | {line}\n")
                sys.stdout.flush()
        if last_status in ("SUCCESSED", "FAILED", "STOPPED"):
            console.print(f"[bold]job {job_id} {last_status}[/bold]: "
                          f"{info.get('status_reason', '')}")
            return last_status
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
