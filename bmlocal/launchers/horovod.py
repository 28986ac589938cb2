"""Horovod: every node runs bmlocal's horovod node agent instead of horovodrun and ssh."""
import re
import shlex

from bmlocal.launchers.base import (
    JOIN_TIMEOUT_S, NodeCommand, Topology, agent_argv, exec_prefixed, python_command,
    python_module, shell, split_assignments, words, workers_per_node)

AGENT_MODULE = "bmlocal.launchers.horovod_agent"
LAUNCH_MODULE = "horovod.runner.launch"  # what the horovodrun script runs
# The launcher at the start of a command: `horovodrun` or `python [options] -m
# horovod.runner.launch`; its own words (options, then the command) follow it.
_LAUNCHER = re.compile(r"\s*(?:\S*/)?(?:horovodrun|python[\d.]*\s+(?:-[^\s-]\S*\s+)*?"
                       r"-m\s*horovod\.runner\.launch)(?=\s|$)")
_MENTION = re.compile(r"(?:^|[\s/;&|(`])(?:horovodrun|horovod\.runner\.launch)(?=[\s;&|)`]|$)")
REFUSED = 2


def node_command(start_cmd: str, topo: Topology) -> NodeCommand:
    """`python ...` runs as each of the node's ranks (one per GPU, one on CPU pools);
    `horovodrun [options] COMMAND` (or `python -m horovod.runner.launch`), after any
    `NAME=value` words, runs COMMAND as each rank with horovodrun's options read by horovod's
    own parser (-np/-H give way to the job's topology). A launcher the agent cannot take
    over (inside a compound shell command) fails the node with the reason, rather than
    starting one separate Horovod world per node. Any other command runs as it is."""
    assignments, command = split_assignments(start_cmd)
    launcher_args = _launcher_args(command)
    if launcher_args is not None:
        agent = [topo.python, "-m", AGENT_MODULE, *_options(topo), "--horovodrun", "--"]
        return NodeCommand(shell(exec_prefixed(agent, f"{assignments} {launcher_args}")), {})
    if python_command(start_cmd):
        return NodeCommand(agent_argv(topo, AGENT_MODULE, _options(topo),
                                      exec_prefixed([], start_cmd.strip())), {})
    if _MENTION.search(start_cmd):
        return _refusal("horovodrun is given the job topology only when it is the whole "
                        "start_cmd (`[NAME=value ...] horovodrun [options] COMMAND`): put "
                        "the rest of the shell line in a script that horovodrun runs")
    return NodeCommand(shell(start_cmd), {})


def _launcher_args(command: str) -> str | None:
    """horovodrun's options and command as written, when `command` is a simple command
    that starts with the launcher; else None."""
    argv = words(command)
    found = _LAUNCHER.match(command)
    if not argv or found is None:
        return None
    if argv[0].rsplit("/", 1)[-1] != "horovodrun" and python_module(argv) != LAUNCH_MODULE:
        return None
    return command[found.end():].strip()


def _refusal(reason: str) -> NodeCommand:
    message = f"bmlocal: {reason}"
    return NodeCommand(shell(f"echo {shlex.quote(message)} >&2; exit {REFUSED}"), {})


def _options(topo: Topology) -> list[str]:
    return ["--node-rank", str(topo.node_rank), "--node-count", str(topo.node_count),
            "--slots", str(workers_per_node(topo)),
            "--rendezvous", f"{topo.master_addr}:{topo.aux_port}",
            "--timeout", str(JOIN_TIMEOUT_S), "--log-dir", topo.log_dir]
