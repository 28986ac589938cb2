"""The sitecustomize bmlocal puts first on a PytorchDDP node's PYTHONPATH: it destroys
torch.distributed's process groups at exit, costs nothing where torch is not used, and hands
over to any other sitecustomize."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bmlocal.launchers.pytorch import EXIT_HOOK_DIR
from tests.distributed.conftest import require
from tests.support.server import free_port


def python(code: str, extra_path: str = "") -> subprocess.CompletedProcess:
    path = os.pathsep.join(p for p in (EXIT_HOOK_DIR, extra_path) if p)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": path})


def run(code: str, extra_path: str = "") -> str:
    ran = python(code, extra_path)
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_nothing_is_imported_where_torch_is_not_used() -> None:
    assert run("import sys; print('torch' in sys.modules)").strip() == "False"


def test_another_sitecustomize_still_runs(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text("import builtins; builtins.SEEN = 'theirs'\n")
    assert run("print(SEEN)", str(tmp_path)).strip() == "theirs"


@pytest.mark.slow
def test_process_groups_are_destroyed_at_exit_after_the_scripts_own_handlers() -> None:
    require("torch")
    out = run(f"""
import atexit, torch.distributed as dist
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:{free_port()}", rank=0,
                        world_size=1)
original = dist.destroy_process_group
def destroy(*args):
    print("destroyed", flush=True)
    original(*args)
    print("initialized after:", dist.is_initialized(), flush=True)
dist.destroy_process_group = destroy
atexit.register(lambda: print("script's handler, initialized:", dist.is_initialized()))
""")
    assert out.splitlines() == ["script's handler, initialized: True", "destroyed",
                                "initialized after: False"]


@pytest.mark.slow
@pytest.mark.parametrize("ending, status", [("raise RuntimeError('the script failed')", 1),
                                            ("import sys; sys.exit(3)", 3),
                                            ("import sys; sys.exit('failed')", 1)])
def test_a_process_that_fails_is_left_to_exit_as_it_would(ending: str, status: int) -> None:
    require("torch")
    code = f"""
import torch.distributed as dist
dist.init_process_group("gloo", init_method="tcp://127.0.0.1:{free_port()}", rank=0,
                        world_size=1)
dist.destroy_process_group = lambda *args: print("destroyed", flush=True)
{ending}
"""
    ran = python(code)
    assert ran.returncode == status, ran.stderr
    assert "destroyed" not in ran.stdout


@pytest.mark.slow
def test_torchruns_tailer_copies_every_line_and_stops_without_waiting_out_its_sleep(
        tmp_path: Path) -> None:
    require("torch")
    log = tmp_path / "rank.log"
    out = run(f"""
import io, time
from torch.distributed.elastic.multiprocessing import tail_log
print(tail_log.tail_logfile.__module__)
log, copy = {str(log)!r}, io.StringIO()
with open(log, "w") as f:
    f.write("first\\n")
tailer = tail_log.TailLog("trainer", {{0: log}}, copy, {{0: "[node 0 rank 0] "}},
                          interval_sec=60).start()
time.sleep(0.5)  # the tailer opened the file and sleeps at its end, for 60 s unless woken
with open(log, "a") as f:
    f.write("last\\n")
started = time.monotonic()
tailer.stop()
print(f"stopped in {{time.monotonic() - started:.1f}} s")
print(copy.getvalue(), end="")
""")
    assert out.splitlines() == ["sitecustomize", "stopped in 0.0 s",
                                "[node 0 rank 0] first", "[node 0 rank 0] last"]


def test_a_tailer_of_another_shape_is_left_as_it_is(tmp_path: Path) -> None:
    package = tmp_path / "torch" / "distributed" / "elastic" / "multiprocessing"
    package.mkdir(parents=True)
    for level in (package, *package.parents):
        if level == tmp_path:
            break
        (level / "__init__.py").touch()
    (package / "tail_log.py").write_text("def tail_logfile(file, dst, finished):\n    pass\n")
    out = run("from torch.distributed.elastic.multiprocessing import tail_log\n"
              "print(tail_log.tail_logfile.__module__)", str(tmp_path))
    assert out.strip() == "torch.distributed.elastic.multiprocessing.tail_log"
