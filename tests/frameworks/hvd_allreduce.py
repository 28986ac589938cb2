"""One all-reduce of (rank + 1) over horovod.torch (gloo); rank 0 writes result.json."""
import horovod.torch as hvd
import torch

from _result import fail_if_chosen, parse_args, report


def main() -> None:
    args = parse_args()
    hvd.init()
    fail_if_chosen(hvd.rank(), args)
    total = hvd.allreduce(torch.tensor([hvd.rank() + 1.0]), op=hvd.Sum)
    report(hvd.rank(), hvd.size(), total.item())
    hvd.shutdown()


if __name__ == "__main__":
    main()
