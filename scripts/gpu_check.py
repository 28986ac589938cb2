"""bmlocal on a machine with NVIDIA GPUs: the checks and figures of scripts/gpu-check.sh
(run that: it checks the preconditions first). Each check prints PASS, FAIL or SKIP and why;
the figures are medians, beside the plain tools on the same GPUs. Exit code 1 if a check
failed."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bmlocal.runtime.gpus import inventory  # noqa: E402
from tests.support.server import Server, free_port, job_body  # noqa: E402

STEPS_SCRIPT = ROOT / "scripts" / "gpu_ddp_steps.py"
ONE_GPU = ('python -c "import torch; x = torch.ones(2048, 2048, device=\'cuda\'); '
           'print(\'gpu-ok\', torch.cuda.device_count(), torch.cuda.get_device_name(0), '
           '(x @ x).sum().item())"')
RUNS = 5  # create -> RUNNING
DDP_RUNS = 3
ENV_TYPES = ("CCR", "DEFAULT")


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, name: str, body: Callable[[], str]) -> Any:
        """Run one check; it returns what it saw, or raises AssertionError (FAIL) or
        Skip."""
        try:
            print(f"PASS  {name}: {body()}", flush=True)
        except Skip as why:
            print(f"SKIP  {name}: {why}", flush=True)
        except Exception as exc:  # any trouble is this check's failure, not the run's
            self.failed += 1
            print(f"FAIL  {name}: {type(exc).__name__}: {exc}", flush=True)


class Skip(Exception):
    pass


def gpu_job(image: str, name: str, cmd: str, env_type: str, gpus: int, nodes: int = 1,
            code_path: str | None = None) -> dict[str, Any]:
    changes: dict[str, Any] = {
        "train_config.env_type": env_type, "train_config.distribute_strategy": "PytorchDDP",
        "resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": gpus,
        "resource_config.node_count": nodes}
    if env_type == "CCR":
        repository, tag = image.rsplit(":", 1)
        changes.update({"train_config.image": f"/{repository}", "train_config.tag": tag})
    if code_path:
        changes["train_config.code_path"] = code_path
    return job_body(name, cmd, **changes)


def ended(server: Server, job_id: int, timeout: float = 600) -> dict[str, Any]:
    info = server.wait(job_id, timeout=timeout, every=0.2)
    logs = "".join(server.node_log(job_id, r)[-1500:] for r in range(2))
    assert info["train_status"] == "SUCCESSED", f"{info.get('status_reason')}\n{logs}"
    return info


class GpuCheck:
    def __init__(self, server: Server, image: str, gpu_venv: Path, gpus: int) -> None:
        self.server = server
        self.image = image
        self.gpu_venv = gpu_venv
        self.gpus = gpus
        self.code = server.write_code("code/gpu", {"gpu_ddp_steps.py": STEPS_SCRIPT.read_text()})
        self.ddp_steps: dict[str, list[float]] = {}
        self._n = 0

    def name(self, what: str) -> str:
        self._n += 1
        return f"{what}-{self._n}"

    def one_gpu(self, env_type: str) -> str:
        job_id = self.server.ok("create", gpu_job(self.image, self.name("one-gpu"), ONE_GPU,
                                                  env_type, 1))
        ended(self.server, job_id)
        line = self.server.node_log(job_id).split("gpu-ok", 1)[1].splitlines()[0].split()
        assert line[0] == "1", f"the job saw {line[0]} GPUs, not 1"
        return f"saw 1 GPU ({' '.join(line[1:-1])}), matmul sum {line[-1]}"

    def ddp(self, env_type: str, nodes: int) -> str:
        steps = []
        for _ in range(DDP_RUNS):
            name = self.name(f"ddp-{env_type.lower()}")
            job_id = self.server.ok("create", gpu_job(
                self.image, name, "python gpu_ddp_steps.py", env_type, 1, nodes, self.code))
            ended(self.server, job_id)
            result = json.loads((self.server.pfs / "out" / name / "gpu_steps.json").read_text())
            want = nodes * (nodes + 1) / 2
            assert (result["world_size"], result["sum"]) == (nodes, want), result
            steps.append(result["steps_per_second"])
        self.ddp_steps[env_type] = steps
        return (f"{nodes} node(s) x 1 GPU, NCCL {result['nccl']}, sum {result['sum']:g}, "
                f"median {statistics.median(steps):.1f} steps/s")

    def refused(self) -> str:
        body = gpu_job(self.image, self.name("too-many"), ONE_GPU, "CCR", self.gpus + 1)
        code, message = self.server.error("create", body)
        assert code == 406104, (code, message)
        return f"{self.gpus + 1} GPUs asked, {self.gpus} here: {code} {message}"

    def queued(self) -> str:
        """Two jobs that each want every GPU: the second starts once the first has ended
        (by the times each one's process printed: the store may show the first RUNNING a
        moment longer, while its outputs are delivered)."""
        cmd = ('python -c "import time; print(\'t0=%f\' % time.time()); time.sleep(4); '
               'print(\'t1=%f\' % time.time())"')
        first, second = (self.server.ok("create", gpu_job(
            self.image, self.name("queued"), cmd, "DEFAULT", self.gpus)) for _ in range(2))
        self.server.wait(first, "RUNNING", timeout=60)
        assert self.server.detail(second)["train_status"] == "PENDING"
        ended(self.server, first)
        ended(self.server, second)
        (_, first_end), (second_start, _) = self._times(first), self._times(second)
        assert second_start >= first_end, (first_end, second_start)
        return (f"two jobs of {self.gpus} GPU(s): the second started "
                f"{second_start - first_end:.2f} s after the first ended")

    def _times(self, job_id: int) -> tuple[float, float]:
        log = self.server.node_log(job_id)
        return tuple(float(log.split(f"t{i}=")[1].split()[0]) for i in (0, 1))  # type: ignore

    # --- figures ----------------------------------------------------------------------

    def create_to_running(self) -> tuple[float, float]:
        """Medians: bmlocal create -> RUNNING of a 1-GPU CCR job; plain `docker run --gpus`
        to its first line."""
        bml, plain = [], []
        for _ in range(RUNS):
            started = time.perf_counter()
            job_id = self.server.ok("create", gpu_job(self.image, self.name("start"),
                                                      "echo first-line", "CCR", 1))
            self.server.wait(job_id, "RUNNING", every=0.01)
            bml.append(time.perf_counter() - started)
            ended(self.server, job_id)
            started = time.perf_counter()
            proc = subprocess.Popen(["docker", "run", "--rm", "--gpus", "device=0",
                                     "--network", "host", self.image, "echo", "first-line"],
                                    stdout=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            proc.stdout.readline()
            plain.append(time.perf_counter() - started)
            proc.wait()
        return statistics.median(bml), statistics.median(plain)

    def plain_ddp(self, env_type: str, nodes: int) -> float:
        """Median steps/s of the same script under plain torchrun, one GPU per node."""
        steps = []
        for _ in range(DDP_RUNS):
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                (work / "gpu_ddp_steps.py").write_text(STEPS_SCRIPT.read_text())
                port = free_port()
                procs = [subprocess.Popen(self._plain_argv(env_type, work, rank, nodes, port),
                                          cwd=work, env=self._plain_env(rank, work),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True) for rank in range(nodes)]
                errors = [p.communicate(timeout=600)[1] for p in procs]
                assert all(p.returncode == 0 for p in procs), errors[0][-2000:]
                steps.append(json.loads((work / "gpu_steps.json").read_text())[
                    "steps_per_second"])
        return statistics.median(steps)

    def _plain_argv(self, env_type: str, work: Path, rank: int, nodes: int, port: int
                    ) -> list[str]:
        torchrun = ["torchrun", "--nnodes", str(nodes), "--node_rank", str(rank),
                    "--nproc_per_node", "1", "--master_addr", "127.0.0.1",
                    "--master_port", str(port), "gpu_ddp_steps.py"]
        if env_type == "DEFAULT":
            return [str(self.gpu_venv / "bin" / "torchrun"), *torchrun[1:]]
        return ["docker", "run", "--rm", "--network", "host", "--ipc", "host",
                "--gpus", f"device={rank}", "-v", f"{work}:/w", "-w", "/w",
                "-e", "GPU_CHECK_OUT=/w", self.image, *torchrun]

    @staticmethod
    def _plain_env(rank: int, work: Path) -> dict[str, str]:
        return {**os.environ, "CUDA_VISIBLE_DEVICES": str(rank), "GPU_CHECK_OUT": str(work)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default="bmlocal/train:cuda")
    parser.add_argument("--gpu-venv", type=Path, required=True)
    args = parser.parse_args()
    found = inventory({})
    if not found.devices:
        print("gpu-check: error: bmlocal finds no GPU through NVML or nvidia-smi",
              file=sys.stderr)
        return 2
    print(f"bmlocal finds {len(found.devices)} GPU(s): {found.gpu_type}", flush=True)
    nodes = min(2, len(found.devices))
    report = Report()
    with tempfile.TemporaryDirectory() as tmp:
        # PATH: DEFAULT jobs run `python` from the venv with the CUDA torch
        server = Server(Path(tmp), extra_args=["--executor", "docker"], grace_seconds=10,
                        env={"PATH": f"{args.gpu_venv / 'bin'}:{os.environ['PATH']}"}).start()
        try:
            check = GpuCheck(server, args.image, args.gpu_venv, len(found.devices))
            for env_type in ENV_TYPES:
                report.check(f"1-GPU job ({env_type})", lambda e=env_type: check.one_gpu(e))
            if nodes == 1:
                print("NOTE  one GPU here: DDP runs 1 node x 1 GPU, not 2 x 1", flush=True)
            for env_type in ENV_TYPES:
                report.check(f"DDP over NCCL, {nodes} node(s) x 1 GPU ({env_type})",
                             lambda e=env_type: check.ddp(e, nodes))
            report.check("a job asking more GPUs than exist", check.refused)
            report.check("two jobs queued on the same GPUs", check.queued)
            figures(report, check, nodes)
        finally:
            server.stop()
    print("gpu-check: " + (f"{report.failed} check(s) FAILED" if report.failed
                           else "every check passed"))
    return 1 if report.failed else 0


def figures(report: Report, check: GpuCheck, nodes: int) -> None:
    def start_up() -> str:
        bml, plain = check.create_to_running()
        return (f"create -> RUNNING {bml:.2f} s; plain docker run --gpus -> first line "
                f"{plain:.2f} s; ratio {bml / plain:.2f} (medians of {RUNS})")
    report.check("figure: 1-GPU CCR start-up", start_up)
    for env_type in ENV_TYPES:
        def steps(e: str = env_type) -> str:
            if e not in check.ddp_steps:
                raise Skip("the DDP check did not run")
            bml = statistics.median(check.ddp_steps[e])
            plain = check.plain_ddp(e, nodes)
            return (f"{nodes} node(s): bmlocal {bml:.1f} steps/s, plain torchrun "
                    f"{plain:.1f} steps/s, ratio {bml / plain:.2f} (medians of {DDP_RUNS})")
        report.check(f"figure: DDP steps/s ({env_type})", steps)


if __name__ == "__main__":
    sys.exit(main())
