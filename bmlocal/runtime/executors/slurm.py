"""Jobs of a `backend = "slurm"` pool as one Slurm allocation each.

One `sbatch` a job: --nodes=node_count --ntasks-per-node=1, and a batch script whose one
`srun` step runs slurm_node.py on every node; that runs the node's command (the same as on
one machine) under bmlocal's supervisor. Nodes are read from the files the supervisors
leave in the job directory and from one `squeue` call, shared by every poll of a tick.
The data directory must be visible at the same path on every Slurm node.
"""
import hashlib
import logging
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Annotated, Any, Callable, Mapping

from pydantic import BaseModel, ConfigDict, Field

from bmlocal.runtime.environment import host_environment
from bmlocal.runtime.executors.docker import (INSIDE, DockerExecutor, image_reference,
                                              inside_python_path)
from bmlocal.runtime.executors.base import (NODE_LOST, OUT_OF_MEMORY, Handle, JobPaths,
                                            NodeSpec)
from bmlocal.runtime.executors.slurm_node import MASTER_PLACEHOLDER, NOT_SHARED, SUBMITTED_NODE
from bmlocal.runtime.executors.slurm_state import (FORGOTTEN, Meaning, Phase, QueueEntry,
                                                   QueueError, read_queue)
from bmlocal.runtime.executors.supervisor import exit_code, read_json, write_json
from bmlocal.runtime.pools import Pool

log = logging.getLogger("bmlocal.slurm")
QUEUE_MAX_AGE_S = 0.2  # polls within this share one squeue call
QUEUE_WAIT_S = 0.5  # the longest a poll waits for squeue's answer before using the last one
ASKED_FOR_S = 600.0  # how ended jobs ended is kept while they are asked about
RETRY_PAUSE_S = 2.0  # a start while the controller does not answer fails after this pause
COMMAND_TIMEOUT_S = 30.0
UNREACHABLE = ("Unable to contact slurm controller", "Socket timed out",
               "Connection refused", "Zero Bytes were transmitted")


class SlurmPoolConfig(BaseModel):
    """A pool's `slurm` sub-table. Node figures left out are the pool's own."""
    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None
    nodes: Annotated[int, Field(ge=1)] | None = None
    gpus_per_node: Annotated[int, Field(ge=0)] | None = None
    cpus_per_node: Annotated[int, Field(ge=1)] | None = None
    memory_gb: Annotated[int, Field(ge=1)] | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    sbatch_flags: list[str] = []  # added to sbatch's command line as they are
    slurm_conf: str | None = None  # SLURM_CONF for sbatch/squeue/scancel; else inherited
    python: str | None = None  # the Python on the nodes; else the server's own path


class SbatchRefused(RuntimeError):
    """sbatch did not accept the job; the message is sbatch's own."""


class Unreachable(RuntimeError):
    """The Slurm controller does not answer: the job waits in bmlocal's queue."""
    job_waits = True


def slurm_env(config: SlurmPoolConfig) -> dict[str, str]:
    """The environment of Slurm's commands: the server's, without an outer allocation's
    SLURM_* variables and bmlocal's own settings and secrets."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLURM_", "SBATCH_", "SRUN_", "BMLOCAL_", "AWS_"))}
    if config.slurm_conf:
        env["SLURM_CONF"] = config.slurm_conf
    return env


class Queue:
    """squeue's view of this server's jobs: read at most once every QUEUE_MAX_AGE_S, on a
    thread of its own, so that a controller that does not answer (squeue retries for
    seconds) holds no caller longer than QUEUE_WAIT_S. One call a read lists the live
    jobs; a job asked about that is not among them is looked up once more, with the
    others that ended since, and how it ended is kept."""

    def __init__(self, env: dict[str, str], prefix: str) -> None:
        self.env = env
        self.prefix = prefix
        self._lock = threading.Lock()
        self._entries: dict[str, QueueEntry] | None = None
        self._read_at = 0.0  # monotonic, when the read that gave _entries began
        self._reading: threading.Event | None = None  # set once the read under way ends
        self._asked: dict[str, float] = {}  # slurm job -> when last asked about
        self._ended: dict[str, QueueEntry] = {}  # how the jobs asked about ended
        self.error = ""  # why the last read failed; "" when it worked
        self.calls = 0

    def snapshot(self, asking: str | None = None
                 ) -> tuple[dict[str, QueueEntry] | None, float]:
        """The entries (None while squeue fails or before its first answer) and when they
        were read; `asking`: the Slurm job the caller wants to know about."""
        with self._lock:
            if asking:
                self._asked[asking] = time.monotonic()
            reading = self._reading
            wait = reading is None and time.monotonic() - self._read_at > QUEUE_MAX_AGE_S
            if wait:
                reading = self._reading = threading.Event()
                threading.Thread(target=self._read, args=(reading,), daemon=True,
                                 name="bmlocal-squeue").start()
        if wait and reading is not None:
            reading.wait(QUEUE_WAIT_S)
        with self._lock:
            return self._entries, self._read_at

    def _read(self, done: threading.Event) -> None:
        began = time.monotonic()
        try:
            entries, error = self._entries_now(), ""
        except QueueError as exc:
            entries, error = None, str(exc)
        if error and error != self.error:
            log.error("Slurm does not answer; its jobs count as running: %s", error)
        elif self.error and not error:
            log.info("Slurm answers again")
        with self._lock:
            self._entries, self._read_at, self.error = entries, began, error
            self._reading = None
        done.set()

    def _entries_now(self) -> dict[str, QueueEntry]:
        self.calls += 1
        live = read_queue(self.env, self.prefix)
        with self._lock:
            forgotten = time.monotonic() - ASKED_FOR_S
            self._asked = {k: t for k, t in self._asked.items() if t > forgotten}
            self._ended = {k: e for k, e in self._ended.items() if k in self._asked}
            missing = [k for k in self._asked if k not in live and k not in self._ended]
        found = {}
        if missing:
            self.calls += 1
            found = read_queue(self.env, self.prefix, missing)
        with self._lock:
            self._ended.update({k: e for k, e in found.items()
                                if e.meaning.phase == Phase.ENDED})
            return {**self._ended, **found, **live}


class SlurmExecutor:
    name = "slurm"
    queues = True  # a job is RUNNING once Slurm runs it (see executors/queued.py)

    def __init__(self, pool: str, config: SlurmPoolConfig, data_dir: Path,
                 container: "ContainerView | None" = None, queue: Queue | None = None
                 ) -> None:
        self.pool = pool
        self.config = config
        self.container = container  # set: CCR nodes run `docker run` on their node
        self.python = "python" if container else (config.python or sys.executable)
        self.node_python = config.python or sys.executable
        self.master_addr = MASTER_PLACEHOLDER
        self.env = slurm_env(config)
        instance = hashlib.sha1(str(data_dir).encode()).hexdigest()[:6]
        self.prefix = f"bml-{instance}-"
        self.queue = queue or Queue(self.env, self.prefix)  # shared by a cluster's pools
        self._submitted: dict[str, float] = {}  # slurm job -> monotonic time of submission
        self._signalled: set[str] = set()

    # --- what the job sees -------------------------------------------------------------

    def view(self, host: JobPaths) -> JobPaths:
        return self.container.view(host) if self.container else host

    def base_env(self) -> dict[str, str]:
        return self.container.base_env() if self.container else host_environment(self.python)

    # --- start -------------------------------------------------------------------------

    def start(self, spec: NodeSpec) -> Handle:
        return self.start_nodes([spec], 0.0)[0]

    def start_nodes(self, specs: list[NodeSpec], max_seconds: float) -> list[Handle]:
        """Write every node's files, then one sbatch for the whole job."""
        self.queue.snapshot()
        if self.queue.error:  # not sbatch now: it would retry for seconds
            time.sleep(RETRY_PAUSE_S)
            raise Unreachable(f"Slurm does not answer: {self.queue.error}")
        job_state = specs[0].state_dir.parent
        self._cancel_earlier(job_state)
        for spec in specs:
            self._write_node(spec)
        script = job_state / "sbatch.sh"
        script.write_text("#!/bin/sh\n# bmlocal: one srun step, one task on every node\n"
                          f"exec srun --kill-on-bad-exit=0 {self.node_python} -m "
                          f"bmlocal.runtime.executors.slurm_node {job_state}\n")
        slurm_job = self._sbatch(self.sbatch_args(specs, max_seconds, job_state), script)
        (job_state / "slurm-job").write_text(slurm_job)
        self._submitted[slurm_job] = time.monotonic()
        return [{"kind": self.name, "pool": self.pool, "ccr": self.container is not None,
                 "slurm_job": slurm_job, "rank": spec.rank, "nodes": len(specs),
                 "state_dir": str(spec.state_dir)} for spec in specs]

    def sbatch_args(self, specs: list[NodeSpec], max_seconds: float, job_state: Path
                    ) -> list[str]:
        first, c = specs[0], self.config
        minutes = max(1, math.ceil((max_seconds + first.grace) / 60)) if max_seconds else 0
        args = ["--parsable", f"--job-name={self.prefix}{first.job_id}",
                f"--nodes={len(specs)}", "--ntasks-per-node=1",
                f"--output={job_state}/slurm-%j.out", f"--chdir={job_state}"]
        args += [f"--cpus-per-task={max(1, int(first.cpus or c.cpus_per_node or 1))}"]
        if first.memory_gb or c.memory_gb:
            args.append(f"--mem={first.memory_gb or c.memory_gb}G")
        if minutes:
            args.append(f"--time={minutes}")
        if first.gpus:
            args.append(f"--gres=gpu:{len(first.gpus)}")
        for flag, value in (("partition", c.partition), ("account", c.account),
                            ("qos", c.qos), ("constraint", c.constraint)):
            if value:
                args.append(f"--{flag}={value}")
        return args + list(c.sbatch_flags)

    def _sbatch(self, args: list[str], script: Path) -> str:
        try:
            done = subprocess.run(["sbatch", *args, str(script)], env=self.env,
                                  capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise Unreachable("sbatch did not answer within "
                              f"{COMMAND_TIMEOUT_S:g} s") from None
        except OSError as exc:
            raise SbatchRefused(f"cannot run sbatch: {exc}") from None
        message = " ".join(done.stderr.split())
        if done.returncode != 0:
            if any(text in message for text in UNREACHABLE):
                raise Unreachable(message)
            raise SbatchRefused(f"sbatch refused the job: {message}")
        return done.stdout.strip().split(";")[0]

    def _write_node(self, spec: NodeSpec) -> None:
        spec.state_dir.mkdir(parents=True, exist_ok=True)
        for stale in ("child.json", "exit.json", "slurm.json", "node.json"):
            (spec.state_dir / stale).unlink(missing_ok=True)
        env = self.container.node_env(spec.env) if self.container else spec.env
        node = {"job_id": spec.job_id, "rank": spec.rank, "argv": spec.argv, "env": env,
                "cwd": spec.host_paths.code, "log_path": str(spec.log_path),
                "events_path": str(spec.events_path), "grace": spec.grace,
                "cpu_set": None, "memory_gb": spec.memory_gb}
        if self.container:
            node["docker"] = self.container.run_spec(spec)
        write_json(spec.state_dir / SUBMITTED_NODE, node)

    def _cancel_earlier(self, job_state: Path) -> None:
        """An allocation of an earlier start of this job that a crash left unrecorded."""
        try:
            earlier = (job_state / "slurm-job").read_text().strip()
        except OSError:
            return
        self._scancel([earlier])

    # --- watch -------------------------------------------------------------------------

    def entry(self, handle: Handle) -> QueueEntry | None | bool:
        """squeue's entry for the handle's job; False when squeue does not know it any more;
        None when that cannot be known now (squeue fails, or read before the submission)."""
        entries, read_at = self.queue.snapshot(handle["slurm_job"])
        if entries is None:
            return None
        found = entries.get(handle["slurm_job"])
        if found is not None:
            return found
        if read_at <= self._submitted.get(handle["slurm_job"], 0.0):
            return None
        return False

    def meaning(self, handle: Handle) -> Meaning | None:
        entry = self.entry(handle)
        if entry is None:
            return None
        return entry.meaning if entry else FORGOTTEN

    def started(self, handle: Handle) -> bool:
        """Whether Slurm has begun running the job (or it ended)."""
        meaning = self.meaning(handle)
        return meaning is not None and meaning.phase != Phase.WAITING

    def describe(self, handle: Handle) -> str:
        """`Slurm job 12 PENDING (Resources)`, or what is known of it."""
        entry = self.entry(handle)
        if entry:
            return entry.describe()
        return f"Slurm job {handle['slurm_job']}" + (" (squeue does not answer)"
                                                     if entry is None else "")

    def poll(self, handle: Handle) -> int | None:
        meaning = self.meaning(handle)  # before the files: a node ends before its job
        if meaning is None:
            return None
        ended = meaning.phase == Phase.ENDED
        code = exit_code(self._exit(handle))
        if code is None:
            return NODE_LOST if ended else None
        if ended or not self._all_exited(handle):
            return code
        return None  # the last node's end waits until Slurm says every step is gone

    def _all_exited(self, handle: Handle) -> bool:
        job_state = Path(handle["state_dir"]).parent
        return all((job_state / str(r) / "exit.json").exists() for r in range(handle["nodes"]))

    @staticmethod
    def _exit(handle: Handle) -> dict:
        return read_json(Path(handle["state_dir"]) / "exit.json")

    def exit_note(self, handle: Handle) -> str:
        """Where the node ran and the Slurm job's state, for the job's reason."""
        ran = read_json(Path(handle["state_dir"]) / "slurm.json")
        parts = []
        if self._exit(handle).get("out_of_memory"):
            parts.append(OUT_OF_MEMORY)
        if ran.get("host"):
            parts.append(f"on Slurm node {ran['host']}")
        else:
            parts.append(self._why_not_started(handle))
        parts.append(self.describe(handle))
        return ", ".join(p for p in parts if p)

    def _why_not_started(self, handle: Handle) -> str:
        """A node that left no record: where the job directory cannot be seen, the batch
        script's exit code says so (its output file cannot be written either)."""
        entry = self.entry(handle)
        if entry and entry.exit_status == NOT_SHARED:
            return ("a Slurm node cannot see the job directory: bmlocal's data directory "
                    "must be on a filesystem every node mounts at the same path")
        return "no Slurm node ran it"

    # --- end ---------------------------------------------------------------------------

    def stop(self, handle: Handle, grace: float) -> None:
        """SIGTERM to every task of the job's steps now, `scancel` after `grace`."""
        slurm_job = handle["slurm_job"]
        if slurm_job in self._signalled:
            return
        self._signalled.add(slurm_job)
        meaning = self.meaning(handle)
        if meaning is not None and meaning.phase == Phase.WAITING:
            self._scancel([slurm_job])
            return
        # Not --full: a TERM to the batch step reaches srun, which then kills every task at
        # once with SIGKILL (the grace lost); the steps' tasks are the node supervisors.
        self._scancel(["--signal=TERM", slurm_job])
        timer = threading.Timer(grace, self._scancel, args=([slurm_job],))
        timer.daemon = True
        timer.start()

    def kill(self, handle: Handle) -> None:
        self._scancel(["--signal=KILL", "--full", handle["slurm_job"]])
        self._scancel([handle["slurm_job"]])

    def adopt(self, handle: Handle) -> None:
        """Nothing to attach: Slurm runs the job on; squeue and the node files tell its end."""

    def release(self, handle: Handle) -> None:
        """Slurm frees the allocation itself."""

    def _scancel(self, args: list[str]) -> None:
        try:
            done = subprocess.run(["scancel", *args], env=self.env, capture_output=True,
                                  text=True, timeout=COMMAND_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("scancel %s: %s", " ".join(args), exc)
            return
        if done.returncode != 0:
            log.info("scancel %s: %s", " ".join(args), done.stderr.strip())

    # --- at server start ---------------------------------------------------------------

    def check(self) -> str | None:
        """None when the controller answers and knows the partition; else what is wrong."""
        args = ["sinfo", "--noheader", "--format=%P %D"]
        if self.config.partition:
            args.append(f"--partition={self.config.partition}")
        try:
            done = subprocess.run(args, env=self.env, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT_S)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"pool {self.pool}: Slurm cannot be asked ({exc}); its jobs wait"
        if done.returncode != 0:
            return (f"pool {self.pool}: the Slurm controller does not answer "
                    f"({' '.join(done.stderr.split())}); its jobs wait until it does")
        if not done.stdout.strip():
            return f"pool {self.pool}: Slurm has no partition {self.config.partition!r}"
        return None


class ContainerView:
    """What a CCR node on a Slurm node needs: the docker executor's paths and mounts."""

    def __init__(self, registries: dict[str, str], shm_size: str) -> None:
        self.registries = registries
        self.shm_size = shm_size

    def view(self, host: JobPaths) -> JobPaths:
        return JobPaths(INSIDE.code, INSIDE.output, INSIDE.logs,
                        INSIDE.train if host.train else None,
                        INSIDE.eval if host.eval else None)

    @staticmethod
    def base_env() -> dict[str, str]:
        user = os.environ.get("USER") or "root"
        return {"PYTHONUNBUFFERED": "1", "USER": user, "LOGNAME": user}

    @staticmethod
    def node_env(env: dict[str, str]) -> dict[str, str]:
        """The node's environment with its PYTHONPATH as the container sees it (bmlocal's node
        agents always on it)."""
        return {**env, "PYTHONPATH": inside_python_path(env.get("PYTHONPATH"), None)}

    def run_spec(self, spec: NodeSpec) -> dict:
        mounts = DockerExecutor._mounts(spec.host_paths)
        return {"image": image_reference(spec.image or "", spec.repository_id,
                                         self.registries),
                "mounts": [[host, m["bind"] + (":ro" if m["mode"] == "ro" else "")]
                           for host, m in mounts.items()],
                "workdir": "/bml/code", "user": f"{os.getuid()}:{os.getgid()}",
                "shm_size": self.shm_size, "memory_gb": spec.memory_gb}


def slurm_executors(pools: list[Pool], section: Callable[[str], Any], data_dir: Path,
                    docker: Mapping[str, Any]) -> dict[str, tuple[SlurmExecutor, SlurmExecutor]]:
    """Pool key -> its executors for DEFAULT and CCR jobs, for every pool sent to Slurm;
    what is wrong with a cluster is logged at once (its jobs wait until it answers)."""
    made: dict[str, tuple[SlurmExecutor, SlurmExecutor]] = {}
    view = ContainerView({str(k): str(v) for k, v in docker.get("registries", {}).items()},
                         str(docker.get("shm_size", "8g")))
    queues: dict[str | None, Queue] = {}  # one squeue a tick for each cluster
    for pool in pools:
        if not pool.remote:
            continue
        raw = section(f"pools.slurm.{pool.name}")
        config = raw if isinstance(raw, SlurmPoolConfig) else \
            SlurmPoolConfig.model_validate(raw or {})
        plain = SlurmExecutor(pool.key, config, data_dir, queue=queues.get(config.slurm_conf))
        queues[config.slurm_conf] = plain.queue
        made[pool.key] = (plain, SlurmExecutor(pool.key, config, data_dir, view, plain.queue))
        threading.Thread(target=report_check, args=(plain,), daemon=True,
                         name="bmlocal-slurm-check").start()
    return made


def report_check(executor: SlurmExecutor) -> None:
    """Log at start whether the pool's cluster answers (sinfo may retry for seconds)."""
    problem = executor.check()
    if problem:
        log.error("%s", problem)
    else:
        log.info("pool %s runs on Slurm (partition %s)", executor.pool,
                 executor.config.partition or "the default")
