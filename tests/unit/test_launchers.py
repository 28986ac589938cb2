"""Each strategy's node command: exact argv and environment."""
import os
import shlex
import subprocess

import pytest

from bmlocal.launchers import node_command
from bmlocal.launchers.base import (NodeCommand, Topology, python_module,
                                    split_assignments, words)
from bmlocal.launchers.pytorch import EXIT_HOOK_DIR

PY = "/venv/bin/python"
LOGS = "/jobs/7/logs"


def topo(node_count: int = 1, node_rank: int = 0, gpus: tuple[int, ...] = (),
         master_addr: str = "127.0.0.1") -> Topology:
    return Topology(job_id=7, node_count=node_count, node_rank=node_rank, gpus=gpus,
                    master_addr=master_addr, master_port=29500, aux_port=29501,
                    log_dir=LOGS, python=PY)


# --- plain -----------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", [None, ""])
def test_plain_runs_start_cmd_through_the_shell(strategy: str | None) -> None:
    assert node_command(strategy, "python train.py > out 2>&1", topo(2, 1)) == NodeCommand(
        ["/bin/sh", "-c", "python train.py > out 2>&1"], {})


def test_unknown_strategy_is_an_error() -> None:
    with pytest.raises(ValueError, match="MPI"):
        node_command("MPI", "python train.py", topo())


# --- PytorchDDP ------------------------------------------------------------------------

def ddp_env(node_count: int, node_rank: int, nproc: int = 1) -> dict[str, str]:
    return {
        "PET_NNODES": str(node_count),
        "PET_NODE_RANK": str(node_rank),
        "PET_NPROC_PER_NODE": str(nproc),
        "PET_MASTER_ADDR": "127.0.0.1",
        "PET_MASTER_PORT": "29500",
        "PET_RDZV_ID": "bml-7",
        "PET_RDZV_CONF": f"timeout={45 if node_rank == 0 else 15}",
        "PET_LOG_DIR": f"{LOGS}/torchrun/node-{node_rank}",
        "PET_TEE": "3",
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "29500",
        "TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE": f"[node {node_rank} rank ${{rank}}] ",
        "PYTHONPATH": os.pathsep.join(p for p in (EXIT_HOOK_DIR, os.environ.get("PYTHONPATH"))
                                      if p),
    }


def torchrun(node_count: int, node_rank: int, nproc: int = 1) -> str:
    return (f"exec {PY} -m torch.distributed.run --nnodes {node_count} "
            f"--node_rank {node_rank} --nproc_per_node {nproc} --master_addr 127.0.0.1 "
            f"--master_port 29500 --rdzv_id bml-7 "
            f"--rdzv_conf timeout={45 if node_rank == 0 else 15} "
            f"--log_dir {LOGS}/torchrun/node-{node_rank} --tee 3 --no-python")


@pytest.mark.parametrize("node_count,node_rank", [(1, 0), (2, 0), (2, 1)])
def test_ddp_wraps_python_in_torchrun(node_count: int, node_rank: int) -> None:
    command = node_command("PytorchDDP", "python train.py --out $BML_OUTPUT_DIR",
                           topo(node_count, node_rank))
    assert command == NodeCommand(
        ["/bin/sh", "-c",
         f"{torchrun(node_count, node_rank)} python train.py --out $BML_OUTPUT_DIR"],
        ddp_env(node_count, node_rank))


def test_ddp_wraps_python_after_variable_assignments() -> None:
    start_cmd = """STEPS=4 NAME='a b' X="$HOME/c d" python train.py"""
    command = node_command("PytorchDDP", start_cmd, topo(2, 1))
    assert command.argv == ["/bin/sh", "-c", """STEPS=4 NAME='a b' X="$HOME/c d" """
                            f"{torchrun(2, 1)} python train.py"]


def test_ddp_runs_one_worker_per_gpu() -> None:
    command = node_command("PytorchDDP", "python3 -u -m pkg.train", topo(2, 1, gpus=(2, 3)))
    assert command == NodeCommand(
        ["/bin/sh", "-c", f"{torchrun(2, 1, nproc=2)} python3 -u -m pkg.train"],
        ddp_env(2, 1, nproc=2))


@pytest.mark.parametrize("start_cmd", [
    "torchrun train.py",
    "torchrun --nproc_per_node 2 train.py",
    "python -m torch.distributed.run train.py",
    "python3 -m torch.distributed.launch --use-env train.py",
    "cd src && python train.py",
    "bash run.sh",
])
@pytest.mark.parametrize("node_count,node_rank", [(1, 0), (2, 1)])
def test_ddp_leaves_other_commands_alone_but_sets_the_variables(
        start_cmd: str, node_count: int, node_rank: int) -> None:
    assert node_command("PytorchDDP", start_cmd, topo(node_count, node_rank)) == NodeCommand(
        ["/bin/sh", "-c", start_cmd], ddp_env(node_count, node_rank))


# --- PaddleFleet -----------------------------------------------------------------------

def paddle_env(node_count: int, node_rank: int) -> dict[str, str]:
    return {
        "PADDLE_MASTER": "127.0.0.1:29500",
        "PADDLE_NNODES": str(node_count),
        "PADDLE_RANK": str(node_rank),
        "PADDLE_JOB_ID": "bml-7",
        "PADDLE_LOG_DIR": f"{LOGS}/paddle/node-{node_rank}",
    }


def paddle_launch(node_count: int, node_rank: int, nproc: int = 1,
                  host: str | None = "127.0.0.1") -> str:
    line = (f"exec {PY} -m paddle.distributed.launch --master 127.0.0.1:29500 "
            f"--nnodes {node_count} --rank {node_rank} --nproc_per_node {nproc} "
            f"--job_id bml-7 --log_dir {LOGS}/paddle/node-{node_rank}")
    return line + (f" --host {host}" if host else "")


GUARD = [PY, "-m", "bmlocal.launchers.paddle_guard", "--master", "127.0.0.1:29500",
         "--key", "/bml-7/info", "--nodes", "2", "--timeout", "45", "--"]


def test_paddle_one_node_wraps_python_in_the_launcher() -> None:
    assert node_command("PaddleFleet", "python train.py", topo()) == NodeCommand(
        ["/bin/sh", "-c", f"{paddle_launch(1, 0)} python train.py"], paddle_env(1, 0))


@pytest.mark.parametrize("node_rank", [0, 1])
def test_paddle_two_nodes_wraps_python_in_the_guarded_launcher(node_rank: int) -> None:
    assert node_command("PaddleFleet", "python train.py", topo(2, node_rank)) == NodeCommand(
        [*GUARD, "/bin/sh", "-c", f"{paddle_launch(2, node_rank)} python train.py"],
        paddle_env(2, node_rank))


def test_paddle_runs_one_worker_per_gpu() -> None:
    command = node_command("PaddleFleet", "python train.py", topo(2, 1, gpus=(0, 1)))
    assert command.argv == [*GUARD, "/bin/sh", "-c",
                            f"{paddle_launch(2, 1, nproc=2)} python train.py"]


def test_paddle_pins_only_node_0_host_across_machines() -> None:
    node0 = node_command("PaddleFleet", "python t.py", topo(2, 0, master_addr="10.0.0.5"))
    node1 = node_command("PaddleFleet", "python t.py", topo(2, 1, master_addr="10.0.0.5"))
    assert node0.argv[-1].endswith("--host 10.0.0.5 python t.py")
    assert "--host" not in node1.argv[-1]


def test_paddle_launcher_in_start_cmd_gets_the_variables_and_the_guard() -> None:
    start_cmd = "python -m paddle.distributed.launch --nproc_per_node 2 train.py"
    assert node_command("PaddleFleet", start_cmd, topo(2, 1)) == NodeCommand(
        [*GUARD, "/bin/sh", "-c", start_cmd], paddle_env(2, 1))
    assert node_command("PaddleFleet", start_cmd, topo()) == NodeCommand(
        ["/bin/sh", "-c", start_cmd], paddle_env(1, 0))


@pytest.mark.parametrize("start_cmd,line", [
    ("fleetrun train.py", "exec fleetrun train.py"),
    ("GLOG_v=0 /opt/bin/fleetrun --log_dir x train.py", "GLOG_v=0 exec /opt/bin/fleetrun "
                                                       "--log_dir x train.py")])
def test_fleetrun_gets_the_variables_and_the_guard(start_cmd: str, line: str) -> None:
    assert node_command("PaddleFleet", start_cmd, topo(2, 1)) == NodeCommand(
        [*GUARD, "/bin/sh", "-c", line], paddle_env(2, 1))
    assert node_command("PaddleFleet", start_cmd, topo()) == NodeCommand(
        ["/bin/sh", "-c", start_cmd], paddle_env(1, 0))


def test_paddle_leaves_other_commands_alone_but_sets_the_variables() -> None:
    assert node_command("PaddleFleet", "bash run.sh", topo(2, 0)) == NodeCommand(
        ["/bin/sh", "-c", "bash run.sh"], paddle_env(2, 0))


# --- Horovod ---------------------------------------------------------------------------

def hvd_agent(node_count: int, node_rank: int, slots: int = 1) -> list[str]:
    return [PY, "-m", "bmlocal.launchers.horovod_agent", "--node-rank", str(node_rank),
            "--node-count", str(node_count), "--slots", str(slots),
            "--rendezvous", "127.0.0.1:29501", "--timeout", "45", "--log-dir", LOGS,
            "--", "/bin/sh", "-c"]


@pytest.mark.parametrize("node_count,node_rank", [(1, 0), (2, 0), (2, 1)])
def test_horovod_runs_python_in_the_node_agent(node_count: int, node_rank: int) -> None:
    command = node_command("Horovod", "python x.py --out $BML_OUTPUT_DIR",
                           topo(node_count, node_rank))
    assert command == NodeCommand(
        [*hvd_agent(node_count, node_rank), "exec python x.py --out $BML_OUTPUT_DIR"], {})


def test_horovod_keeps_variable_assignments_before_exec() -> None:
    command = node_command("Horovod", "A=1 B= python x.py", topo(2, 1))
    assert command.argv == [*hvd_agent(2, 1), "A=1 B= exec python x.py"]


def test_horovod_runs_one_rank_per_gpu() -> None:
    command = node_command("Horovod", "python x.py", topo(2, 1, gpus=(0, 1, 2)))
    assert command.argv == [*hvd_agent(2, 1, slots=3), "exec python x.py"]


def horovodrun_line(node_count: int, node_rank: int, rest: str, assignments: str = "") -> str:
    """The node's shell line: the agent with --horovodrun, given horovodrun's own words."""
    agent = shlex.join([*hvd_agent(node_count, node_rank)[:-3], "--horovodrun", "--"])
    return " ".join(p for p in (assignments, "exec", agent, rest) if p)


@pytest.mark.parametrize("start_cmd,assignments,rest", [
    ("horovodrun -np 2 python3 -u x.py --lr 0.1", "", "-np 2 python3 -u x.py --lr 0.1"),
    ("OMP_NUM_THREADS=1 horovodrun -np 4 -H localhost:4 --gloo python3 x.py",
     "OMP_NUM_THREADS=1", "-np 4 -H localhost:4 --gloo python3 x.py"),
    ("A=1 B='x y' /opt/bin/horovodrun --fusion-threshold-mb 32 -np 2 ./run.sh $BML_OUTPUT_DIR",
     "A=1 B='x y'", "--fusion-threshold-mb 32 -np 2 ./run.sh $BML_OUTPUT_DIR"),
    ("python -m horovod.runner.launch -np 2 python x.py", "", "-np 2 python x.py"),
    ("X=1 python3 -u -m horovod.runner.launch -np 2 --timeline-filename t.json bash run.sh",
     "X=1", "-np 2 --timeline-filename t.json bash run.sh"),
])
@pytest.mark.parametrize("node_count,node_rank", [(1, 0), (2, 1)])
def test_horovodrun_is_taken_over_by_the_node_agent(start_cmd: str, assignments: str,
                                                     rest: str, node_count: int,
                                                     node_rank: int) -> None:
    assert node_command("Horovod", start_cmd, topo(node_count, node_rank)) == NodeCommand(
        ["/bin/sh", "-c", horovodrun_line(node_count, node_rank, rest, assignments)], {})


@pytest.mark.parametrize("start_cmd", ["cd src && horovodrun -np 2 python x.py",
                                       "horovodrun -np 2 python x.py | tee out",
                                       "python -m horovod.runner.launch -np 2 x.py; echo"])
def test_horovodrun_in_a_compound_command_fails_the_node_with_a_reason(start_cmd: str
                                                                       ) -> None:
    command = node_command("Horovod", start_cmd, topo(2, 1))
    ran = subprocess.run(command.argv, capture_output=True, text=True, timeout=10)
    assert ran.returncode == 2
    assert "horovodrun is given the job topology only when it is the whole start_cmd" \
        in ran.stderr


@pytest.mark.parametrize("start_cmd", ["bash run.sh", "python x.py; echo done",
                                       "echo horovodrunner"])
def test_horovod_leaves_other_commands_alone(start_cmd: str) -> None:
    assert node_command("Horovod", start_cmd, topo(2, 1)) == NodeCommand(
        ["/bin/sh", "-c", start_cmd], {})


# --- command parsing -------------------------------------------------------------------

@pytest.mark.parametrize("start_cmd,expected", [
    ("python train.py --a 'b c'", ["python", "train.py", "--a", "b c"]),
    ("python a.py && python b.py", []),
    ("python a.py | tee x", []),
    ("python a.py 2>&1", []),
    ("python 'unbalanced", []),
    ("python a.py\npython b.py", []),
    ("python -c 'import a; a.main()'", ["python", "-c", "import a; a.main()"]),
])
def test_words_of_simple_commands_only(start_cmd: str, expected: list[str]) -> None:
    assert words(start_cmd) == expected


@pytest.mark.parametrize("start_cmd,expected", [
    ("python a.py", ("", "python a.py")),
    (" A=1  B='x y' python a.py B=2", ("A=1  B='x y'", "python a.py B=2")),
    ('A="$X y"', ('A="$X y"', "")),
    ("A=1; python a.py", ("", "A=1; python a.py")),
    ("1A=2 python a.py", ("", "1A=2 python a.py")),
])
def test_leading_assignments(start_cmd: str, expected: tuple[str, str]) -> None:
    assert split_assignments(start_cmd) == expected


@pytest.mark.parametrize("argv,module", [
    (["python", "-m", "torch.distributed.run", "x.py"], "torch.distributed.run"),
    (["python", "-u", "-mpkg.main"], "pkg.main"),
    (["python", "x.py", "-m", "y"], None),
    (["python", "-m"], None),
])
def test_python_module(argv: list[str], module: str | None) -> None:
    assert python_module(argv) == module
