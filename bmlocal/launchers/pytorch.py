"""PytorchDDP: torchrun on every node, joined through node 0's static rendezvous."""
import os

from bmlocal.launchers.base import (
    JOIN_TIMEOUT_S, NodeCommand, Topology, exec_prefixed, node_log_dir, python_command,
    python_module, shell, workers_per_node)

LAUNCHER_MODULES = {"torch.distributed.run", "torch.distributed.launch"}
# Node 0's TCPStore waits JOIN_TIMEOUT_S for the other nodes. Another node's store client
# connects with this timeout, then retries once after a random backoff (up to ~1.3 x the
# timeout): it gives up on a node 0 that never comes after 2-3.3 x this.
CLIENT_TIMEOUT_S = 15
# Its sitecustomize destroys torch.distributed's process groups at exit (see its docstring).
EXIT_HOOK_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_exit")


def node_command(start_cmd: str, topo: Topology) -> NodeCommand:
    """`python ...` is wrapped in torchrun; anything else (torchrun itself included) runs as
    it is and joins through the PET_* defaults torchrun reads."""
    argv = python_command(start_cmd)
    if argv and python_module(argv) not in LAUNCHER_MODULES:
        torchrun = [topo.python, "-m", "torch.distributed.run", *_flags(topo), "--no-python"]
        return NodeCommand(shell(exec_prefixed(torchrun, start_cmd)), _env(topo))
    return NodeCommand(shell(start_cmd), _env(topo))


def _settings(topo: Topology) -> dict[str, str]:
    """torchrun's options for this node (static rendezvous through node 0's TCPStore)."""
    return {
        "nnodes": str(topo.node_count),
        "node_rank": str(topo.node_rank),
        "nproc_per_node": str(workers_per_node(topo)),
        "master_addr": topo.master_addr,
        "master_port": str(topo.master_port),
        "rdzv_id": f"bml-{topo.job_id}",
        "rdzv_conf": f"timeout={_store_timeout(topo)}",
        "log_dir": node_log_dir(topo, "torchrun"),
        "tee": "3",
    }


def _store_timeout(topo: Topology) -> int:
    return JOIN_TIMEOUT_S if topo.node_rank == 0 else CLIENT_TIMEOUT_S


def _flags(topo: Topology) -> list[str]:
    return [part for name, value in _settings(topo).items() for part in (f"--{name}", value)]


def _env(topo: Topology) -> dict[str, str]:
    env = {f"PET_{name.upper()}": value for name, value in _settings(topo).items()}
    env["MASTER_ADDR"] = topo.master_addr
    env["MASTER_PORT"] = str(topo.master_port)
    # torchrun prefixes each worker's teed lines with this (${rank} is the global rank)
    env["TORCHELASTIC_LOG_LINE_PREFIX_TEMPLATE"] = f"[node {topo.node_rank} rank ${{rank}}] "
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (EXIT_HOOK_DIR, os.environ.get("PYTHONPATH")) if p)
    return env
