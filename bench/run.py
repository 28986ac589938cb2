"""`make bench`: every benchmark in turn (the Docker one where an engine answers)."""
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from bmlocal.runtime.executors.docker import engine  # noqa: E402

BENCHES = ["bench_api.py", "bench_scheduler.py", "bench_ddp.py", "bench_sync.py",
           "bench_docker.py", "bench_docker_cpu.py", "bench_faults.py", "bench_hostile.py",
           "bench_provenance.py", "bench_follow.py"]


def main() -> int:
    failed = 0
    for name in BENCHES:
        if name.startswith("bench_docker") and engine() is None:
            print(f"{name}: skipped, no Docker engine answers (scripts/dockerd.sh start)")
            continue
        print(f"=== {name}", flush=True)
        failed |= subprocess.run([sys.executable, str(HERE / name)]).returncode
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
