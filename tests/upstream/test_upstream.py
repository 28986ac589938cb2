"""Upstream training scripts (Horovod's, Kubeflow's, Paddle's: see ORIGIN.md), launched the
way their own docs launch them, as 2-node jobs through a real server."""
import json
import os
from pathlib import Path
from typing import Iterator

import pytest

from bmlocal.launchers.pytorch import EXIT_HOOK_DIR
from tests.distributed.conftest import FRAMEWORKS, require
from tests.support.server import Server

pytestmark = pytest.mark.slow
SCRIPTS = Path(__file__).resolve().parent / "scripts"
HVD_SCRIPT = "horovod_pytorch_synthetic_benchmark.py"
HVD_ARGS = ("--model smallnet --batch-size 8 --num-warmup-batches 1 "
            "--num-batches-per-iter 2 --num-iters 2")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(Path(tmp_path_factory.mktemp("upstream"))).start()
    yield running
    running.stop()


def run(server: Server, name: str, strategy: str, start_cmd: str) -> tuple[dict, str]:
    """A 2-node job of the upstream scripts; its final detail and both nodes' output."""
    require(FRAMEWORKS[strategy])
    code = server.write_code(f"code/{name}", {p.name: p.read_text()
                                              for p in SCRIPTS.iterdir() if p.is_file()})
    os.chmod(server.pfs / "code" / name / "run.sh", 0o755)
    job_id = server.create(name, start_cmd, **{
        "train_config.code_path": code, "train_config.distribute_strategy": strategy,
        "resource_config.node_count": 2})
    info = server.wait(job_id, timeout=240)
    return info, server.node_log(job_id, 0) + server.node_log(job_id, 1)


@pytest.mark.parametrize("name, start_cmd", [
    ("hvd-assignments", f"OMP_NUM_THREADS=1 horovodrun -np 2 -H localhost:2 "
                        f"--timeline-filename $BML_OUTPUT_DIR/timeline.json "
                        f"--fusion-threshold-mb 8 python {HVD_SCRIPT} {HVD_ARGS}"),
    ("hvd-script", "horovodrun -np 2 ./run.sh"),
    ("hvd-module", f"python -m horovod.runner.launch -np 2 python {HVD_SCRIPT} {HVD_ARGS}"),
])
def test_horovodrun_trains_one_world_across_the_nodes(server: Server, name: str,
                                                      start_cmd: str) -> None:
    info, logs = run(server, name, "Horovod", start_cmd)
    assert info["train_status"] == "SUCCESSED", (info, logs[-3000:])
    # rank 0 of one 2-rank world says so once; two separate worlds would say it twice
    assert logs.count("Number of CPUs: 2") == 1, logs[-3000:]
    assert "[node 0 rank 0] Total img/sec on 2 CPU(s)" in logs
    assert "horovodrun -np 2: not used, the job's topology sets the ranks" in logs


def test_horovodrun_options_reach_every_rank_as_horovod_variables(server: Server) -> None:
    """--timeline-filename becomes HOROVOD_TIMELINE, which makes rank 0 write it."""
    timeline = server.pfs / "out" / "hvd-assignments" / "timeline.json"
    if not timeline.exists():
        run(server, "hvd-assignments", "Horovod",
            f"horovodrun -np 2 --timeline-filename $BML_OUTPUT_DIR/timeline.json "
            f"python {HVD_SCRIPT} {HVD_ARGS}")
    assert '"name"' in timeline.read_text()


def test_a_horovodrun_option_bmlocal_cannot_honour_fails_the_job_with_why(
        server: Server) -> None:
    info, logs = run(server, "hvd-mpi", "Horovod", f"horovodrun -np 2 --mpi python {HVD_SCRIPT}")
    assert info["train_status"] == "FAILED"
    assert "horovodrun --mpi is not supported here: bmlocal runs Horovod jobs with Gloo" in logs


def test_kubeflows_cpu_demo_with_bare_torchrun(server: Server) -> None:
    info, logs = run(server, "kubeflow-demo", "PytorchDDP", "torchrun kubeflow_cpu_demo.py")
    assert info["train_status"] == "SUCCESSED", (info, logs[-3000:])
    for rank in (0, 1):
        assert f"rank {rank} world_size 2 result tensor([2])" in logs
        # the demo never destroys its process group: the exit hook does (test_exit_hook.py)
        node = json.loads((server.data_dir / "jobs" / str(info["id"]) / "nodes" / str(rank)
                           / "node.json").read_text())
        assert node["env"]["PYTHONPATH"].split(os.pathsep)[0] == EXIT_HOOK_DIR


def test_paddles_collective_example_with_fleetrun(server: Server) -> None:
    info, logs = run(server, "paddle-fleetrun", "PaddleFleet",
                     "fleetrun paddle_train_with_fleet.py")
    assert info["train_status"] == "SUCCESSED", (info, logs[-3000:])
    job_dir = server.data_dir / "jobs" / str(info["id"])
    for rank in (0, 1):  # fleetrun runs under the guard that bounds paddle's rendezvous
        node = json.loads((job_dir / "nodes" / str(rank) / "node.json").read_text())
        assert node["argv"][1:3] == ["-m", "bmlocal.launchers.paddle_guard"]
    logs_dir = job_dir / "logs" / "paddle"
    workers = "".join(p.read_text(errors="replace") for p in logs_dir.rglob("workerlog.*"))
    assert workers.count("[validation] accuracy/loss") == 2, workers[-3000:]
