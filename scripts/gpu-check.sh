#!/usr/bin/env bash
# One command for a machine with NVIDIA GPUs, their driver and the NVIDIA container toolkit:
# checks bmlocal's GPU path end to end and prints the figures of the CPU benchmarks.
#
#   scripts/gpu-check.sh
#
# 1. preconditions: nvidia-smi sees a GPU; the Docker engine (DOCKER_HOST, or the default
#    socket) can give one to a container; bmlocal/train:cuda (built by `make images-cuda`
#    if missing); nvidia-ml-py in .venv, so that bmlocal finds the GPUs through NVML; a
#    venv with the CUDA torch for DEFAULT jobs ($BMLOCAL_CACHE/gpu-venv, from the wheels
#    that `make images-cuda` keeps).
# 2. scripts/gpu_check.py: starts bmlocal (the GPUs found by NVML) and runs a 1-GPU job
#    (CCR and DEFAULT), a DDP job over NCCL of 2 nodes with one GPU each (CCR and DEFAULT;
#    one node where the machine has one GPU), a job asking more GPUs than exist (refused),
#    two jobs queued on the same GPUs; then create -> RUNNING against plain `docker run`, and
#    DDP steps/s against plain torchrun on the same GPUs.
# Exits 2, saying why, on a machine without an NVIDIA GPU; 1 when a check fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BMLOCAL_CACHE:-/var/cache/bmlocal}"
IMAGE=bmlocal/train:cuda
PY="$ROOT/.venv/bin/python"

log() { echo "gpu-check: $*" >&2; }
no_gpu() {
    log "error: no NVIDIA GPU here: $*"
    log "this check needs a machine with NVIDIA GPUs, their driver and the NVIDIA container toolkit; nothing was run"
    exit 2
}

# --- 1. preconditions ----------------------------------------------------------------------
command -v nvidia-smi >/dev/null 2>&1 || no_gpu "nvidia-smi is not installed (no NVIDIA driver)"
gpus="$(nvidia-smi --query-gpu=index,name --format=csv,noheader 2>/dev/null || true)"
[[ -n "$gpus" ]] || no_gpu "nvidia-smi lists no GPU"
log "GPUs:"; sed 's/^/  /' <<<"$gpus" >&2

[[ -x "$PY" ]] || make -C "$ROOT" venv
docker version >/dev/null 2>&1 || { log "error: no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset})"; exit 1; }
docker image inspect "$IMAGE" >/dev/null 2>&1 || make -C "$ROOT" images-cuda
if ! docker run --rm --gpus device=0 "$IMAGE" python -c \
        "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" >/dev/null; then
    log "error: the Docker engine cannot give a GPU to a container: install the NVIDIA container toolkit (nvidia-ctk runtime configure --runtime=docker) and restart the engine"
    exit 1
fi
"$PY" -c "import pynvml" 2>/dev/null || "$ROOT/.venv/bin/pip" install -q nvidia-ml-py

GPU_VENV="$CACHE/gpu-venv"
if ! "$GPU_VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    log "making $GPU_VENV (torch with CUDA, for DEFAULT jobs) from $CACHE/wheels-cuda"
    "$PY" -m venv "$GPU_VENV"  # the project's Python: the cached wheels are for its version
    "$GPU_VENV/bin/pip" install -q --isolated --find-links "$CACHE/wheels-cuda" torch==2.13.0 numpy
fi

# --- 2. the checks -------------------------------------------------------------------------
exec "$PY" "$ROOT/scripts/gpu_check.py" --image "$IMAGE" --gpu-venv "$GPU_VENV"
