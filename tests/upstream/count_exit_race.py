"""Counts how Kubeflow's CPU demo (bare `torchrun demo.py`, 2 nodes) ends through a real
server: K jobs at once, ROUNDS times; prints the abort lines of the jobs that failed. Not a
test (it takes minutes):

    .venv/bin/python tests/upstream/count_exit_race.py ROUNDS K SCRATCH_DIR
"""
import json
import shutil
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from tests.support.server import Server  # noqa: E402


def main(rounds: int, at_once: int, root: Path) -> dict[str, int]:
    shutil.rmtree(root, ignore_errors=True)
    server = Server(root).start()
    demo = (HERE / "scripts" / "kubeflow_cpu_demo.py").read_text()
    code = server.write_code("code/demo", {"demo.py": demo})
    counts: dict[str, int] = {}
    try:
        for r in range(rounds):
            jobs = [server.create(f"demo-{r}-{i}", "torchrun demo.py", **{
                "train_config.code_path": code, "train_config.distribute_strategy": "PytorchDDP",
                "resource_config.node_count": 2}) for i in range(at_once)]
            for job in jobs:
                info = server.wait(job, timeout=600)
                status = info["train_status"]
                counts[status] = counts.get(status, 0) + 1
                if status != "SUCCESSED":
                    logs = server.node_log(job, 0) + server.node_log(job, 1)
                    print(job, status, info.get("status_reason"),
                          [line for line in logs.splitlines() if "terminate" in line], flush=True)
            print("round", r, counts, flush=True)
    finally:
        server.stop()
    return counts


if __name__ == "__main__":
    print("COUNTS", json.dumps(main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))))
