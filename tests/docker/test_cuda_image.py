"""bmlocal/train:cuda (`make images-cuda`) checked as far as a machine without a GPU allows:
its torch is the CUDA build with its NCCL, it runs CPU jobs across two containers, and a GPU
job fails at once with a reason that says why. Skips without the image; fails instead when
BMLOCAL_REQUIRE_CUDA_IMAGE=1."""
import json
import os

import pytest

from tests.conftest import containers_of
from tests.docker.test_docker_jobs import ccr
from tests.support.require import missing
from tests.support.server import Server

CUDA_IMAGE = "bmlocal/train:cuda"
VERSIONS = ("import json, torch; print('versions=' + json.dumps({'cuda': torch.version.cuda, "
            "'nccl': torch.cuda.nccl.version(), 'cudnn': torch.backends.cudnn.version(), "
            "'available': torch.cuda.is_available(), 'count': torch.cuda.device_count()}))")


@pytest.fixture(scope="module")
def cuda_image(docker_client) -> str:
    if not docker_client.images.list(name=CUDA_IMAGE):
        message = f"image {CUDA_IMAGE} is missing: run `make images-cuda`"
        missing("CUDA_IMAGE", message)
    if "nvidia" in docker_client.info().get("Runtimes", {}):
        pytest.skip("this engine has the NVIDIA runtime: scripts/gpu-check.sh checks GPUs")
    return CUDA_IMAGE


def cuda_job(name: str, cmd: str, strategy: str = "PytorchDDP", **changes) -> dict:
    return ccr(name, cmd, image="/bmlocal/train", tag="cuda", strategy=strategy, **changes)


def test_its_torch_is_the_cuda_build_and_sees_no_gpu_here(make_server, cuda_image) -> None:
    server = make_server()
    job_id = server.ok("create", cuda_job("versions", f'python -c "{VERSIONS}"'))
    info = server.wait(job_id, timeout=120)
    log = server.node_log(job_id)
    assert info["train_status"] == "SUCCESSED", log
    found = json.loads(log.split("versions=")[1].splitlines()[0])
    assert found["cuda"].split(".")[0] == "13", found  # torch 2.13.0's default wheel
    major, minor, _ = found["nccl"]
    assert (major, minor) >= (2, 20), found
    assert found["cudnn"] >= 90000, found  # cuDNN 9
    assert (found["available"], found["count"]) == (False, 0)


def test_its_horovod_is_built_as_the_image_says(docker_client, cuda_image) -> None:
    """NCCL where the build machine could compile it (scripts/build-horovod-nccl.sh), else
    the CPU image's Gloo build: the image's label bmlocal.horovod says which."""
    kind = docker_client.images.get(cuda_image).labels.get("bmlocal.horovod")
    out = docker_client.containers.run(cuda_image, [
        "python", "-W", "ignore", "-c",
        "import horovod.torch as hvd; print(bool(hvd.nccl_built()), bool(hvd.gloo_built()))"],
        remove=True).decode().split()
    assert out == [str(kind == "nccl"), "True"], (kind, out)


# Horovod across two containers (over Gloo on the CPU, whichever build the image has).
# (torchrun already ran in the first test.)
@pytest.mark.parametrize("strategy,script", [("Horovod", "hvd_allreduce.py")])
def test_it_runs_a_two_node_job_on_the_cpu(make_server, cuda_image, strategy: str,
                                           script: str) -> None:
    server = make_server()
    frameworks = os.path.join(os.path.dirname(__file__), "..", "frameworks")
    server.write_code(f"code/{strategy}", {name: open(os.path.join(frameworks, name)).read()
                                           for name in (script, "_result.py")})
    job_id = server.ok("create", cuda_job(f"cuda-{strategy.lower()}", f"python {script}",
                                          strategy, **{
                                              "train_config.code_path": f"/code/{strategy}",
                                              "resource_config.node_count": 2}))
    info = server.wait(job_id, timeout=300)
    assert info["train_status"] == "SUCCESSED", server.node_log(job_id) + server.node_log(
        job_id, 1)
    result = json.loads((server.pfs / "out" / f"cuda-{strategy.lower()}" / "result.json"
                         ).read_text())
    assert result == {"world_size": 2, "sum": 3.0}


def test_the_nodes_of_a_job_are_separate_hosts_for_nccl(make_server, cuda_image) -> None:
    server = make_server()
    job_id = server.ok("create", ccr("hosts", "echo host=$NCCL_HOSTID",
                                     **{"resource_config.node_count": 2}))
    assert server.wait(job_id, timeout=60)["train_status"] == "SUCCESSED"
    hosts = [server.node_log(job_id, rank).split("host=")[1].split()[0] for rank in (0, 1)]
    assert hosts == [f"bmlocal-job{job_id}-node0", f"bmlocal-job{job_id}-node1"]


def gpu_body(name: str) -> dict:
    return cuda_job(name, f'python -c "{VERSIONS}"', **{
        "resource_config.resource_name": "GPU_V100", "resource_config.gpu_num": 1})


def test_a_gpu_job_is_refused_where_no_gpu_was_found(server: Server, cuda_image) -> None:
    """No [gpus] in the config and none found by NVML or nvidia-smi: the GPU pools hold
    no GPU, and the job is refused before anything is stored."""
    assert server.error("create", gpu_body("no-gpu")) == (406104, "gpu over limit")
    assert server.ok("list", {"prjId": "p1", "start": 0, "num": 10})["total"] == 0


def test_a_gpu_job_fails_at_once_where_the_engine_cannot_give_gpus(make_server,
                                                                    cuda_image) -> None:
    """GPUs declared in the config, but the engine has no NVIDIA container toolkit."""
    server = make_server(config='[gpus]\ndevices = [0]\ntype = "H200"\n')
    job_id = server.ok("create", gpu_body("declared-gpu"))
    info = server.wait(job_id, timeout=30)
    assert info["train_status"] == "FAILED"
    assert info["status_reason"].startswith(
        "could not start: the Docker engine cannot give GPUs to containers: this machine has "
        "no NVIDIA driver and container toolkit"), info
    assert info["run_time"] == 0 and containers_of(server) == []
