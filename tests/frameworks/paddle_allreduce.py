"""One all-reduce of (rank + 1) over paddle.distributed (fleet, gloo on the CPU); rank 0
writes result.json."""
import paddle
import paddle.distributed as dist
from paddle.distributed import fleet

from _result import fail_if_chosen, parse_args, report


def main() -> None:
    args = parse_args()
    fleet.init(is_collective=True)
    rank, world_size = dist.get_rank(), dist.get_world_size()
    fail_if_chosen(rank, args)
    value = paddle.to_tensor([rank + 1.0])
    if world_size > 1:  # a world of one has no global group to reduce over
        dist.all_reduce(value)
    report(rank, world_size, float(value.numpy()[0]))


if __name__ == "__main__":
    main()
