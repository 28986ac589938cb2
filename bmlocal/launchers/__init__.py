"""Strategy -> each node's command and environment. Pure: nothing here starts a process."""
from bmlocal.launchers.base import NodeCommand, Topology


def node_command(strategy: str | None, start_cmd: str, topo: Topology) -> NodeCommand:
    return NodeCommand(["/bin/sh", "-c", start_cmd], {})
