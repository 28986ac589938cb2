"""The environment variables a running job sees (spec/job-environment.md)."""
import os

from bmlocal.launchers.base import Topology
from bmlocal.runtime.executors.base import JobPaths
from bmlocal.runtime.store import Job

# Variables of the server's own environment that must not reach a job: its settings and
# secrets, and launcher variables that would bend the job's own topology.
PRIVATE_PREFIXES = ("BMLOCAL_", "AWS_", "PET_", "HOROVOD_", "PADDLE_", "TORCHELASTIC_", "BML_")
PRIVATE_NAMES = {"MASTER_ADDR", "MASTER_PORT", "RANK", "WORLD_SIZE", "LOCAL_RANK",
                 "LOCAL_WORLD_SIZE", "GROUP_RANK", "CUDA_VISIBLE_DEVICES", "DOCKER_HOST",
                 "FLAGS_FIXED_PORT", "PORT_RANGE", "PYTHON_EXEC",
                 "TORCH_ELASTIC_SHUTDOWN_TIMEOUT"}
LOCAL_HOSTS = "127.0.0.1,localhost,::1"


def host_environment(python: str) -> dict[str, str]:
    """The server's environment without its private variables, with `python` first on PATH."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(PRIVATE_PREFIXES) and k not in PRIVATE_NAMES}
    env["PATH"] = os.pathsep.join([os.path.dirname(python), env.get("PATH", "/usr/bin:/bin")])
    env["PYTHONUNBUFFERED"] = "1"
    for name in ("NO_PROXY", "no_proxy"):  # rendezvous clients must not go through a proxy
        env[name] = ",".join(p for p in (env.get(name), LOCAL_HOSTS) if p)
    return env


def threads_per_worker(job: Job, topo: Topology) -> int:
    """The CPU threads each worker should use: its node's cap, shared with the other nodes
    of the job on this machine, split among the node's workers. torchrun sets 1 for several
    workers of one node but nothing for one worker a node, and oversubscribed cores make
    gloo training several times slower."""
    cores = len(os.sched_getaffinity(0))
    cap = job.grant.get("cpu_num") or cores
    per_node = max(1, min(cap, cores // topo.node_count))
    return max(1, per_node // max(1, len(topo.gpus)))


def job_variables(job: Job, topo: Topology, paths: JobPaths, hide_gpus: bool
                  ) -> dict[str, str]:
    """`hide_gpus`: a node without GPUs on a machine that has some sees none of them.
    (Elsewhere CUDA_VISIBLE_DEVICES stays unset: an empty one breaks paddle's fleet.init.)"""
    env = {
        "BML_JOB_ID": str(job.id),
        "BML_JOB_NAME": job.name,
        "BML_PROJECT_ID": job.project,
        "BML_NODE_RANK": str(topo.node_rank),
        "BML_NODE_COUNT": str(topo.node_count),
        "BML_GPUS_PER_NODE": str(len(topo.gpus)),
        "BML_MASTER_ADDR": topo.master_addr,
        "BML_MASTER_PORT": str(topo.master_port),
        "BML_CODE_DIR": paths.code,
        "BML_OUTPUT_DIR": paths.output,
        "BML_LOG_DIR": paths.logs,
    }
    env["OMP_NUM_THREADS"] = str(threads_per_worker(job, topo))
    if topo.gpus or hide_gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in topo.gpus)
    if paths.train:
        env["BML_TRAINSET_DIR"] = paths.train
    if paths.eval:
        env["BML_EVALSET_DIR"] = paths.eval
    return env
