"""What `srun` runs on every node of a Slurm allocation: this node's part of the job.

Run as `python -m bmlocal.runtime.executors.slurm_node JOB_STATE_DIR`. The node takes its
rank from SLURM_NODEID and the file bmlocal wrote for that rank (JOB_STATE_DIR/RANK/
node.in.json, in the format of the supervisor's node.json), puts node 0's address (the
first host of SLURM_JOB_NODELIST, as Slurm's NodeAddr names it) where bmlocal left
MASTER_PLACEHOLDER, and runs the node under the same supervisor as on one machine. The
supervisor leaves exit.json beside node.json: squeue forgets ended jobs, the files stay.
A CCR node's command is a `docker run` of the job's image on this node.
"""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

from bmlocal.runtime.events import append_event
from bmlocal.runtime.executors import supervisor

MASTER_PLACEHOLDER = "bml-slurm-master.invalid"
NOT_SHARED = 3  # this node cannot see the job directory
SUBMITTED_NODE = "node.in.json"  # what bmlocal wrote for the node, before it is placed
# Slurm's variables a node's job sees (not its task layout: that is the launcher's)
SHOWN = ("SLURM_JOB_ID", "SLURM_NODEID", "SLURMD_NODENAME", "SLURM_JOB_NODELIST",
         "SLURM_CLUSTER_NAME", "SLURM_JOB_PARTITION")


def first_host(nodelist: str) -> str:
    names = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                           text=True, check=True, timeout=30).stdout.split()
    return names[0]


def node_address(name: str) -> str:
    """The address Slurm reaches node `name` at (NodeAddr), else the name itself."""
    shown = subprocess.run(["scontrol", "-o", "show", "node", name], capture_output=True,
                           text=True, timeout=30).stdout
    for word in shown.split():
        if word.startswith("NodeAddr="):
            return word.split("=", 1)[1]
    return name


def substitute(value: object, master: str) -> object:
    if isinstance(value, str):
        return value.replace(MASTER_PLACEHOLDER, master)
    if isinstance(value, list):
        return [substitute(v, master) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, master) for k, v in value.items()}
    return value


def docker_argv(config: dict, name: str) -> list[str]:
    """`docker run` of the node's command in its image; values of -e come from the
    environment of the docker client (never on its command line)."""
    spec = config["docker"]
    argv = ["docker", "run", "--rm", "--name", name, "--init", "--network", "host",
            "--user", spec["user"], "--workdir", spec["workdir"],
            "--shm-size", spec["shm_size"]]
    for host, inside in spec["mounts"]:
        argv += ["--volume", f"{host}:{inside}"]
    for key in config["env"]:
        argv += ["--env", key]
    if spec.get("memory_gb"):
        argv += ["--memory", f"{spec['memory_gb']}g"]
    return argv + [spec["image"], *config["argv"]]


def prepare(state_dir: Path, master: str) -> str | None:
    """Write node.json, the supervisor's, from what bmlocal wrote (node.in.json, kept for a
    run again of a job Slurm requeued); for CCR nodes, the container's name."""
    config = substitute(json.loads((state_dir / SUBMITTED_NODE).read_text()), master)
    for stale in ("child.json", "exit.json"):  # of an earlier run of a requeued job
        (state_dir / stale).unlink(missing_ok=True)
    container = None
    config["env"].update({k: os.environ[k] for k in SHOWN if k in os.environ})
    if "CUDA_VISIBLE_DEVICES" in os.environ:  # the GPUs Slurm gave this node
        config["env"]["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    if config.get("docker"):
        container = f"bmlocal-job{config['job_id']}-node{config['rank']}-" \
                    f"slurm{os.environ.get('SLURM_JOB_ID', '0')}"
        config["argv"] = docker_argv(config, container)
        config["env"] = {**os.environ, **config["env"]}  # the docker client's own too
        config["cwd"] = str(state_dir)
        config["memory_gb"] = None  # the container's limit, not the client's
    record = {"host": os.environ.get("SLURMD_NODENAME", socket.gethostname()),
              "master": master, "slurm_job": os.environ.get("SLURM_JOB_ID", "")}
    supervisor.write_json(state_dir / "slurm.json", record)
    supervisor.write_json(state_dir / "node.json", config)
    return container


def main(job_state: str) -> int:
    rank = os.environ.get("SLURM_NODEID", "0")
    state_dir = Path(job_state) / rank
    if not (state_dir / SUBMITTED_NODE).exists():
        node = os.environ.get("SLURMD_NODENAME", socket.gethostname())
        print(f"bmlocal: Slurm node {node} cannot see the job directory "
              f"{job_state}: bmlocal's data directory must be on a filesystem every Slurm "
              "node mounts at the same path", file=sys.stderr)
        return NOT_SHARED
    master = node_address(first_host(os.environ["SLURM_JOB_NODELIST"]))
    container = prepare(state_dir, master)
    config = json.loads((state_dir / "node.json").read_text())
    append_event(config["events_path"], f"node {rank} runs on Slurm node "
                                        f"{os.environ.get('SLURMD_NODENAME', '?')}, "
                                        f"master {master}")
    supervisor.main(str(state_dir))
    if container:  # a killed docker client leaves its container running
        subprocess.run(["docker", "rm", "--force", container], capture_output=True,
                       timeout=60)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
