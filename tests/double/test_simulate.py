"""The simulate executor: nothing runs, yet validation, quotas, pools and GPUs are the real
ones, and each job ends as the [simulate] rules (or the admin calls) say."""
import json
import time
from typing import Iterator

import pytest

from bmlocal.client import BmlError
from bmlocal.testing import BmlServer
from tests.support.server import job_body

RULES = r"""
[gpus]
devices = [0, 1]
type = "A100"

[quotas]
max_jobs_per_project = 40

[[simulate.rules]]
name = "^diverges"
status = "FAILED"
exit_code = 3
log_lines = ["loss is nan"]

[[simulate.rules]]
project = "^audit$"
status = "FAILED"
status_reason = "the audit job found ${name} wanting"

[[simulate.rules]]
start_cmd = "--lr (?P<lr>[0-9.]+)"
running_seconds = 0.3
outputs = { "metrics.json" = '{"lr": ${lr}, "job": ${job_id}}', "deep/note.txt" = "rank ${rank}" }
log_lines = ["training with lr=${lr}", "done"]

[[simulate.rules]]
name = "^slow-start"
pending_seconds = 30
running_seconds = 0.5  # a released job is seen RUNNING, not already ended

[[simulate.rules]]
name = "^gpu"
hold = true
"""


@pytest.fixture(scope="module")
def server() -> Iterator[BmlServer]:
    with BmlServer(config=RULES) as server:
        yield server


@pytest.fixture
def sim(server: BmlServer) -> Iterator[BmlServer]:
    server.admin.reset()
    yield server


def test_a_job_no_rule_names_succeeds_at_once(sim: BmlServer) -> None:
    job_id = sim.client.create(job_body("plain"))
    final = sim.client.wait(job_id, "p1", timeout=5)
    assert final["train_status"] == "SUCCESSED"
    assert final["status_reason"] == "every node exited with code 0"
    events = sim.client.logs(job_id, "p1", file="job.log")["content"]
    assert "simulated: nothing runs" in events and "RUNNING: 1 node(s) on simulate" in events


def test_a_rule_fails_a_job_with_its_exit_code_and_log(sim: BmlServer) -> None:
    job_id = sim.client.create(job_body("diverges-1"))
    final = sim.client.wait(job_id, "p1", timeout=5)
    assert (final["train_status"], final["status_reason"]) == (
        "FAILED", "node 0 exited with code 3")
    assert sim.client.logs(job_id, "p1")["content"] == "loss is nan\n"


def test_a_rule_gives_its_own_reason(sim: BmlServer) -> None:
    job_id = sim.client.create(job_body("quarterly", prjId="audit"))
    final = sim.client.wait(job_id, "audit", timeout=5)
    assert final["status_reason"] == "the audit job found quarterly wanting"


def test_outputs_and_logs_from_the_start_command(sim: BmlServer) -> None:
    body = job_body("sweep-a", "python train.py --lr 0.25 --epochs 3")
    job_id = sim.client.create(body)
    running = sim.client.wait(job_id, "p1", timeout=5, until="RUNNING")
    assert running["train_status"] == "RUNNING"
    final = sim.client.wait(job_id, "p1", timeout=5)
    assert final["train_status"] == "SUCCESSED"
    out = sim.pfs / "out" / "sweep-a"
    assert json.loads((out / "metrics.json").read_text()) == {"lr": 0.25, "job": job_id}
    assert (out / "deep" / "note.txt").read_text() == "rank 0"
    assert sim.client.logs(job_id, "p1")["content"] == "training with lr=0.25\ndone\n"
    assert (out / "logs" / "node-0.log").exists()  # logs delivered as for a real job


def test_pending_time_ends_by_release_or_stop(sim: BmlServer) -> None:
    first = sim.client.create(job_body("slow-start-1"))
    second = sim.client.create(job_body("slow-start-2"))
    time.sleep(0.2)
    assert sim.client.detail(first, "p1")["train_status"] == "PENDING"
    assert sim.admin.release(first)["train_status"] == "RUNNING"
    assert sim.client.wait(first, "p1", timeout=5)["train_status"] == "SUCCESSED"
    started = time.monotonic()
    sim.client.stop(second, "p1")
    stopped = sim.client.wait(second, "p1", timeout=5)
    assert stopped["train_status"] == "STOPPED" and time.monotonic() - started < 2


def test_gpus_are_granted_and_queued_for_real(sim: BmlServer) -> None:
    body = job_body("gpu-a", **{"resource_config.resource_name": "GPU_V100",
                                "resource_config.gpu_num": 2})
    first = sim.client.create(body)
    assert sim.client.wait(first, "p1", timeout=5, until="RUNNING")["resource_config"][
        "gpu_type"] == "A100"
    second = sim.client.create({**body, "name": "gpu-b"})
    time.sleep(0.3)
    assert sim.client.detail(second, "p1")["train_status"] == "PENDING"  # no GPU is free
    with pytest.raises(BmlError) as too_big:
        sim.client.create({**body, "name": "gpu-c", "resource_config": {
            **body["resource_config"], "gpu_num": 3}})
    assert too_big.value.error_code == 406104
    sim.admin.advance(first, "SUCCESSED")
    assert sim.client.wait(second, "p1", timeout=5, until="RUNNING")["train_status"] == \
        "RUNNING"


def test_the_project_quota_is_the_real_one(sim: BmlServer) -> None:
    for i in range(40):
        sim.client.create(job_body(f"q{i}", prjId="full"))
    with pytest.raises(BmlError) as full:
        sim.client.create(job_body("one-more", prjId="full"))
    assert full.value.error_code == 406035


def test_validation_is_the_real_one(sim: BmlServer) -> None:
    with pytest.raises(BmlError) as bad:
        sim.client.create(job_body("x", **{"resource_config.node_count": 9}))
    assert bad.value.error_code == 406101
    with pytest.raises(BmlError) as bad:
        sim.client.create(job_body("x", **{"train_config.code_path": "/no/such/code"}))
    assert bad.value.error_code == 406019


MIXED = """
[gpus]  # declared: GPUs this machine lacks, for the simulated pool
devices = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
type = "H100"

[[pools]]
name = "dgx"
nodes = 2
gpus_per_node = 8
backend = "simulate"
"""


def test_a_pool_can_be_simulated_beside_real_ones() -> None:
    with BmlServer(executor="process", config=MIXED) as mixed:
        real = mixed.client.create(job_body("real", "echo ran for real"))
        fake = mixed.client.create(job_body("fake", "echo never runs", **{
            "resource_config.resource_type": "USER", "resource_config.resource_name": "dgx",
            "resource_config.node_count": 2, "resource_config.gpu_num": 8}))
        assert mixed.client.wait(real, "p1", timeout=30)["train_status"] == "SUCCESSED"
        assert mixed.client.logs(real, "p1")["content"] == "ran for real\n"
        done = mixed.client.wait(fake, "p1", timeout=30)
        assert done["train_status"] == "SUCCESSED"
        assert done["resource_config"]["gpu_num"] == 8  # granted from the pool's 16 GPUs
        assert mixed.client.logs(fake, "p1")["content"] == ""
        assert "on simulate" in mixed.client.logs(fake, "p1", file="job.log")["content"]


def test_serve_with_the_simulate_executor_and_a_wrong_rule(make_server) -> None:
    served = make_server(extra_args=["--executor", "simulate"],
                         config='[[simulate.rules]]\nname = "^x"\nstatus = "FAILED"\n')
    from bmlocal.client import Client
    client = Client(served.url)
    job_id = client.create(job_body("x1", "exit 0"))
    assert client.wait(job_id, "p1", timeout=10)["status_reason"] == \
        "node 0 exited with code 1"
    with pytest.raises(RuntimeError) as refused:
        make_server(extra_args=["--executor", "simulate"],
                    config='[[simulate.rules]]\nname = "("\nstatuz = "FAILED"\n')
    assert "simulate.rules[0].statuz: unknown key" in str(refused.value)
    assert "simulate.rules[0].name: value error, not a regular expression" in \
        str(refused.value)


def test_a_ccr_job_is_simulated_without_an_engine(sim: BmlServer) -> None:
    job_id = sim.client.create(job_body("image-job", **{
        "train_config.env_type": "CCR", "train_config.image": "/team/trainer",
        "train_config.tag": "v1", "train_config.distribute_strategy": "PytorchDDP"}))
    assert sim.client.wait(job_id, "p1", timeout=5)["train_status"] == "SUCCESSED"
    events = sim.client.logs(job_id, "p1", file="job.log")["content"]
    assert "on simulate" in events and "is not used" not in events


def test_a_burst_of_jobs_all_end(sim: BmlServer) -> None:
    """Instant starts race the loop's view of starting jobs: none may be left RUNNING."""
    ids = [(sim.client.create(job_body(f"burst-{i}", prjId=f"burst{i % 4}")), f"burst{i % 4}")
           for i in range(140)]  # 35 a project: under its quota of 40
    finals = {sim.client.wait(i, project, timeout=60)["train_status"] for i, project in ids}
    assert finals == {"SUCCESSED"}
