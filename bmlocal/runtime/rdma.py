"""InfiniBand for jobs that ask for `rdma`: the devices to pass and the NCCL settings."""
import glob

IB_DEVICES = "/dev/infiniband/*"


def devices() -> list[str]:
    return sorted(glob.glob(IB_DEVICES))


def nccl_env(found: list[str]) -> dict[str, str]:
    """NCCL over InfiniBand where the machine has it, plain TCP sockets otherwise."""
    if found:
        return {"NCCL_IB_DISABLE": "0", "NCCL_NET_GDR_LEVEL": "2"}
    return {"NCCL_IB_DISABLE": "1"}
