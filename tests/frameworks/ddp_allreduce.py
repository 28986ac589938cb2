"""One all-reduce of (rank + 1) over torch.distributed (gloo); rank 0 writes result.json."""
import torch
import torch.distributed as dist

from _result import fail_if_chosen, parse_args, report


def main() -> None:
    args = parse_args()
    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    fail_if_chosen(rank, args)
    value = torch.tensor([rank + 1.0])
    dist.all_reduce(value)
    report(rank, world_size, value.item())
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
