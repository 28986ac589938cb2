"""`bmlocal logs ID`: a job's logs, read once or followed to the job's end (`--follow`, which
exits 0 only when the job SUCCESSED). Also the follow used by `submit`."""
import argparse
import queue
import sys
import threading
import time
from typing import Any

from bmlocal.cli.common import (FAILED, OK, add_client_options, connect, emit_json, err,
                                guarded, job_id, project_of, say)
from bmlocal.cli.remote import Event, follow_log, get_json
from bmlocal.client import BmlError, Client

PENDING_POLL_SECONDS = 1.0


def register(commands: argparse._SubParsersAction) -> None:
    logs = commands.add_parser("logs", help="print a job's logs; --follow them to its end")
    logs.add_argument("id", type=job_id)
    logs.add_argument("-f", "--follow", action="store_true",
                      help="follow until the job ends; exit 0 only if it SUCCESSED")
    which = logs.add_mutually_exclusive_group()
    which.add_argument("--node", type=int, help="only this node's log (rank)")
    which.add_argument("--file", help="one log file by name (job.log: the runtime's lines)")
    logs.add_argument("--since", type=int, default=0, metavar="OFFSET",
                      help="start at this byte offset (as the JSON output's `offset` gives)")
    add_client_options(logs)
    logs.set_defaults(run=guarded(run_logs))


def run_logs(args: argparse.Namespace) -> int:
    project = project_of(args)
    with connect(args) as client:
        detail = client.detail(args.id, project)
        files = chosen_files(args, detail)
        if not args.follow:
            for name in files:
                read_once(client, args.id, project, name, args.since, args.output)
            return OK
        return follow(client, args.id, project, files, args.since, args.output)


def chosen_files(args: argparse.Namespace, detail: dict[str, Any]) -> list[str]:
    if args.file:
        return [args.file]
    if args.node is not None:
        return [f"node-{args.node}.log"]
    nodes = int(detail.get("resource_config", {}).get("node_count", 1) or 1)
    return [f"node-{rank}.log" for rank in range(nodes)]


def read_once(client: Client, job: int, project: str, name: str, offset: int,
              output: str) -> None:
    """Everything written so far, chunk by chunk (never the whole file in memory)."""
    while True:
        chunk = client.logs(job, project, name, offset)
        if not chunk["content"]:
            return
        offset = int(chunk["offset"])
        if output == "json":
            emit_json({"file": name, "offset": offset, "text": chunk["content"]})
        else:
            sys.stdout.write(chunk["content"])
            sys.stdout.flush()


def wait_while_pending(client: Client, job: int, project: str) -> None:
    """A spinner with the job's place in its queue until it leaves PENDING."""
    detail = client.detail(job, project)
    if detail["train_status"] != "PENDING":
        return
    with err.status(f"job {job} PENDING") as spinner:
        while detail["train_status"] == "PENDING":
            spinner.update(f"job {job} PENDING{queue_note(client, job, project)}")
            time.sleep(PENDING_POLL_SECONDS)
            detail = client.detail(job, project)


def queue_note(client: Client, job: int, project: str) -> str:
    try:
        position = get_json(client, "/ops/v1/job", {"id": job, "prjId": project},
                            "job")["queue_position"]
    except BmlError:  # the cloud, or an older server: no position to show
        return ""
    return f": position {position} in its queue" if position else ": starting"


class Printer:
    """Lines of several files, each prefixed with its name; one file's text as it is."""

    def __init__(self, files: list[str], output: str) -> None:
        self.prefixed = len(files) > 1
        self.output = output
        self.partial = {name: "" for name in files}

    def text(self, name: str, offset: int, text: str) -> None:
        if self.output == "json":
            emit_json({"file": name, "offset": offset, "text": text})
            return
        if not self.prefixed:
            sys.stdout.write(text)
        else:
            lines = (self.partial[name] + text).split("\n")
            self.partial[name] = lines.pop()
            tag = name.removesuffix(".log")
            sys.stdout.write("".join(f"{tag} | {line}\n" for line in lines))
        sys.stdout.flush()

    def flush(self) -> None:
        for name, rest in self.partial.items():
            if rest and self.output != "json":
                sys.stdout.write(f"{name.removesuffix('.log')} | {rest}\n")


def follow(client: Client, job: int, project: str, files: list[str], offset: int,
           output: str) -> int:
    """Every file followed at once until the job ends; 0 only if it SUCCESSED."""
    if output != "json":
        wait_while_pending(client, job, project)
    events: queue.Queue[tuple[str, Event | BaseException]] = queue.Queue()

    def pump(name: str) -> None:
        try:
            for event in follow_log(client, job, project, name, offset):
                events.put((name, event))
        except BaseException as exc:  # handed to the main thread, which raises it
            events.put((name, exc))
    for name in files:
        threading.Thread(target=pump, args=(name,), daemon=True).start()
    printer, open_files, end = Printer(files, output), set(files), None
    while open_files:
        name, item = events.get()
        if isinstance(item, BaseException):
            raise item
        if item.kind == "log":
            printer.text(name, int(item.data["offset"]), str(item.data["text"]))
        elif item.kind in ("end", "error"):
            open_files.discard(name)
            end = item
    printer.flush()
    return finished(job, end, output)


def finished(job: int, end: Event | None, output: str) -> int:
    if end is None or end.kind == "error":
        message = end.data.get("error_msg", "the job is gone") if end else "no end seen"
        raise BmlError(406012 if end else None, str(message), operation="logs")
    status, reason = end.data["status"], end.data.get("reason", "")
    if output == "json":
        emit_json({"id": job, "train_status": status, "status_reason": reason})
    else:
        err.print(f"[bold]job {job} {status}[/bold]: ", end="")
        say(reason)
    return OK if status == "SUCCESSED" else FAILED
