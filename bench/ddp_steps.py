"""The DDP training script both sides of bench_ddp.py run: a fixed number of steps of a small
MLP over gloo; rank 0 writes steps per second to $BML_OUTPUT_DIR (or .)/steps.json."""
import gc
import json
import os
import time

import torch
import torch.distributed as dist
from torch import nn

STEPS = int(os.environ.get("BENCH_STEPS", "400"))


def train() -> float:
    """Steps per second. The model lives only in here: see main()."""
    torch.manual_seed(dist.get_rank())
    model = nn.parallel.DistributedDataParallel(
        nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 1)))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.01)
    x, y = torch.randn(256, 64), torch.randn(256, 1)
    started = time.perf_counter()
    for _ in range(STEPS):
        optimiser.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        optimiser.step()
    return STEPS / (time.perf_counter() - started)


def main() -> None:
    dist.init_process_group("gloo")
    steps_per_second = train()
    # A DDP model still alive (it sits in reference cycles) when the process exits makes
    # torch 2.13's gloo abort now and then: free it while the process group lives.
    gc.collect()
    if dist.get_rank() == 0:
        out = os.environ.get("BML_OUTPUT_DIR", ".")
        with open(os.path.join(out, "steps.json"), "w") as f:
            json.dump({"steps_per_second": steps_per_second}, f)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
