#!/usr/bin/env bash
# Builds horovod 0.28.1 with NCCL (GPU all-reduce) for bmlocal/train:cuda, once, into
#   ${BMLOCAL_CACHE:-/var/cache/bmlocal}/wheels-cuda/horovod-nccl/horovod-0.28.1-*.whl
# (scripts/build-images.sh --cuda takes it from there; without it, the image has the Gloo
# build of the CPU image).
#
# Needs: a CUDA 13.0 toolkit with nvcc (HOROVOD_CUDA_HOME, default /usr/local/cuda-13.0: the
# torch 2.13.0 wheel is built for CUDA 13.0), cmake < 4 and g++ (Debian's), and the CUDA
# wheels that build-images.sh --cuda keeps in wheels-cuda/ (torch is installed from them
# into a temporary venv to build against; pip takes from PyPI what the cache lacks).
# Python: the project's venv's (CPython 3.11, as in the image). The fixes of RECIPES.md
# "Horovod" (C++17), plus C++17 for its CUDA kernels (CUDA 13's headers need it); kernels for
# compute capabilities $HOROVOD_BUILD_CUDA_CC_LIST (default 75,80,86,89,90,100,120: Turing to
# Blackwell). NCCL is linked from the nvidia-nccl wheel that torch itself loads.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BMLOCAL_CACHE:-/var/cache/bmlocal}"
WHEELS="$CACHE/wheels-cuda"
OUT="$WHEELS/horovod-nccl"
CUDA="${HOROVOD_CUDA_HOME:-/usr/local/cuda-13.0}"
PY="${BMLOCAL_PYTHON:-$ROOT/.venv/bin/python}"

log() { echo "build-horovod-nccl: $*" >&2; }
die() { log "error: $*"; exit 1; }

shopt -s nullglob
have=("$OUT"/horovod-0.28.1-*.whl)
shopt -u nullglob
if ((${#have[@]})); then log "${have[0]} is there: skipped"; exit 0; fi

[[ -x "$CUDA/bin/nvcc" ]] || die "no nvcc in $CUDA/bin (set HOROVOD_CUDA_HOME to a CUDA 13.0 toolkit)"
command -v cmake >/dev/null && command -v g++ >/dev/null || die "cmake and g++ are needed (apt-get install cmake g++)"

WORK="$(mktemp -d /var/tmp/bmlocal-hvd-nccl.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
log "build venv (torch 2.13.0 with CUDA, from $WHEELS)"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --isolated --disable-pip-version-check --find-links "$WHEELS" \
    torch==2.13.0 numpy setuptools wheel
SP="$("$WORK/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
ln -sf libnccl.so.2 "$SP/nvidia/nccl/lib/libnccl.so"  # the wheel has only the soname

"$PY" -m pip download -q --isolated --disable-pip-version-check horovod==0.28.1 --no-deps \
    --no-binary :all: -d "$WORK"
tar -C "$WORK" -xzf "$WORK/horovod-0.28.1.tar.gz"
SRC="$WORK/horovod-0.28.1"
sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 17)/' \
    "$SRC/CMakeLists.txt" "$SRC/horovod/torch/CMakeLists.txt"
sed -i 's/set(CMAKE_CUDA_STANDARD 11)/set(CMAKE_CUDA_STANDARD 17)/' \
    "$SRC/horovod/common/ops/cuda/CMakeLists.txt"

log "building (several minutes: its CUDA kernels for ${HOROVOD_BUILD_CUDA_CC_LIST:-75,80,86,89,90,100,120})"
t0=$SECONDS
mkdir -p "$OUT"
# CUDA_HOME: where torch's build helpers look for libcudart (else they guess from PATH)
(cd "$SRC" && env PATH="$WORK/venv/bin:$PATH" CUDA_HOME="$CUDA" HOROVOD_CUDA_HOME="$CUDA" \
    HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
    HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 \
    HOROVOD_GPU_OPERATIONS=NCCL HOROVOD_NCCL_LINK=SHARED \
    HOROVOD_NCCL_INCLUDE="$SP/nvidia/nccl/include" HOROVOD_NCCL_LIB="$SP/nvidia/nccl/lib" \
    HOROVOD_BUILD_CUDA_CC_LIST="${HOROVOD_BUILD_CUDA_CC_LIST:-75,80,86,89,90,100,120}" \
    MAKEFLAGS="-j$(nproc)" \
    "$WORK/venv/bin/pip" wheel -q --isolated --no-build-isolation --no-deps -w "$WORK/wheel" .)
"$WORK/venv/bin/pip" install -q --isolated --find-links "$WHEELS" "$WORK"/wheel/horovod-*.whl
"$WORK/venv/bin/python" -c "import horovod.torch as hvd; assert hvd.nccl_built(), 'no NCCL'" \
    || die "the wheel was built without NCCL"
mv "$WORK"/wheel/horovod-*.whl "$OUT/"
log "done in $((SECONDS - t0)) s: $(ls "$OUT")"
