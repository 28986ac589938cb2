"""Pools, GPUs, queueing and quotas, with a declared inventory of fake GPUs on this CPU machine."""
import time

from tests.support.server import Server, job_body

GPUS = '[gpus]\ndevices = [0, 1]\ntype = "V100"\n'
SHOW_GPUS = 'echo "gpus=[$CUDA_VISIBLE_DEVICES]"; '
WAIT_FOR_GO = "while [ ! -e $BML_OUTPUT_DIR/../go ]; do sleep 0.05; done"


def gpu_job(server: Server, name: str, gpus: int, nodes: int = 1, cmd: str = WAIT_FOR_GO
            ) -> int:
    return server.create(name, SHOW_GPUS + cmd, **{
        "resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": gpus,
        "resource_config.node_count": nodes})


def release(server: Server) -> None:
    (server.pfs / "out" / "go").write_text("")


def visible(server: Server, job_id: int, rank: int = 0) -> str:
    deadline = time.monotonic() + 20
    while "gpus=[" not in server.node_log(job_id, rank):
        assert time.monotonic() < deadline, "the node never printed its GPUs"
        time.sleep(0.05)
    return server.node_log(job_id, rank).split("gpus=[")[1].split("]")[0]


def test_two_jobs_that_want_every_gpu_run_one_after_the_other(make_server) -> None:
    server = make_server(config=GPUS)
    first = gpu_job(server, "all-1", 2)
    second = gpu_job(server, "all-2", 2)
    server.wait(first, "RUNNING")
    time.sleep(0.5)
    assert server.detail(second)["train_status"] == "PENDING"
    assert visible(server, first) == "0,1"
    release(server)
    assert server.wait(first)["train_status"] == "SUCCESSED"
    assert server.wait(second)["train_status"] == "SUCCESSED"
    assert visible(server, second) == "0,1"
    assert server.detail(first)["resource_config"]["gpu_num"] == 2
    assert server.detail(first)["resource_config"]["gpu_type"] == "V100"


def test_two_one_gpu_jobs_run_at_once_on_different_gpus(make_server) -> None:
    server = make_server(config=GPUS)
    a, b = gpu_job(server, "one-a", 1), gpu_job(server, "one-b", 1)
    server.wait(a, "RUNNING")
    server.wait(b, "RUNNING")
    assert {visible(server, a), visible(server, b)} == {"0", "1"}
    release(server)


def test_a_multi_node_job_gets_disjoint_gpus(make_server) -> None:
    server = make_server(config=GPUS)
    job_id = gpu_job(server, "multi", 1, nodes=2, cmd="true")
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert {visible(server, job_id, 0), visible(server, job_id, 1)} == {"0", "1"}


def test_gpu_pools_default_to_one_gpu_a_node_and_cpu_pools_hide_gpus(make_server) -> None:
    server = make_server(config=GPUS)
    default = server.create("default-gpu", SHOW_GPUS, **{
        "resource_config.resource_name": "GPU_P4"})
    cpu = server.create("cpu-only", SHOW_GPUS)
    assert server.wait(default)["resource_config"]["gpu_num"] == 1
    assert len(visible(server, default)) == 1
    server.wait(cpu)
    assert visible(server, cpu) == ""


def test_requests_that_can_never_fit_are_refused_at_create(make_server) -> None:
    server = make_server(config=GPUS + "[scheduler]\ncpu_slots = 2\n")
    too_many = job_body("never", "true", **{"resource_config.resource_name": "GPU_V100",
                                             "resource_config.gpu_num": 2,
                                             "resource_config.node_count": 2})
    assert server.error("create", too_many)[0] == 406104
    assert server.error("create", job_body("wide", "true", **{
        "resource_config.node_count": 3}))[0] == 406101
    assert server.error("create", job_body("over", "true", **{
        "resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": 3}))[0] == 406104


def test_a_gpu_pool_on_a_machine_without_gpus_is_refused(server: Server) -> None:
    body = job_body("no-gpu", "true", **{"resource_config.resource_name": "GPU_V100"})
    assert server.error("create", body)[0] == 406104


def test_user_pools_from_the_config(make_server) -> None:
    server = make_server(config=GPUS + '[[pools]]\nname = "lab-a100"\nnodes = 2\n'
                                       'gpus_per_node = 1\ncpus_per_node = 8\nmemory_gb = 32\n'
                                       'gpu_type = "A100"\n')
    body = job_body("lab", SHOW_GPUS, **{"resource_config.resource_type": "USER",
                                         "resource_config.resource_name": "lab-a100",
                                         "resource_config.node_count": 2})
    info = server.wait(server.ok("create", body))
    assert info["train_status"] == "SUCCESSED"
    assert info["resource_config"]["gpu_type"] == "A100"
    assert info["resource_config"]["cpu_num"] == "8"  # a string in detail (the seed)
    for field, code in (("resource_config.node_count", 406101),
                        ("resource_config.cpu_num", 406102),
                        ("resource_config.memory", 406103),
                        ("resource_config.gpu_num", 406104)):
        bad = job_body("lab-bad", "true", **{"resource_config.resource_type": "USER",
                                             "resource_config.resource_name": "lab-a100",
                                             field: 99 if field != "resource_config.node_count"
                                             else 3})
        assert server.error("create", bad)[0] == code
    assert server.error("create", job_body("x", "true", **{
        "resource_config.resource_name": "lab-a100"}))[0] == 406100


def test_a_queue_of_fifty_jobs_drains_in_submission_order(make_server) -> None:
    server = make_server(config="[scheduler]\ncpu_slots = 1\n")
    ids = [server.create(f"q{i}", "true") for i in range(50)]
    for job_id in ids:
        assert server.wait(job_id, timeout=120)["train_status"] == "SUCCESSED"
    starts = [int((server.data_dir / "jobs" / str(i) / "nodes" / "0" / "node.json")
                  .stat().st_mtime_ns) for i in ids]
    assert starts == sorted(starts)


def test_a_large_job_is_not_starved_by_small_ones(make_server) -> None:
    """Small jobs may pass a waiting large one twice (max_passes); then it holds its place."""
    server = make_server(config=GPUS + "[scheduler]\nmax_passes = 2\n")
    own_go = "while [ ! -e $BML_OUTPUT_DIR/go ]; do sleep 0.05; done"

    def small(name: str) -> int:
        return gpu_job(server, name, 1, cmd=own_go)

    def end(name: str, job_id: int) -> None:
        (server.pfs / "out" / name / "go").write_text("")
        server.wait(job_id)

    first = small("s0")
    big = gpu_job(server, "big", 2, cmd="true")
    second = small("s1")  # passes the big job: one GPU is free
    later = [small(f"later{i}") for i in range(3)]
    server.wait(second, "RUNNING")
    end("s0", first)
    server.wait(later[0], "RUNNING")  # the second pass
    end("s1", second)
    time.sleep(0.5)  # one GPU is free, but the big job may not be passed a third time
    assert server.detail(later[1])["train_status"] == "PENDING"
    end("later0", later[0])
    assert server.wait(big)["train_status"] == "SUCCESSED"
    server.wait(later[1], "RUNNING")
    for i in (1, 2):
        end(f"later{i}", later[i])


def test_a_queued_job_survives_a_restart(make_server) -> None:
    server = make_server(config="[scheduler]\ncpu_slots = 1\n")
    blocker = server.create("blocker", WAIT_FOR_GO)
    server.wait(blocker, "RUNNING")
    queued = server.create("queued", "echo ran")
    server.restart()
    assert server.detail(queued)["train_status"] == "PENDING"
    release(server)
    assert server.wait(queued)["train_status"] == "SUCCESSED"
    assert "ran" in server.node_log(queued)


def test_project_quotas(make_server) -> None:
    server = make_server(config=GPUS + "[quotas]\nmax_running_jobs_per_project = 1\n"
                                       "max_gpus_per_project = 1\n")
    over = job_body("greedy", "true", **{"resource_config.resource_name": "GPU_V100",
                                          "resource_config.gpu_num": 2})
    assert server.error("create", over) == (406008, "[gpu] quota exceeded")
    first = server.create("first", WAIT_FOR_GO)
    second = server.create("second", "true")
    server.wait(first, "RUNNING")
    time.sleep(0.5)
    assert server.detail(second)["train_status"] == "PENDING"
    other = server.ok("create", job_body("other-project", "true", prjId="p2"))
    assert server.wait(other, project="p2")["train_status"] == "SUCCESSED"
    release(server)
    assert server.wait(second)["train_status"] == "SUCCESSED"


def test_rdma_without_infiniband_runs_and_says_so(server: Server) -> None:
    job_id = server.create("rdma", "echo ib=$NCCL_IB_DISABLE", **{"resource_config.rdma": True})
    assert server.wait(job_id)["train_status"] == "SUCCESSED"
    assert "ib=1" in server.node_log(job_id)
    events = (server.data_dir / "jobs" / str(job_id) / "logs" / "job.log").read_text()
    assert "RDMA was asked for but this machine has no InfiniBand device" in events
