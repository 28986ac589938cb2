"""Strategy -> each node's command and environment. Pure: nothing here starts a process."""
from typing import Callable

from bmlocal.launchers import horovod, paddle, pytorch
from bmlocal.launchers.base import NodeCommand, Topology, plain

Launcher = Callable[[str, Topology], NodeCommand]

STRATEGIES: dict[str | None, Launcher] = {
    None: plain,
    "": plain,
    "PytorchDDP": pytorch.node_command,
    "PaddleFleet": paddle.node_command,
    "Horovod": horovod.node_command,
}


def node_command(strategy: str | None, start_cmd: str, topo: Topology) -> NodeCommand:
    """The command and extra environment of node `topo.node_rank` of a job."""
    try:
        launcher = STRATEGIES[strategy]
    except KeyError:
        raise ValueError(f"unknown distribute strategy {strategy!r}") from None
    return launcher(start_cmd, topo)
