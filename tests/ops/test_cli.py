"""The `bmlocal` command end to end against a real server: every command, its JSON output
and its exit codes; errors carry the cloud's code; a followed log survives a restart."""
import json
import subprocess
import time

import yaml

from bmlocal.cli.logs import queue_note
from bmlocal.client import Client
from tests.ops.cli_support import cli, cli_json, cli_process, json_lines, ticking, write_job
from tests.support.server import job_body

CREDENTIALS = """
[[auth.credentials]]
ak = "ak-1"
sk = "sk-1"
projects = ["p1"]
"""


def test_submit_follows_a_yaml_job_and_ls_show_json(server, tmp_path):
    body = job_body("two<b>nodes", ticking(3, 0.1), **{"resource_config.node_count": 2})
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(body))
    done = cli(server, "submit", str(path))
    assert done.returncode == 0, done.stderr
    for rank in (0, 1):
        assert [f"node-{rank} | tick {i}" for i in range(3)] == \
            [line for line in done.stdout.splitlines() if line.startswith(f"node-{rank}")]
    assert "SUCCESSED" in done.stderr

    listed = cli_json(server, "ls")
    assert listed["total"] == 1 and listed["items"][0]["name"] == "two<b>nodes"
    shown = cli_json(server, "show", str(listed["items"][0]["id"]))
    assert shown["train_status"] == "SUCCESSED"
    assert [e["status"] for e in shown["bmlocal"]["history"] if e["status"]] == \
        ["PENDING", "RUNNING", "SUCCESSED"]
    assert [n["rank"] for n in shown["bmlocal"]["nodes"]] == [0, 1]
    table = cli(server, "show", str(shown["id"]))
    assert table.returncode == 0 and "two<b>nodes" in table.stdout and "status history" in \
        table.stdout


def test_no_follow_json_then_wait_and_logs(server, tmp_path):
    path = write_job(tmp_path / "job.json", job_body("quick", ticking(3, 0.05)))
    created = cli_json(server, "submit", str(path), "--no-follow")
    job = str(created["id"])
    final = cli_json(server, "wait", job)
    assert final["train_status"] == "SUCCESSED"
    chunks = json_lines(cli(server, "logs", job, "-o", "json").stdout)
    assert "".join(c["text"] for c in chunks) == "tick 0\ntick 1\ntick 2\n"
    since = cli(server, "logs", job, "--since", str(len("tick 0\n")))
    assert since.returncode == 0 and since.stdout == "tick 1\ntick 2\n"
    events = cli(server, "logs", job, "--file", "job.log")
    assert "RUNNING" in events.stdout


def test_exit_codes_say_why(server, tmp_path):
    failing = server.create("fails", ticking(1, 0.05, exit_code=3))
    waited = cli(server, "wait", str(failing))
    assert waited.returncode == 1 and "FAILED" in waited.stderr
    assert "node 0 exited with code 3" in waited.stderr
    followed = cli(server, "logs", str(failing), "--follow")
    assert followed.returncode == 1 and followed.stdout == "tick 0\n"
    final = json_lines(cli(server, "logs", str(failing), "-f", "-o", "json").stdout)[-1]
    assert final == {"id": failing, "train_status": "FAILED",
                     "status_reason": "node 0 exited with code 3"}

    sleeper = server.create("sleeps", "sleep 60")
    server.wait(sleeper, "RUNNING")
    assert cli_json(server, "stop", str(sleeper)) == {"id": sleeper, "stopped": True}
    stopped = cli(server, "wait", str(sleeper))
    assert stopped.returncode == 1 and "STOPPED" in stopped.stderr
    assert "stopped by user" in stopped.stderr
    assert cli_json(server, "rm", str(sleeper)) == {"id": sleeper, "deleted": True}


def test_api_errors_print_the_cloud_code_and_fail(server):
    unknown = cli(server, "show", "999")
    assert unknown.returncode == 1 and "406012" in unknown.stderr
    as_json = cli(server, "stop", "999", "-o", "json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout)["error_code"] == 406012
    ended = server.create("ended")
    server.wait(ended)
    again = cli(server, "stop", str(ended))
    assert again.returncode == 1 and "406027" in again.stderr
    running = server.create("running", "sleep 60")
    server.wait(running, "RUNNING")
    refused = cli(server, "rm", str(running))
    assert refused.returncode == 1 and "406014" in refused.stderr
    bad_id = cli(server, "show", "abc")
    assert bad_id.returncode == 2 and "job id" in bad_id.stderr
    no_project = cli(server, "ls", BMLOCAL_PROJECT="")
    assert no_project.returncode == 2 and "project" in no_project.stderr


def test_keys_from_a_profile_and_another_project(make_server, tmp_path):
    server = make_server(config=CREDENTIALS)
    profiles = tmp_path / "profiles.toml"
    profiles.write_text(f'[lab]\nurl = "{server.url}"\nak = "ak-1"\nsk = "sk-1"\n'
                        'project = "p1"\n')
    env = {"BMLOCAL_PROFILE_FILE": str(profiles), "BMLOCAL_URL": "", "BMLOCAL_PROJECT": ""}
    path = write_job(tmp_path / "job.json", job_body("keyed"))
    created = cli_json(server, "submit", str(path), "--no-follow",
                       "--profile", "lab", **env)
    assert cli_json(server, "wait", str(created["id"]), "--profile", "lab",
                    **env)["train_status"] == "SUCCESSED"
    other = cli(server, "ls", "--profile", "lab", "-p", "p2", **env)
    assert other.returncode == 1 and "406037" in other.stderr
    no_keys = cli(server, "ls")
    assert no_keys.returncode == 1 and "110" in no_keys.stderr
    wrong = cli(server, "ls", "--ak", "ak-1", "--sk", "wrong")
    assert wrong.returncode == 1 and "token refused" in wrong.stderr
    assert "wrong" not in wrong.stderr


def test_pools_show_gpu_holders_and_queue_positions(make_server):
    server = make_server(config="[gpus]\ndevices = [0, 1]\ntype = \"T4\"\n"
                                "[scheduler]\ncpu_slots = 1\n")
    holder = server.create("gpu-holder", "sleep 60", **{
        "resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": 2})
    blocker = server.create("cpu-blocker", "sleep 60")
    server.wait(holder, "RUNNING")
    server.wait(blocker, "RUNNING")
    first, second = server.create("waits-1"), server.create("waits-2")
    pools = {p["pool"]: p for p in cli_json(server, "pools")}
    gpu = pools["PUBLIC/GPU_V100"]
    assert (gpu["gpus_total"], gpu["gpus_in_use"]) == (2, 2)
    assert [(h["gpu"], h["job_id"], h["rank"]) for h in gpu["holders"]] == \
        [(0, holder, 0), (1, holder, 0)]
    queue = pools["PUBLIC/CPU_4C_16G"]["queue"]
    assert [(w["position"], w["job_id"]) for w in queue] == [(1, first), (2, second)]
    table = cli(server, "pools")
    assert table.returncode == 0 and "gpu-holder" in table.stdout and "waits-2" in table.stdout
    shown = cli_json(server, "show", str(second))
    assert shown["bmlocal"]["queue_position"] == 2
    with Client(server.url) as client:  # the words of the spinner while a job waits
        assert queue_note(client, second, "p1") == ": position 2 in its queue"


def test_follow_survives_a_server_restart(server):
    job = server.create("long", ticking(12, 0.4))
    follower = cli_process(server, "logs", str(job), "-f", stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    assert follower.stdout is not None
    assert follower.stdout.readline() == "tick 0\n"
    server.restart()
    rest = follower.stdout.read()  # the same buffered reader: nothing read ahead is lost
    assert follower.wait(timeout=60) == 0, follower.stderr.read() if follower.stderr else ""
    assert "tick 0\n" + rest == "".join(f"tick {i}\n" for i in range(12))


def test_ls_filters_by_status(server):
    good = server.create("good")
    bad = server.create("bad", "false")
    server.wait(good)
    server.wait(bad)
    failed = cli_json(server, "ls", "--status", "FAILED")
    assert [i["id"] for i in failed["items"]] == [bad]
    assert [i["id"] for i in cli_json(server, "ls", "-n", "1")["items"]] == [bad]
    started = time.monotonic()
    watcher = cli_process(server, "ls", "--watch", "0.2", "-o", "json",
                          stdout=subprocess.PIPE)
    assert watcher.stdout is not None
    pages = [json.loads(watcher.stdout.readline()) for _ in range(3)]
    watcher.terminate()
    watcher.wait(10)
    assert all(p["total"] == 2 for p in pages) and time.monotonic() - started < 30
