"""Commands on jobs: submit, ls, show, stop, rm, wait."""
import argparse
import json
import time
from pathlib import Path
from typing import Any

import yaml
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from bmlocal.cli.common import (FAILED, OK, UsageError, add_client_options, connect,
                                emit_json, err, guarded, job_id, out, project_of, say)
from bmlocal.cli.logs import follow, wait_while_pending
from bmlocal.cli.remote import get_json
from bmlocal.client import BmlError, Client

COLOURS = {"PENDING": "yellow", "RUNNING": "blue", "SUCCESSED": "green", "FAILED": "red",
           "STOPPED": "bright_black"}
LIST_PAGE = 100


def register(commands: argparse._SubParsersAction) -> None:
    submit = commands.add_parser("submit", help="create a job from a JSON or YAML file and "
                                                "follow it")
    submit.add_argument("file", type=Path)
    follow_flag = submit.add_mutually_exclusive_group()
    follow_flag.add_argument("--follow", dest="follow", action="store_true", default=True,
                             help="follow its logs to the end (the default)")
    follow_flag.add_argument("--no-follow", dest="follow", action="store_false",
                             help="print the new id and return")
    add_client_options(submit)
    submit.set_defaults(run=guarded(run_submit))

    ls = commands.add_parser("ls", help="list a project's jobs, newest first")
    ls.add_argument("--status", choices=sorted(COLOURS), help="only jobs in this status")
    ls.add_argument("-n", "--num", type=int, default=20, help="how many (20)")
    ls.add_argument("--start", type=int, default=0, help="skip this many newest jobs")
    ls.add_argument("-w", "--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                    help="refresh every SECONDS (2) until interrupted")
    add_client_options(ls)
    ls.set_defaults(run=guarded(run_ls))

    for name, helptext, run in (
            ("show", "a job's detail, status history and nodes", run_show),
            ("stop", "stop a job", run_stop), ("rm", "delete an ended job", run_rm),
            ("wait", "wait for a job to end; exit 0 only if it SUCCESSED", run_wait)):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("id", type=job_id)
        if name == "wait":
            command.add_argument("--timeout", type=float, default=7 * 24 * 3600.0,
                                 help="give up (exit 1) after this many seconds")
        add_client_options(command)
        command.set_defaults(run=guarded(run))


def load_job(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"{path}: {exc.strerror}") from None
    kind = "YAML" if path.suffix in (".yaml", ".yml") else "JSON"
    try:
        body = yaml.safe_load(text) if kind == "YAML" else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{path} is not valid {kind}: {exc}") from None
    if not isinstance(body, dict):
        raise UsageError(f"{path} does not hold a job (an object with prjId, train_config, ...)")
    return body


def run_submit(args: argparse.Namespace) -> int:
    body = load_job(args.file)
    project = body.get("prjId") if isinstance(body.get("prjId"), str) else ""
    with connect(args) as client:
        new = client.create(body)
        if args.output == "json" and not args.follow:
            emit_json({"id": new, "prjId": project})
        elif args.output != "json":
            err.print(f"[bold]job {new}[/bold] created")
        if not args.follow:
            return OK
        nodes = int(body.get("resource_config", {}).get("node_count", 1) or 1)
        return follow(client, new, project, [f"node-{r}.log" for r in range(nodes)], 0,
                      args.output)


def status_text(status: str) -> str:
    return f"[{COLOURS.get(status, 'white')}]{status}[/]"


def jobs_table(items: list[dict[str, Any]], total: int) -> Table:
    table = Table(title=f"{len(items)} of {total} job(s)", title_justify="left")
    for column in ("ID", "NAME", "STATUS", "RUN (min)", "RESOURCE", "FRAMEWORK", "CREATED"):
        table.add_column(column)
    for item in items:
        table.add_row(str(item["id"]), escape(item["name"]), status_text(item["train_status"]),
                      str(item.get("run_time", 0)), escape(item.get("resource_name", "")),
                      item.get("framework", ""),
                      time.strftime("%Y-%m-%d %H:%M:%S",
                                    time.localtime(item.get("create_time", 0))))
    return table


def listed(client: Client, project: str, status: str | None, start: int, num: int
           ) -> dict[str, Any]:
    """A page of the project's jobs; with a status, pages are read until `num` match."""
    if status is None:
        return client.list(project, start, num)
    found: list[dict[str, Any]] = []
    total, offset = None, start
    while len(found) < num and (total is None or offset < total):
        page = client.list(project, offset, LIST_PAGE)
        total = page["total"]
        if not page["items"]:
            break
        found += [i for i in page["items"] if i["train_status"] == status]
        offset += len(page["items"])
    return {"total": len(found), "items": found[:num]}


def run_ls(args: argparse.Namespace) -> int:
    project = project_of(args)
    with connect(args) as client:
        page = listed(client, project, args.status, args.start, args.num)
        if args.output == "json":
            emit_json(page)
            if not args.watch:
                return OK
        if not args.watch:
            out.print(jobs_table(page["items"], page["total"]))
            return OK
        with Live(jobs_table(page["items"], page["total"]), console=out,
                  auto_refresh=False) as live:
            while True:
                time.sleep(args.watch)
                page = listed(client, project, args.status, args.start, args.num)
                if args.output == "json":
                    emit_json(page)
                else:
                    live.update(jobs_table(page["items"], page["total"]), refresh=True)


def extras(client: Client, job: int, project: str) -> dict[str, Any] | None:
    """bmlocal's history, nodes and queue position; None from a server without them."""
    try:
        return get_json(client, "/ops/v1/job", {"id": job, "prjId": project}, "show")
    except BmlError as exc:
        if exc.error_code is not None:
            raise
        return None


def run_show(args: argparse.Namespace) -> int:
    project = project_of(args)
    with connect(args) as client:
        detail = client.detail(args.id, project)
        more = extras(client, args.id, project)
    if args.output == "json":
        emit_json({**detail, **({"bmlocal": more} if more else {})})
        return OK
    print_detail(detail, more)
    return OK


def print_detail(detail: dict[str, Any], more: dict[str, Any] | None) -> None:
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column()
    train, resource = detail.get("train_config", {}), detail.get("resource_config", {})
    rows = [("id", str(detail["id"])), ("name", detail["name"]),
            ("status", status_text(detail["train_status"])),
            ("reason", detail.get("status_reason", "")),
            ("queue position", str((more or {}).get("queue_position") or "")),
            ("run time (min)", str(detail.get("run_time", 0))),
            ("start_cmd", train.get("start_cmd", "")),
            ("strategy", train.get("distribute_strategy", "")),
            ("resource", f"{resource.get('resource_type', '')}/"
                         f"{resource.get('resource_name', '')} x "
                         f"{resource.get('node_count', '')} node(s)"),
            ("output", f"{train.get('output_UrlSource', '')} {train.get('output_path', '')}"),
            ("logs", ", ".join(detail.get("logs", [])))]
    for key, value in rows:
        if value:
            summary.add_row(key, value if key == "status" else escape(value))
    out.print(summary)
    if not more:
        return
    history = Table(title="status history", title_justify="left")
    for column in ("TIME", "STATUS", "WHAT"):
        history.add_column(column)
    for entry in more["history"]:
        history.add_row(time.strftime("%H:%M:%S", time.localtime(entry["time"])),
                        status_text(entry["status"]) if entry["status"] else "",
                        escape(entry["text"]))
    out.print(history)
    nodes = Table(title="nodes", title_justify="left")
    for column in ("RANK", "EXECUTOR", "HANDLE", "GPUS", "EXIT"):
        nodes.add_column(column)
    for node in more["nodes"]:
        handle = " ".join(f"{k}={v}" for k, v in node["handle"].items() if k != "kind")
        nodes.add_row(str(node["rank"]), node["executor"], escape(handle),
                      ",".join(map(str, node["gpus"])) or "-",
                      "-" if node["exit_code"] is None else str(node["exit_code"]))
    out.print(nodes)


def run_stop(args: argparse.Namespace) -> int:
    project = project_of(args)
    with connect(args) as client:
        client.stop(args.id, project)
    return done(args, {"id": args.id, "stopped": True}, f"job {args.id} stopping")


def run_rm(args: argparse.Namespace) -> int:
    project = project_of(args)
    with connect(args) as client:
        client.delete(args.id, project)
    return done(args, {"id": args.id, "deleted": True}, f"job {args.id} deleted")


def done(args: argparse.Namespace, result: dict[str, Any], text: str) -> int:
    if args.output == "json":
        emit_json(result)
    else:
        say(text)
    return OK


def run_wait(args: argparse.Namespace) -> int:
    project = project_of(args)
    deadline = time.monotonic() + args.timeout
    with connect(args) as client:
        if args.output != "json":
            wait_while_pending(client, args.id, project)
        with err.status(f"job {args.id} running"):
            final = client.wait(args.id, project, max(deadline - time.monotonic(), 0.0))
    status, reason = final["train_status"], final.get("status_reason", "")
    if args.output == "json":
        emit_json(final)
    else:
        err.print(f"[bold]job {args.id} {status}[/bold]: ", end="")
        say(reason)
    return OK if status == "SUCCESSED" else FAILED
