"""What a launcher is given and what it returns."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Topology:
    job_id: int
    node_count: int
    node_rank: int
    gpus: tuple[int, ...]
    master_addr: str
    master_port: int
    aux_port: int
    log_dir: str
    python: str


@dataclass(frozen=True)
class NodeCommand:
    argv: list[str]
    env: dict[str, str]
