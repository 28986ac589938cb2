"""The shell that runs a CCR node in its container answers the node's own exit code after a
`docker stop`, on a busy machine too: a `wait` that its TERM trap cut short answers 143, and
the node, still exiting, was then taken for gone (34 of 40 stops on one busy core)."""
import os
import signal
import subprocess
import time
from pathlib import Path

from bmlocal.runtime.executors.docker import WRAPPER

NODE = "trap 'echo got TERM; exit 7' TERM; echo started; while true; do sleep 0.1; done"


def test_a_stopped_node_s_own_exit_code_comes_back_on_a_busy_core(tmp_path: Path) -> None:
    wrapper = WRAPPER.replace("/bml/logs/node-$BML_NODE_RANK.log", str(tmp_path / "node.log"))
    one_core = {min(os.sched_getaffinity(0))}
    hogs = [subprocess.Popen(["/bin/sh", "-c", "while :; do :; done"],
                             preexec_fn=lambda: os.sched_setaffinity(0, one_core))
            for _ in range(3)]
    codes = []
    try:
        for i in range(20):
            node = subprocess.Popen(["/bin/sh", "-c", wrapper, "bmlocal-node", "/bin/sh", "-c",
                                     NODE], start_new_session=True,
                                    preexec_fn=lambda: os.sched_setaffinity(0, one_core))
            time.sleep(0.15 + (i % 7) * 0.013)
            os.kill(node.pid, signal.SIGTERM)  # what `docker stop` sends the container's PID 1
            codes.append(node.wait(timeout=30))
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert codes == [7] * len(codes)
    assert (tmp_path / "node.log").read_text().count("got TERM") == len(codes)
