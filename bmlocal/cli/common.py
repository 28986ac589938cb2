"""What every client command shares: where the server is and who we are (flags, then the
environment, then a profile file), the output (rich tables on a terminal, or JSON), and
turning API errors into a message and an exit code."""
import argparse
import json
import os
import sys
import tomllib
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape

from bmlocal.client import BmlError, Client

DEFAULT_URL = "http://127.0.0.1:8765"
OK, FAILED, USAGE = 0, 1, 2  # FAILED: an API error, or a job that did not succeed
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class UsageError(Exception):
    """A command that cannot run as given (no project, a file that is not a job, ...)."""


def profile_path() -> Path:
    given = os.environ.get("BMLOCAL_PROFILE_FILE")
    return Path(given) if given else Path.home() / ".config" / "bmlocal" / "profiles.toml"


def profile(name: str | None) -> dict[str, Any]:
    """The [name] table of the profile file (name: --profile, BMLOCAL_PROFILE, "default")."""
    path, wanted = profile_path(), name or os.environ.get("BMLOCAL_PROFILE") or "default"
    if not path.exists():
        if name:
            raise UsageError(f"no profile file at {path} (BMLOCAL_PROFILE_FILE)")
        return {}
    try:
        table = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"profile file {path}: {exc}") from None
    if wanted not in table:
        if name:
            raise UsageError(f"profile [{wanted}] is not in {path}")
        return {}
    return dict(table[wanted])


def add_client_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("server and identity (flag, then env, then profile)")
    group.add_argument("--url", help=f"server root; env BMLOCAL_URL ({DEFAULT_URL})")
    group.add_argument("--ak", help="access key; env BMLOCAL_AK")
    group.add_argument("--sk", help="secret key; env BMLOCAL_SK")
    group.add_argument("--token", help="an access token to use as is; env BMLOCAL_TOKEN")
    group.add_argument("--profile", help="table of the profile file (default); file: env "
                                         "BMLOCAL_PROFILE_FILE or ~/.config/bmlocal/profiles.toml")
    group.add_argument("-p", "--project", help="prjId; env BMLOCAL_PROJECT")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table",
                        help="table for people (default), json for scripts")


def setting(args: argparse.Namespace, name: str, env: str) -> str | None:
    given = getattr(args, name, None)
    if given:
        return given
    if os.environ.get(env):
        return os.environ[env]
    value = profile(getattr(args, "profile", None)).get(name)
    return str(value) if value is not None else None


def connect(args: argparse.Namespace) -> Client:
    url = setting(args, "url", "BMLOCAL_URL") or DEFAULT_URL
    ak, sk = setting(args, "ak", "BMLOCAL_AK"), setting(args, "sk", "BMLOCAL_SK")
    if ak and not sk:
        raise UsageError("an access key (AK) was given without its secret key (SK)")
    return Client(url, ak=ak, sk=sk, token=setting(args, "token", "BMLOCAL_TOKEN"))


def project_of(args: argparse.Namespace) -> str:
    project = setting(args, "project", "BMLOCAL_PROJECT")
    if not project:
        raise UsageError("which project? give -p/--project, BMLOCAL_PROJECT or `project` "
                         "in the profile")
    return project


def emit_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def say(text: str) -> None:
    """A line for people, on stderr (stdout stays for what a script reads)."""
    err.print(escape(text))


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """API errors as the cloud's code and message, and a non-zero exit."""
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except BmlError as exc:
            if getattr(args, "output", "table") == "json":
                emit_json({"error_code": exc.error_code, "error_msg": exc.error_msg,
                           "log_id": exc.log_id, "operation": exc.operation})
            err.print(f"[red]bmlocal: {escape(str(exc))}[/red]")
            return FAILED
        except UsageError as exc:
            err.print(f"[red]bmlocal: {escape(str(exc))}[/red]")
            return USAGE
        except KeyboardInterrupt:
            err.print("interrupted")
            return 130
    wrapped.__name__ = run.__name__
    return wrapped


def job_id(text: str) -> int:
    """A job id argument: a whole number from 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a job id is a whole number from 1, not {text!r}")
    return int(text)
