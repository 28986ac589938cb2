"""`detail` at 16 concurrent clients against a bare Flask app, side by side in one run.

The bare app answers a fixed JSON envelope (a real detail answer, same size) on the same
path, served by the same WSGI server with the same settings (bmlocal.server.wsgi_server).
`ab -k -c 16` (a C load generator: apt-get install -y apache2-utils) loads each in turn,
interleaved, several rounds; the ratio is taken per round and its median quoted, so a machine
loaded by something else weighs on both sides alike.

Run: .venv/bin/python bench/bench_serving.py [--rounds 5] [--seconds 4]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.server import BASE, Server, free_port  # noqa: E402

THREADS = 16  # bmlocal serve's default --threads (Settings.threads)


def bare_main(port: int, envelope_file: str) -> None:
    """The bare Flask app: one route, a fixed envelope, served like bmlocal."""
    from flask import Flask, Response

    from bmlocal.server import wsgi_server

    envelope = Path(envelope_file).read_bytes()
    app = Flask("bare")

    @app.route(f"{BASE}/<method>", methods=["POST"])
    def call(method: str) -> Response:
        return Response(envelope, mimetype="application/json")

    wsgi_server(app, "127.0.0.1", port, THREADS).run()


def start_bare(root: Path, envelope: bytes) -> tuple[subprocess.Popen, str]:
    (root / "envelope.json").write_bytes(envelope)
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--bare", str(port),
                                str(root / "envelope.json")])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.post(f"{url}{BASE}/detail", data=b"{}", timeout=1)
            return process, url
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the bare Flask app did not answer within 30 s")


def cpu_seconds(pid: int, reaped: bool = False) -> float:
    """User and system CPU time a process used so far (/proc/PID/stat); with `reaped`, that
    of the children it has reaped instead (cutime and cstime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    first = 13 if reaped else 11
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


def ab(url: str, body_file: Path, seconds: float, concurrency: int = 16) -> tuple[float, int]:
    """Requests per second that `ab` measured and requests done (non-2xx answers make it
    fail)."""
    out = subprocess.run(["ab", "-q", "-k", "-c", str(concurrency), "-t", str(seconds),
                          "-n", "10000000", "-p", str(body_file), "-T", "application/json",
                          f"{url}{BASE}/detail?access_token=t"],
                         capture_output=True, text=True, check=True).stdout
    failed = re.search(r"Failed requests:\s+(\d+)", out)
    non_2xx = re.search(r"Non-2xx responses:\s+(\d+)", out)
    if (failed and int(failed.group(1))) or non_2xx:
        raise RuntimeError(f"ab saw failed requests:\n{out}")
    return (float(re.search(r"Requests per second:\s+([\d.]+)", out).group(1)),
            int(re.search(r"Complete requests:\s+(\d+)", out).group(1)))


def loaded(url: str, pid: int, body: Path, seconds: float) -> tuple[float, float]:
    """(requests/s, server CPU microseconds per request) of one `ab` run. The CPU time per
    request holds on a machine busy with other work, where requests/s swing with the load."""
    before = cpu_seconds(pid)
    rate, done = ab(url, body, seconds)
    return rate, (cpu_seconds(pid) - before) / done * 1e6


def stored_job(server: Server) -> int:
    """A job that ran and ended: a log directory with files, as most details see."""
    job_id = server.create("bench", "echo hello")
    server.wait(job_id)
    return job_id


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4)
    args = parser.parse_args()
    if shutil.which("ab") is None:
        sys.exit("ab not found: apt-get install -y apache2-utils")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = Server(root / "bml", extra_args=["--executor", "process"]).start()
        bare = None
        try:
            job_id = stored_job(server)
            body = json.dumps({"id": job_id, "prjId": "p1"}).encode()
            (root / "body.json").write_bytes(body)
            envelope = server.post("detail", body).content
            bare, bare_url = start_bare(root, envelope)
            assert server.process is not None
            measure((server.url, server.process.pid), (bare_url, bare.pid), root / "body.json",
                    args.rounds, args.seconds)
        finally:
            server.stop()
            if bare is not None:
                bare.terminate()
                bare.wait(timeout=30)


def measure(bml: tuple[str, int], bare: tuple[str, int], body: Path, rounds: int,
            seconds: float) -> None:
    loaded(*bare, body, 1)  # warm both up
    loaded(*bml, body, 1)
    rows: dict[str, list[tuple[float, float]]] = {"bare": [], "bml": []}
    rate_ratios, cpu_ratios = [], []
    for n in range(rounds):
        load = os.getloadavg()[0]
        order = [("bare", bare), ("bml", bml)] if n % 2 == 0 else [("bml", bml), ("bare", bare)]
        for name, (url, pid) in order:
            rows[name].append(loaded(url, pid, body, seconds))
        (bare_rate, bare_cpu), (bml_rate, bml_cpu) = rows["bare"][-1], rows["bml"][-1]
        rate_ratios.append(bml_rate / bare_rate)
        cpu_ratios.append(bare_cpu / bml_cpu)
        print(f"round {n + 1}: bare Flask {bare_rate:6.0f}/s {bare_cpu:5.0f} us CPU/request | "
              f"bmlocal {bml_rate:6.0f}/s {bml_cpu:5.0f} us CPU/request | ratio {rate_ratios[-1]:.2f}"
              f" by rate, {cpu_ratios[-1]:.2f} by CPU  (load average {load:.1f})", flush=True)
    med = statistics.median
    print(f"detail, ab -k -c 16, {rounds} rounds of {seconds:g} s, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}:\n"
          f"  bare Flask: median {med(r for r, _ in rows['bare']):.0f} requests/s, "
          f"{med(c for _, c in rows['bare']):.0f} us CPU/request\n"
          f"  bmlocal:    median {med(r for r, _ in rows['bml']):.0f} requests/s, "
          f"{med(c for _, c in rows['bml']):.0f} us CPU/request\n"
          f"  ratio bmlocal/bare: median {med(rate_ratios):.2f} by requests/s, "
          f"{med(cpu_ratios):.2f} by CPU per request (target >= 0.85)")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        bare_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()
