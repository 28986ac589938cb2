"""`bmlocal replay`, `mirror`, `compare` and `export`: a cloud job run here, its inputs
copied here, two runs side by side, and a local job sent back to the cloud."""
import argparse
import json
import os
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from bmlocal.cli.common import (FAILED, OK, UsageError, add_client_options, connect,
                                emit_json, guarded, out, project_of, say, setting)
from bmlocal.cli.remote import get_json
from bmlocal.client import BmlError, Client
from bmlocal.replay import compare as comparing
from bmlocal.replay.cloudjob import ReplayInputError, parse
from bmlocal.replay.mirror import Destination, MirrorError, mirror, mirror_image

COLORS = {"kept": "green", "mapped": "cyan", "scaled": "yellow", "assumed": "magenta",
          "unavailable": "red"}
SOURCE_FLAGS = ("code", "dataset", "output")


def register(commands: argparse._SubParsersAction) -> None:
    replay = commands.add_parser("replay", help="run a cloud job (its detail or create "
                                                "body, as JSON) on this server")
    replay.add_argument("file", type=Path, help="the cloud job: detail result or create body")
    replay.add_argument("--dry-run", action="store_true", help="show the mapping, create nothing")
    _source_flags(replay)
    add_client_options(replay)
    replay.set_defaults(run=guarded(run_replay))

    mirror_cmd = commands.add_parser("mirror", help="copy a cloud job's BOS inputs and image "
                                                    "here, for a replay without network")
    mirror_cmd.add_argument("job", help="a cloud job JSON file, or a local job id")
    mirror_cmd.add_argument("--config", help="bmlocal's TOML file ([replay.mirror] is the "
                                             "source, [bos] or bos_root the destination); "
                                             "env BMLOCAL_CONFIG")
    mirror_cmd.add_argument("--source-endpoint", help="the cloud's BOS endpoint; env "
                                                      "BMLOCAL_MIRROR_ENDPOINT")
    mirror_cmd.add_argument("--bos-root", help="copy into these local bucket directories")
    mirror_cmd.add_argument("--manifest", help="manifest file (beside the copies by default)")
    _source_flags(mirror_cmd)
    add_client_options(mirror_cmd)
    mirror_cmd.set_defaults(run=guarded(run_mirror))

    compare = commands.add_parser("compare", help="two runs side by side (job ids or "
                                                  "bml-run.json files); exit 0 if inputs match")
    compare.add_argument("a")
    compare.add_argument("b")
    add_client_options(compare)
    compare.set_defaults(run=guarded(run_compare))

    export = commands.add_parser("export", help="the create body that runs a job in the cloud")
    export.add_argument("id", type=int)
    add_client_options(export)
    export.set_defaults(run=guarded(run_export))


def _source_flags(parser: argparse.ArgumentParser) -> None:
    for name in SOURCE_FLAGS:
        parser.add_argument(f"--{name}-source", choices=("BOS", "PFS"),
                            help=f"{name} UrlSource where the file has none")


def _sources(args: argparse.Namespace) -> dict[str, str]:
    return {n: getattr(args, f"{n}_source") for n in SOURCE_FLAGS
            if getattr(args, f"{n}_source", None)}


def read_job_file(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read it: {exc.strerror}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: not JSON: {exc}") from None


def post_json(client: Client, path: str, body: dict[str, Any], operation: str) -> Any:
    """POST to one of bmlocal's own routes with the client's token (renewed once on a
    110/111 answer where AK/SK are known); its result, or BmlError with the API's code."""
    payload: Any = None
    for renew in (False, True):
        token = client.token(renew=renew)
        answer = client.send("POST", path, operation,
                             {"access_token": token} if token else {}, body)
        try:
            payload = answer.json()
        except ValueError:
            raise BmlError(None, f"HTTP {answer.status}: this server has no {path}",
                           operation=operation, http_status=answer.status) from None
        if payload.get("error_code") not in (110, 111) or client.ak is None:
            break
    if "error_code" in payload:
        raise BmlError(int(payload["error_code"]), str(payload.get("error_msg", "")),
                       payload.get("log_id"), operation)
    return payload["result"]


# --- replay -------------------------------------------------------------------------------

def run_replay(args: argparse.Namespace) -> int:
    job = read_job_file(args.file)
    body = {"job": job, "dry_run": args.dry_run, "sources": _sources(args)}
    project = setting(args, "project", "BMLOCAL_PROJECT")
    if project:
        body["prjId"] = project
    with connect(args) as client:
        result = post_json(client, "/bmlocal/replay", body, "replay")
    if args.output == "json":
        emit_json(result)
        return OK
    out.print(mapping_table(result["rows"]))
    if result["id"] is None:
        say(f"dry run: job {result['name']} of project {result['project']} was not created")
    else:
        say(f"job {result['id']} created: {result['name']} (project {result['project']})")
        out.print(str(result["id"]))
    return OK


def mapping_table(rows: list[dict[str, str]]) -> Table:
    table = Table(title="cloud job -> this machine", title_justify="left")
    for column in ("FIELD", "CLOUD", "LOCAL", "", "NOTE"):
        table.add_column(column, overflow="fold", no_wrap=column in ("FIELD", ""))
    for row in rows:
        color = COLORS.get(row["outcome"], "white")
        table.add_row(row["field"], escape(row["cloud"]), escape(row["local"]),
                      f"[{color}]{row['outcome']}[/{color}]", escape(row["note"]))
    return table


# --- mirror -------------------------------------------------------------------------------

def run_mirror(args: argparse.Namespace) -> int:
    from bmlocal.config import ConfigError, load
    from bmlocal.replay.config import ReplayConfig
    from bmlocal.runtime.storage.s3settings import bos_settings
    try:
        settings = load({"config": args.config, "bos_root": args.bos_root})
        local_s3 = None if args.bos_root else bos_settings(settings.table.get("bos", {}),
                                                           os.environ)
    except (ConfigError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    config = settings.section("replay") or ReplayConfig()
    body = _mirror_body(args, config)
    source = _source(args, config)
    dest = Destination(settings.bos) if local_s3 is None else Destination(settings=local_s3)
    manifest = Path(args.manifest) if args.manifest else _manifest(settings, dest, body)
    try:
        report = mirror(body, source, dest, manifest, image=lambda: _image(body, settings))
    except MirrorError as exc:
        if args.output == "json":
            emit_json({"error": str(exc)})
        raise UsageError(f"mirror failed, nothing marked complete: {exc}") from None
    return _mirror_report(args, report, manifest)


def _mirror_body(args: argparse.Namespace, config: Any) -> dict[str, Any]:
    if args.job.isdigit() and not Path(args.job).exists():
        with connect(args) as client:
            return get_json(client, "/bmlocal/export",
                            {"id": args.job, "prjId": project_of(args)}, "export")
    defaults = {"code": config.code_source, "dataset": config.dataset_source,
                "output": config.output_source}
    try:
        return parse(read_job_file(Path(args.job)), _sources(args), defaults).body
    except ReplayInputError as exc:
        raise UsageError(f"{args.job}: {exc}") from None


def _source(args: argparse.Namespace, config: Any) -> Any:
    from bmlocal.runtime.storage.s3settings import BosSettings
    table = config.mirror
    endpoint = args.source_endpoint or os.environ.get("BMLOCAL_MIRROR_ENDPOINT") or \
        table.endpoint
    if not endpoint:
        raise UsageError("where is the cloud's BOS? give --source-endpoint, "
                         "BMLOCAL_MIRROR_ENDPOINT or [replay.mirror] endpoint")
    return BosSettings(endpoint=endpoint,
                       access_key=os.environ.get("BMLOCAL_MIRROR_ACCESS_KEY") or
                       table.access_key or "",
                       secret_key=os.environ.get("BMLOCAL_MIRROR_SECRET_KEY") or
                       table.secret_key or "",
                       region=table.region, addressing_style=table.addressing_style)


def _manifest(settings: Any, dest: Destination, body: dict[str, Any]) -> Path:
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(body.get("name")))
    base = dest.root / ".bmlocal-mirror" if dest.root else settings.data_dir / "mirror"
    return base / f"{name}.json"


def _image(body: dict[str, Any], settings: Any) -> dict[str, Any] | None:
    train = body.get("train_config") or {}
    if train.get("env_type") != "CCR" or not train.get("image"):
        return None
    from bmlocal.runtime.executors.docker import engine, image_reference
    registries = dict(settings.config.docker.registries)
    repository = train.get("repository_id") or ""
    reference = f"{image_reference(train['image'], repository, registries)}:{train.get('tag')}"
    return mirror_image(engine(), reference, repository in registries)


def _mirror_report(args: argparse.Namespace, report: dict[str, Any], manifest: Path) -> int:
    image = report.get("image")
    failed = bool(image and image.get("status") == "unavailable")
    if args.output == "json":
        emit_json({**report, "manifest": str(manifest)})
        return FAILED if failed else OK
    table = Table(title=f"mirror -> {report['destination']}", title_justify="left")
    for column in ("FIELD", "PATH", "OBJECTS", "COPIED", "UNCHANGED", "BYTES COPIED"):
        table.add_column(column)
    for path, item in report["paths"].items():
        table.add_row(item["field"], escape(path), str(len(item["objects"])),
                      str(item["copied"]), str(item["skipped"]), str(item["bytes_copied"]))
    out.print(table)
    if image:
        say(f"image {image['reference']}: {image['status']} {image.get('note', '')}".strip())
    say(f"manifest: {manifest}")
    return FAILED if failed else OK


# --- compare and export -------------------------------------------------------------------

def load_record(args: argparse.Namespace, client: Client | None, given: str) -> dict[str, Any]:
    path = Path(given)
    if path.exists() or not given.isdigit():
        data = read_job_file(path)
        if not comparing.is_record(data):
            raise UsageError(f"{given}: not a bml-run.json record")
        return data
    assert client is not None
    return get_json(client, "/bmlocal/provenance", {"id": given, "prjId": project_of(args)},
                    "provenance")


def run_compare(args: argparse.Namespace) -> int:
    with connect(args) as client:
        a, b = load_record(args, client, args.a), load_record(args, client, args.b)
    result = comparing.compare(a, b)
    if args.output == "json":
        emit_json(result)
    else:
        _print_compare(args, result)
    return OK if result["inputs_match"] else FAILED


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else f"{text[:19]}…{text[-19:]}"


def _print_compare(args: argparse.Namespace, result: dict[str, Any]) -> None:
    table = Table(title=f"{args.a} vs {args.b}", title_justify="left")
    for column in ("ASPECT", "A", "B", ""):
        table.add_column(column, overflow="fold")
    for name, aspect in result["aspects"].items():
        mark = "[green]same[/green]" if aspect["same"] else "[red]differs[/red]"
        table.add_row(name, escape(_short(aspect["a"])), escape(_short(aspect["b"])), mark)
    out.print(table)
    if result["metrics"]:
        metrics = Table(title="metrics.json", title_justify="left")
        for column in ("METRIC", "A", "B", "B - A"):
            metrics.add_column(column)
        for name, m in result["metrics"].items():
            metrics.add_row(escape(name), str(m["a"]), str(m["b"]),
                            "" if m["diff"] is None else f"{m['diff']:+.6g}")
        out.print(metrics)
    say("inputs match" if result["inputs_match"]
        else f"inputs differ: {', '.join(result['differ'])}")


def run_export(args: argparse.Namespace) -> int:
    with connect(args) as client:
        body = get_json(client, "/bmlocal/export",
                        {"id": args.id, "prjId": project_of(args)}, "export")
    if args.output == "json":
        emit_json(body)
    else:
        out.print_json(json.dumps(body, ensure_ascii=False))
    return OK
