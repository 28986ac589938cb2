"""The GPU check's training script (scripts/gpu_check.py), the same for bmlocal's jobs and for
plain torchrun: DDP over NCCL, one GPU per worker (its local rank among the GPUs it sees),
a warm-up then a fixed number of timed steps of an MLP; an all-reduce of rank+1 checks the
sum. Rank 0 writes {world_size, sum, steps_per_second, gpu, nccl} to
$GPU_CHECK_OUT (or $BML_OUTPUT_DIR, or .)/gpu_steps.json."""
import json
import os
import time

import torch
import torch.distributed as dist
from torch import nn

STEPS = int(os.environ.get("GPU_CHECK_STEPS", "300"))
WARM_UP = 20


def train(device: torch.device) -> float:
    model = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Linear(1024, 4096), nn.ReLU(), nn.Linear(4096, 1024)).to(device),
        device_ids=[device.index])
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(512, 1024, device=device), torch.randn(512, 1024, device=device)

    def step() -> None:
        optimiser.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimiser.step()

    for _ in range(WARM_UP):
        step()
    torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(STEPS):
        step()
    torch.cuda.synchronize(device)
    return STEPS / (time.perf_counter() - started)


def main() -> None:
    device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    torch.cuda.set_device(device)
    dist.init_process_group("nccl")
    steps_per_second = train(device)
    total = torch.tensor([dist.get_rank() + 1.0], device=device)
    dist.all_reduce(total)
    if dist.get_rank() == 0:
        out = os.environ.get("GPU_CHECK_OUT") or os.environ.get("BML_OUTPUT_DIR", ".")
        with open(os.path.join(out, "gpu_steps.json"), "w") as f:
            json.dump({"world_size": dist.get_world_size(), "sum": total.item(),
                       "steps_per_second": steps_per_second,
                       "gpu": torch.cuda.get_device_name(device),
                       "nccl": ".".join(map(str, torch.cuda.nccl.version()))}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
