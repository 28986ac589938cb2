#!/usr/bin/env bash
# Install PaddlePaddle (CPU) and Horovod 0.28.1 (PyTorch + Gloo) into VENV_DIR.
#
# Idempotent. Horovod 0.28.1 is source-only and needs patching to build against
# torch 2.13 (C++17, Debian's cmake 3.x rather than pip's 4.x): see
# shared/docs/RECIPES.md. The built wheel is kept in
# ${BMLOCAL_CACHE:-/var/cache/bmlocal}/wheels/ so later runs skip the compile.
# Non-interactive: safe with CI=true and no stdin; needs root only to apt-get.
set -euo pipefail

PADDLE_SPEC="${PADDLE_SPEC:-paddlepaddle==3.3.1}"
HOROVOD_VERSION=0.28.1
TORCH_SPEC="torch==2.13.0"

log() { echo "install-frameworks: $*"; }
die() { echo "install-frameworks: error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 VENV_DIR"
VENV="$(cd "$1" && pwd)" || die "no such venv: $1"
PY="$VENV/bin/python"
[[ -x "$PY" ]] || die "$PY not found"
WHEELS="${BMLOCAL_CACHE:-/var/cache/bmlocal}/wheels"

TMP_DIRS=()
trap 'rm -rf "${TMP_DIRS[@]}"' EXIT

export PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 DEBIAN_FRONTEND=noninteractive
pip_install() { "$PY" -m pip install --quiet "$@"; }
has() { "$PY" -c "import $1" >/dev/null 2>&1; }

ensure_torch() {
    has torch && return
    log "installing $TORCH_SPEC (needed to build horovod.torch)"
    pip_install "$TORCH_SPEC" numpy
}

ensure_paddle() {
    if has paddle; then log "paddle: already installed"; return; fi
    log "paddle: installing $PADDLE_SPEC"
    pip_install "$PADDLE_SPEC"
}

cmake_ok() {
    local v
    v="$(/usr/bin/cmake --version 2>/dev/null | sed -n 's/^cmake version \([0-9]*\)\..*/\1/p')"
    [[ "$v" == 3 ]]
}

python_headers_ok() {
    local inc
    inc="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    [[ -f "$inc/Python.h" ]]
}

ensure_build_tools() {
    local pkgs=()
    cmake_ok || pkgs+=(cmake)
    [[ -x /usr/bin/g++ ]] || pkgs+=(g++)
    python_headers_ok || pkgs+=(python3-dev)
    [[ ${#pkgs[@]} -eq 0 ]] && return
    log "apt: installing ${pkgs[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    cmake_ok || die "Debian's cmake 3.x is needed at /usr/bin/cmake"
}

cached_wheel() {
    compgen -G "$WHEELS/horovod-$HOROVOD_VERSION-*.whl" | head -n 1 || true
}

build_horovod_wheel() {
    local tmp src start
    ensure_build_tools
    tmp="$(mktemp -d)"
    TMP_DIRS+=("$tmp")
    log "horovod: downloading the $HOROVOD_VERSION source"
    "$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$tmp" "horovod==$HOROVOD_VERSION"
    tar -xzf "$tmp/horovod-$HOROVOD_VERSION.tar.gz" -C "$tmp"
    src="$tmp/horovod-$HOROVOD_VERSION"
    sed -i 's/set(CMAKE_CXX_STANDARD 14)/set(CMAKE_CXX_STANDARD 17)/' \
        "$src/CMakeLists.txt" "$src/horovod/torch/CMakeLists.txt"
    log "horovod: compiling (about 2 minutes on 2 cores)"
    start=$SECONDS
    PATH="/usr/bin:$PATH" MAKEFLAGS="-j$(( $(nproc) + 1 ))" \
    HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
    HOROVOD_WITHOUT_TENSORFLOW=1 HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITHOUT_GPU=1 \
        "$PY" -m pip wheel --quiet --no-cache-dir --no-build-isolation --no-deps \
        -w "$tmp/out" "$src" > "$tmp/build.log" 2>&1 \
        || { tail -n 40 "$tmp/build.log" >&2; die "horovod build failed"; }
    local whl
    mkdir -p "$WHEELS"
    # copy then rename: a concurrent run never sees a half-written wheel
    whl="$(basename "$tmp"/out/horovod-*.whl)"
    cp "$tmp/out/$whl" "$WHEELS/.$whl.part"
    mv -f "$WHEELS/.$whl.part" "$WHEELS/$whl"
    log "horovod: built $WHEELS/$whl in $(( SECONDS - start )) s"
}

install_cached_horovod() {
    local whl
    whl="$(cached_wheel)"
    [[ -n "$whl" ]] || return 1
    log "horovod: installing cached wheel $whl"
    pip_install --force-reinstall --no-deps "$whl"
    pip_install "$whl"   # its own dependencies (cloudpickle, psutil, pyyaml, ...)
    has horovod.torch
}

ensure_horovod() {
    if has horovod.torch; then log "horovod: already installed"; return; fi
    if install_cached_horovod; then return; fi
    if [[ -n "$(cached_wheel)" ]]; then
        log "horovod: the cached wheel does not load here, rebuilding"
        rm -f "$WHEELS/horovod-$HOROVOD_VERSION-"*.whl
    fi
    build_horovod_wheel
    install_cached_horovod || die "horovod.torch does not import after install"
}

ensure_torch
ensure_paddle
ensure_horovod
versions='import torch, paddle, horovod as h
print(f"torch {torch.__version__}, paddle {paddle.__version__}, horovod {h.__version__}")'
log "done: $("$PY" -c "$versions" 2>/dev/null)"
