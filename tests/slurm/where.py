"""Says where this rank runs (its node rank, Slurm node and master address), then runs the
training script named first on the command line with the remaining arguments."""
import os
import runpy
import sys

print(f"where: node {os.environ.get('BML_NODE_RANK')} slurm-nodeid "
      f"{os.environ.get('SLURM_NODEID')} on {os.environ.get('SLURMD_NODENAME')} master "
      f"{os.environ.get('BML_MASTER_ADDR')}", flush=True)
sys.argv = sys.argv[1:]
sys.path.insert(0, os.path.dirname(os.path.abspath(sys.argv[0])))
runpy.run_path(sys.argv[0], run_name="__main__")
