"""PaddleFleet: paddle.distributed.launch on every node, joined through node 0."""
import ipaddress

from bmlocal.launchers.base import (
    JOIN_TIMEOUT_S, NodeCommand, Topology, agent_argv, exec_prefixed, node_log_dir,
    python_command, python_module, shell, split_assignments, words, workers_per_node)

LAUNCHER_MODULE = "paddle.distributed.launch"
GUARD_MODULE = "bmlocal.launchers.paddle_guard"
FLEETRUN = "fleetrun"  # paddle's script for `python -m paddle.distributed.launch`


def node_command(start_cmd: str, topo: Topology) -> NodeCommand:
    """`python ...` is wrapped in paddle's launcher; a start_cmd already using it (or
    `fleetrun`) gets the PADDLE_* variables, which that launcher prefers to its own flags.
    Either way, with more than one node, a guard fails the node when not every node joins in
    time (paddle's own rendezvous waits forever). Any other command runs as it is, with the
    variables."""
    argv = python_command(start_cmd)
    env = _env(topo)
    if not argv:
        if _is_fleetrun(start_cmd) and topo.node_count > 1:
            return NodeCommand(agent_argv(topo, GUARD_MODULE, _guard_options(topo),
                                          exec_prefixed([], start_cmd.strip())), env)
        return NodeCommand(shell(start_cmd), env)
    module = python_module(argv)
    if module != LAUNCHER_MODULE:
        launcher = [topo.python, "-m", LAUNCHER_MODULE, *_flags(topo)]
        start_cmd = exec_prefixed(launcher, start_cmd)
    if topo.node_count == 1:
        return NodeCommand(shell(start_cmd), env)
    return NodeCommand(agent_argv(topo, GUARD_MODULE, _guard_options(topo), start_cmd), env)


def _is_fleetrun(start_cmd: str) -> bool:
    argv = words(split_assignments(start_cmd)[1])
    return bool(argv) and argv[0].rsplit("/", 1)[-1] == FLEETRUN


def _job_id(topo: Topology) -> str:
    return f"bml-{topo.job_id}"


def _master(topo: Topology) -> str:
    return f"{topo.master_addr}:{topo.master_port}"


def _flags(topo: Topology) -> list[str]:
    flags = ["--master", _master(topo), "--nnodes", str(topo.node_count),
             "--rank", str(topo.node_rank), "--nproc_per_node", str(workers_per_node(topo)),
             "--job_id", _job_id(topo), "--log_dir", node_log_dir(topo, "paddle")]
    host = _host(topo)
    return flags + (["--host", host] if host else [])


def _host(topo: Topology) -> str | None:
    """The address paddle announces for this node. Node 0's is master_addr (paddle hosts its
    rendezvous only where its own address matches it); on one machine every node's is; on
    other nodes paddle resolves its hostname."""
    if topo.node_rank == 0 or _is_loopback(topo.master_addr):
        return topo.master_addr
    return None


def _is_loopback(addr: str) -> bool:
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return addr == "localhost"


def _env(topo: Topology) -> dict[str, str]:
    return {
        "PADDLE_MASTER": _master(topo),
        "PADDLE_NNODES": str(topo.node_count),
        "PADDLE_RANK": str(topo.node_rank),
        "PADDLE_JOB_ID": _job_id(topo),
        "PADDLE_LOG_DIR": node_log_dir(topo, "paddle"),
    }


def _guard_options(topo: Topology) -> list[str]:
    return ["--master", _master(topo), "--key", f"/{_job_id(topo)}/info",
            "--nodes", str(topo.node_count), "--timeout", str(JOIN_TIMEOUT_S)]
