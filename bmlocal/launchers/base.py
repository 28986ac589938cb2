"""What a launcher is given and what it returns, and the helpers the strategies share."""
import os
import re
import shlex
from dataclasses import dataclass

# How long a node waits for the others to join a rendezvous before its node fails.
JOIN_TIMEOUT_S = 45

_PYTHON = re.compile(r"python(\d+(\.\d+)*)?")
_OPERATOR = re.compile(r"[();<>|&]+")
_ASSIGNMENT = re.compile(r"""\s*[A-Za-z_][A-Za-z0-9_]*="""  # NAME=, then a value to a blank
                         r"""(?:"[^"]*"|'[^']*'|[^\s"'();<>|&])*(\s+|$)""")


@dataclass(frozen=True)
class Topology:
    job_id: int
    node_count: int
    node_rank: int
    gpus: tuple[int, ...]      # GPU indices given to this node; () on CPU pools
    master_addr: str           # node 0's address (127.0.0.1 on one machine)
    master_port: int           # a free port reserved for this job
    aux_port: int              # a second free port reserved for this job
    log_dir: str               # the job's BML_LOG_DIR as the node sees it
    python: str                # the interpreter to use for wrappers


@dataclass(frozen=True)
class NodeCommand:
    argv: list[str]            # run in the job's code dir
    env: dict[str, str]        # added on top of the job's base environment


def plain(start_cmd: str, topo: Topology) -> NodeCommand:
    """No strategy: the start_cmd as it is."""
    return NodeCommand(shell(start_cmd), {})


def shell(command: str) -> list[str]:
    return ["/bin/sh", "-c", command]


def exec_prefixed(prefix: list[str], start_cmd: str) -> str:
    """A shell line running `prefix` followed by start_cmd's own words, shell expansion kept;
    start_cmd's leading `NAME=value` words stay in front, where the shell exports them."""
    assignments, command = split_assignments(start_cmd)
    return " ".join(p for p in (assignments, "exec", shlex.join(prefix), command) if p)


def split_assignments(start_cmd: str) -> tuple[str, str]:
    """start_cmd's leading `NAME=value` words, as written, and the command after them."""
    end = 0
    while end < len(start_cmd) and (found := _ASSIGNMENT.match(start_cmd, end)):
        end = found.end()
    return start_cmd[:end].strip(), start_cmd[end:].strip()


def words(start_cmd: str) -> list[str]:
    """The words of a simple command; [] when start_cmd has shell operators, several lines
    or bad quoting."""
    if "\n" in start_cmd.strip():
        return []
    lexer = shlex.shlex(start_cmd, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:
        return []
    return [] if any(_OPERATOR.fullmatch(t) for t in tokens) else tokens


def is_python(word: str) -> bool:
    return bool(_PYTHON.fullmatch(os.path.basename(word)))


def python_module(argv: list[str]) -> str | None:
    """The module of `python [options] -m MODULE ...`, None for a script."""
    for i, word in enumerate(argv[1:], start=1):
        if word == "-m":
            return argv[i + 1] if i + 1 < len(argv) else None
        if word.startswith("-m"):
            return word[2:]
        if not word.startswith("-"):
            return None
    return None


def python_command(start_cmd: str) -> list[str]:
    """The words of a simple `[NAME=value ...] python ...` command after its assignments,
    else []."""
    argv = words(split_assignments(start_cmd)[1])
    return argv if argv and is_python(argv[0]) else []


def workers_per_node(topo: Topology) -> int:
    """One worker per GPU, one per node on CPU pools."""
    return max(1, len(topo.gpus))


def node_log_dir(topo: Topology, tool: str) -> str:
    """Where a framework's launcher keeps its per-rank logs for this node, inside log_dir."""
    return os.path.join(topo.log_dir, tool, f"node-{topo.node_rank}")


def agent_argv(topo: Topology, module: str, options: list[str], command: str) -> list[str]:
    """Run one of bmlocal's node agents (stdlib + the framework only) around a shell command."""
    return [topo.python, "-m", module, *options, "--", *shell(command)]
