"""/metrics parsed with Prometheus' own text parser, checked against a known sequence of
jobs: counts by project and status, the queue, GPUs, run times, API codes, staging, sync."""
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.cli_support import ticking
from tests.support.server import BASE

CONFIG = '[gpus]\ndevices = [0, 1]\ntype = "T4"\n[scheduler]\ncpu_slots = 1\n'


def scrape(server) -> dict[tuple[str, tuple], float]:
    answer = requests.get(f"{server.url}/metrics", timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        assert family.name.startswith("bmlocal_"), family.name
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_follow_a_known_sequence_of_jobs(make_server):
    server = make_server(config=CONFIG)
    code = server.write_code("code/a", {"train.py": "print('hello')\n"})
    staged = server.create("staged", "python train.py", **{"train_config.code_path": code})
    failed = server.create("fails", ticking(1, 0.01, exit_code=3))
    synced = server.create("synced", "python -c \"import os; open(os.environ['BML_OUTPUT_DIR']"
                                     " + '/model.bin', 'wb').write(b'x' * 1000)\"", **{
        "train_config.output_UrlSource": "BOS", "train_config.output_path": "/bucket-1/run"})
    for job in (staged, failed, synced):
        server.wait(job)
    holder = server.create("holder", "sleep 60", prjId="p2")
    gpu = server.create("gpu", "sleep 60", prjId="p2", **{
        "resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": 1})
    server.wait(holder, "RUNNING", project="p2")
    server.wait(gpu, "RUNNING", project="p2")
    waiting = server.create("waiting", prjId="p2")
    assert server.error("detail", {"id": 999, "prjId": "p1"})[0] == 406012

    m = scrape(server)
    assert value(m, "bmlocal_jobs", project="p1", status="SUCCESSED") == 2
    assert value(m, "bmlocal_jobs", project="p1", status="FAILED") == 1
    assert value(m, "bmlocal_jobs", project="p2", status="RUNNING") == 2
    assert value(m, "bmlocal_jobs", project="p2", status="PENDING") == 1
    assert value(m, "bmlocal_queue_length", pool="PUBLIC/CPU_4C_16G") == 1
    assert value(m, "bmlocal_queue_oldest_wait_seconds", pool="PUBLIC/CPU_4C_16G") > 0
    assert value(m, "bmlocal_gpus", pool="PUBLIC/GPU_V100") == 2
    assert value(m, "bmlocal_gpus_in_use", pool="PUBLIC/GPU_V100") == 1
    assert value(m, "bmlocal_gpus_in_use", pool="PUBLIC/CPU_4C_16G") == 0
    assert value(m, "bmlocal_job_run_seconds_count", status="SUCCESSED") == 2
    assert value(m, "bmlocal_job_run_seconds_count", status="FAILED") == 1
    assert value(m, "bmlocal_api_requests_total", operation="create", code="0") == 6
    assert value(m, "bmlocal_api_requests_total", operation="detail", code="406012") == 1
    assert value(m, "bmlocal_api_request_duration_seconds_count", operation="create",
                 code="0") == 6
    assert value(m, "bmlocal_staging_bytes_total", source="PFS") == len("print('hello')\n")
    assert value(m, "bmlocal_staging_seconds_count", source="PFS") == 1
    delivered = sum(p.stat().st_size for p in (server.bos / "bucket-1").rglob("*")
                    if p.is_file())
    assert delivered > 1000 and value(m, "bmlocal_sync_bytes_total") >= delivered
    assert value(m, "bmlocal_sync_seconds_count") >= 1

    server.ok("stop", {"id": holder, "prjId": "p2"})
    server.wait(holder, project="p2")
    server.wait(waiting, {"RUNNING", "SUCCESSED"}, project="p2")
    after = scrape(server)
    assert value(after, "bmlocal_jobs", project="p2", status="STOPPED") == 1
    assert value(after, "bmlocal_queue_length", pool="PUBLIC/CPU_4C_16G") == 0
    assert value(after, "bmlocal_job_run_seconds_count", status="STOPPED") == 1
    assert value(after, "bmlocal_api_requests_total", operation="stop", code="0") == 1


def test_metrics_need_a_token_when_credentials_are_configured(make_server):
    server = make_server(config='[[auth.credentials]]\nak = "a"\nsk = "s"\nprojects = ["*"]\n')
    refused = requests.get(f"{server.url}/metrics", timeout=10)
    assert refused.status_code == 401 and refused.json()["error_code"] == 110
    token = requests.get(f"{server.url}/oauth/2.0/token", params={
        "grant_type": "client_credentials", "client_id": "a", "client_secret": "s"},
        timeout=10).json()["access_token"]
    answer = requests.get(f"{server.url}/metrics", timeout=10,
                          headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and "bmlocal_api_requests_total" in answer.text


def test_requests_are_counted_under_bounded_labels_never_a_raw_path(make_server):
    server = make_server()
    before = scrape(server)  # the harness asked for /openapi.json to see the server up
    for method in ("no-such-call", "detail/extra", "x" * 200):
        assert server.post(method, {"prjId": "p1"}).json()["error_code"] == 3
    assert requests.get(f"{server.url}{BASE}/list", timeout=10).status_code == 404
    assert server.ok("list", {"prjId": "p1"})["total"] == 0
    assert requests.get(f"{server.url}/oauth/2.0/token", timeout=10,
                        params={"grant_type": "client_credentials"}).status_code == 200
    assert requests.get(f"{server.url}/openapi.json", timeout=10).status_code == 200
    assert requests.get(f"{server.url}/no/such/page", timeout=10).status_code == 404
    m = scrape(server)
    operations = {dict(labels)["operation"] for name, labels in m
                  if name == "bmlocal_api_requests_total"}
    assert operations == {"unsupported", "list", "token", "openapi", "unknown",
                          "metrics.exposition"}
    assert value(m, "bmlocal_api_requests_total", operation="unsupported", code="3") == 4
    assert value(m, "bmlocal_api_requests_total", operation="list", code="0") == 1
    assert value(m, "bmlocal_api_requests_total", operation="token", code="0") == 1
    assert value(m, "bmlocal_api_requests_total", operation="openapi", code="0") == value(
        before, "bmlocal_api_requests_total", operation="openapi", code="0") + 1
    assert value(m, "bmlocal_api_requests_total", operation="unknown", code="3") == 1
