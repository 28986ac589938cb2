"""Horovod: every node runs bmlocal's horovod node agent instead of horovodrun and ssh."""
import os
import re

from bmlocal.launchers.base import (
    JOIN_TIMEOUT_S, NodeCommand, Topology, agent_argv, exec_prefixed, python_command, shell,
    words, workers_per_node)

AGENT_MODULE = "bmlocal.launchers.horovod_agent"
# horovodrun's options end where the training command starts: the first `python` word
_PYTHON_WORD = re.compile(r"(?:^|\s)((?:\S*/)?python(\d+(\.\d+)*)?)(?=\s|$)")


def node_command(start_cmd: str, topo: Topology) -> NodeCommand:
    """`python ...` and `horovodrun [options] python ...` run as that python command in
    each of the node's ranks (one per GPU, one on CPU pools; horovodrun's -np/-H are
    replaced by the job's topology). Any other command runs as it is."""
    command = _training_command(start_cmd)
    if not command:
        return NodeCommand(shell(start_cmd), {})
    return NodeCommand(agent_argv(topo, AGENT_MODULE, _options(topo),
                                  exec_prefixed([], command)), {})


def _training_command(start_cmd: str) -> str | None:
    if python_command(start_cmd):
        return start_cmd.strip()
    argv = words(start_cmd)
    if not argv or os.path.basename(argv[0]) != "horovodrun":
        return None
    found = _PYTHON_WORD.search(start_cmd)
    rest = start_cmd[found.start(1):].strip() if found else ""
    return rest if python_command(rest) else None


def _options(topo: Topology) -> list[str]:
    return ["--node-rank", str(topo.node_rank), "--node-count", str(topo.node_count),
            "--slots", str(workers_per_node(topo)),
            "--rendezvous", f"{topo.master_addr}:{topo.aux_port}",
            "--timeout", str(JOIN_TIMEOUT_S), "--log-dir", topo.log_dir]
