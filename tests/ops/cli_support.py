"""Running the `bmlocal` command against a test server, as a user's shell would."""
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmlocal.cli import main

from tests.support.server import Server


def cli_env(server: Server, project: str = "p1", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BMLOCAL_")}
    env.update(BMLOCAL_URL=server.url, BMLOCAL_PROJECT=project,
               BMLOCAL_PROFILE_FILE=str(server.root / "no-profiles.toml"), COLUMNS="200")
    env.update(extra)
    return env


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def cli(server: Server, *args: str, project: str = "p1", **extra: str) -> Done:
    """The command run in this process (its whole code path, a fraction of the start-up
    time of a new interpreter); the tests that need a process of its own use cli_process."""
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(cli_env(server, project, **extra))
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse's usage errors
                code = int(exc.code or 0)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Done(code, out.getvalue(), err.getvalue())


def cli_process(server: Server, *args: str, **popen: Any) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "bmlocal.cli", *args], text=True,
                            env=cli_env(server), **popen)


def cli_json(server: Server, *args: str, **kwargs: Any) -> Any:
    done = cli(server, *args, "-o", "json", **kwargs)
    assert done.returncode == 0, (done.stdout, done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_job(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(json.dumps(body))
    return path


def ticking(count: int, pause: float = 0.3, exit_code: int = 0) -> str:
    """A start_cmd printing `tick 0` .. `tick count-1`, then exiting with `exit_code`."""
    return (f"python -c \"import sys, time\nfor i in range({count}):\n"
            f"    print('tick', i, flush=True); time.sleep({pause})\nsys.exit({exit_code})\"")
