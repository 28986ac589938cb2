"""Slurm pools: bmlocal beside bare Slurm commands, in the same run, on the same cluster.

- start: create -> RUNNING and create -> the job's first line through bmlocal, beside a
  bare `sbatch` of the same command (one srun step on 2 nodes) to the first line of its
  output file;
- stop: stop -> STOPPED through bmlocal, beside a bare `scancel` -> the job gone from squeue;
- queue: the server's CPU use while 200 of its jobs wait in Slurm (one squeue a tick for
  all), beside the cost of one squeue per job and tick.

Needs the cluster: scripts/slurm.sh start. Run: .venv/bin/python bench/bench_slurm.py [runs]
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.slurm.conftest import (POOL, SLURM_CONF, cluster_problem, live_jobs,  # noqa: E402
                                  pool_config, prefix_of)
from tests.support.server import Server  # noqa: E402

COMMAND = "echo first-line; sleep 1"
ENV = {**os.environ, "SLURM_CONF": SLURM_CONF}
ON_POOL = {"resource_config.resource_type": "USER", "resource_config.resource_name": POOL,
           "resource_config.node_count": 2}
QUEUED = 200


def slurm(*argv: str) -> str:
    return subprocess.run(argv, env=ENV, capture_output=True, text=True, check=True).stdout


def wait_idle() -> None:
    """Every node idle (no job left running or completing): each start sees the same."""
    while any(state != "idle" for state in slurm("sinfo", "--noheader", "-N",
                                                   "--format=%t").split()):
        time.sleep(0.01)


def bare_sbatch(work: Path, i: int) -> float:
    """Seconds from sbatch to the first line of the job's output."""
    script = work / f"bare-{i}.sh"
    script.write_text(f"#!/bin/sh\nexec srun sh -c '{COMMAND}'\n")
    out = work / f"bare-{i}.out"
    started = time.perf_counter()
    slurm("sbatch", "--parsable", "--nodes=2", "--ntasks-per-node=1", "--cpus-per-task=1",
          "--mem=1G", f"--output={out}", "--job-name=bench-bare", str(script))
    while not (out.exists() and b"first-line" in out.read_bytes()):
        time.sleep(0.005)
    return time.perf_counter() - started


def through_bmlocal(server: Server, i: int) -> tuple[float, float]:
    """Seconds from create to RUNNING and to the first line in node 0's log."""
    started = time.perf_counter()
    job_id = server.create(f"start-{i}", COMMAND, **ON_POOL)
    log = server.data_dir / "jobs" / str(job_id) / "logs" / "node-0.log"
    running = first = None
    while first is None or running is None:
        now = time.perf_counter() - started
        if running is None and server.detail(job_id)["train_status"] in ("RUNNING",
                                                                         "SUCCESSED"):
            running = now
        if first is None and log.exists() and b"first-line" in log.read_bytes():
            first = now
        time.sleep(0.005)
    server.wait(job_id, timeout=60)
    return running, first


def wait_gone(slurm_job: str) -> None:
    while slurm("squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING,CONFIGURING",
                "-j", slurm_job, "--format=%i").strip():
        time.sleep(0.005)


def bare_stop(work: Path, i: int) -> float:
    script = work / f"stop-{i}.sh"
    script.write_text("#!/bin/sh\nexec srun sleep 60\n")
    slurm_job = slurm("sbatch", "--parsable", "--nodes=2", "--ntasks-per-node=1",
                      "--cpus-per-task=1", "--mem=1G", f"--output={work}/stop-{i}.out",
                      "--job-name=bench-bare", str(script)).strip()
    while "RUNNING" not in slurm("squeue", "--noheader", "-j", slurm_job, "--format=%T"):
        time.sleep(0.01)
    time.sleep(0.5)  # the step runs
    started = time.perf_counter()
    slurm("scancel", slurm_job)
    wait_gone(slurm_job)
    return time.perf_counter() - started


def bmlocal_stop(server: Server, i: int) -> float:
    job_id = server.create(f"stop-{i}", "echo up; sleep 60", **ON_POOL)
    server.wait(job_id, "RUNNING", timeout=60)
    log = server.data_dir / "jobs" / str(job_id) / "logs" / "node-1.log"
    while not (log.exists() and b"up" in log.read_bytes()):
        time.sleep(0.01)
    started = time.perf_counter()
    server.ok("stop", {"id": job_id, "prjId": "p1"})
    server.wait(job_id, timeout=60, every=0.005)
    return time.perf_counter() - started


def cpu_seconds(pids: list[int]) -> float:
    """CPU time of the processes and of their children that ended (squeue calls)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(f) for f in fields[11:15])
    return total / os.sysconf("SC_CLK_TCK")


def cpu_share(pids: list[int], seconds: float) -> float:
    """The share of one core the processes used over `seconds`."""
    before, started = cpu_seconds(pids), time.perf_counter()
    time.sleep(seconds)
    return (cpu_seconds(pids) - before) / (time.perf_counter() - started)


def slurmctld() -> int:
    return int(Path(SLURM_CONF).with_name("slurmctld.pid").read_text())


def queue_cost(root: Path) -> dict[str, float]:
    """Server CPU with QUEUED jobs waiting in Slurm behind one that holds every core."""
    server = Server(root, config=pool_config() + pool_config("whole").replace(
        "cpus_per_node = 1\n", "cpus_per_node = 2\n")).start()  # all a node has
    assert server.process is not None
    try:
        pid = server.process.pid
        idle, idle_ctld = cpu_share([pid], 5), cpu_share([slurmctld()], 5)
        holder = server.create("holder", "sleep 600", **{
            **ON_POOL, "resource_config.resource_name": "whole"})
        server.wait(holder, "RUNNING", timeout=60)
        jobs = [server.create(f"q-{i}", "true", **{**ON_POOL, "resource_config.node_count": 1})
                for i in range(QUEUED)]
        deadline = time.monotonic() + 300
        while len(live_jobs(prefix_of(server))) < QUEUED + 1:
            assert time.monotonic() < deadline, "jobs not all submitted"
            time.sleep(0.5)
        time.sleep(2)
        reasons = {server.detail(jobs[-1]).get("status_reason", "")}
        queued, queued_ctld = cpu_share([pid], 10), cpu_share([slurmctld()], 10)
        started = time.perf_counter()
        slurm("squeue", "--noheader", "--states=PENDING,RUNNING", "--format=%i|%T|%r|%N|%j")
        one_call = time.perf_counter() - started
        started = time.perf_counter()
        one_job = live_jobs(prefix_of(server))[-1].split()[0]
        for _ in range(20):
            slurm("squeue", "--noheader", "-j", one_job, "--format=%i|%T")
        per_job = (time.perf_counter() - started) / 20 * QUEUED
        for job_id in [holder, *jobs]:
            server.ok("stop", {"id": job_id, "prjId": "p1"})
        for job_id in [holder, *jobs]:
            server.wait(job_id, timeout=120, every=0.2)
        return {"idle": idle, "queued": queued, "one_call": one_call, "per_job": per_job,
                "idle_ctld": idle_ctld, "queued_ctld": queued_ctld, "reason": reasons.pop()}
    except Exception:
        print(server.log_text()[-4000:], file=sys.stderr)
        raise
    finally:
        server.stop()
        for line in live_jobs(prefix_of(server)):
            slurm("scancel", line.split()[0])


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    problem = cluster_problem()
    if problem:
        sys.exit(f"bench_slurm: {problem}")
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        server = Server(work / "server", config=pool_config()).start()
        bare, running, first, stop_bare, stop_ours = [], [], [], [], []
        try:
            for i in range(runs):  # interleaved: both see the same machine
                wait_idle()
                bare.append(bare_sbatch(work, i))
                wait_idle()
                to_running, to_first = through_bmlocal(server, i)
                running.append(to_running)
                first.append(to_first)
                wait_idle()
                stop_bare.append(bare_stop(work, i))
                wait_idle()
                stop_ours.append(bmlocal_stop(server, i))
        finally:
            server.stop()
        show(runs, bare, running, first, stop_bare, stop_ours)
        show_cost(queue_cost(work / "queue"))


def show(runs: int, bare: list[float], running: list[float], first: list[float],
         stop_bare: list[float], stop_ours: list[float]) -> None:
    table = Table(title=f"Slurm pool, 2 nodes, medians of {runs} runs")
    for column in ("measure", "bare Slurm", "bmlocal", "ratio"):
        table.add_column(column)
    table.add_row("submit -> first line (s)", f"{median(bare):.3f}", f"{median(first):.3f}",
                  f"{median(first) / median(bare):.2f}x")
    table.add_row("create -> RUNNING (s)", "", f"{median(running):.3f}", "")
    table.add_row("stop -> STOPPED / scancel -> gone (s)", f"{median(stop_bare):.3f}",
                  f"{median(stop_ours):.3f}", f"{median(stop_ours) / median(stop_bare):.2f}x")
    Console().print(table)


def show_cost(cost: dict[str, float]) -> None:
    print(f"scheduler with {QUEUED} jobs waiting in Slurm ({cost['reason']}): server CPU, "
          f"its squeue calls included, {cost['queued'] * 100:.1f}% of a core (no job: "
          f"{cost['idle'] * 100:.1f}%), slurmctld {cost['queued_ctld'] * 100:.1f}% (no job: "
          f"{cost['idle_ctld'] * 100:.1f}%); one squeue for all: "
          f"{cost['one_call'] * 1000:.1f} ms; one squeue a job would be "
          f"{cost['per_job'] * 1000:.0f} ms a tick")


if __name__ == "__main__":
    main()
