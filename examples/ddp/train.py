"""A small PyTorch model trained on the CPU: one process, or DDP across every node.

Learns y = 3x - 1 plus noise with a two-layer MLP; rank 0 saves the model and a metrics
file to BML_OUTPUT_DIR.
"""
import gc
import json
import os
import time

import torch
import torch.distributed as dist
from torch import nn


def train(rank: int, world: int, distributed: bool) -> None:
    """Train, and save from rank 0. The model lives only in here: see main()."""
    torch.manual_seed(rank)
    model: nn.Module = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
    if distributed:
        model = nn.parallel.DistributedDataParallel(model)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05)
    started = time.time()
    for epoch in range(1, 6):
        x = torch.rand(512, 1) * 2 - 1
        y = 3 * x - 1 + 0.05 * torch.randn_like(x)
        for _ in range(40):
            optimiser.zero_grad()
            loss = nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimiser.step()
        print(f"rank {rank}/{world} epoch {epoch} loss {loss.item():.4f}", flush=True)
    if rank == 0:
        out = os.environ.get("BML_OUTPUT_DIR", ".")
        torch.save(model.state_dict(), os.path.join(out, "model.pt"))
        with open(os.path.join(out, "metrics.json"), "w") as f:
            json.dump({"final_loss": loss.item(), "world_size": world,
                       "seconds": round(time.time() - started, 2)}, f)


def main() -> None:
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group("gloo")
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    train(rank, world, distributed)
    # A DDP model still alive (it sits in reference cycles) when the process exits makes
    # torch 2.13's gloo abort now and then: free it while the process group lives.
    gc.collect()
    if distributed:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
