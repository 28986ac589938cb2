#!/usr/bin/env bash
# Builds bmlocal's training images on a machine with no container registry:
#   1. bmlocal/base:bookworm  (docker/base.sh: debootstrap from Debian's packages)
#   2. bmlocal/train:cpu      (docker/Dockerfile.cpu) from a build context assembled here in a
#                             temp dir: the Dockerfile and every wheel it installs, so the
#                             build itself is offline.
#      or, with --cuda (`make images-cuda`),
#      bmlocal/train:cuda     (docker/Dockerfile.cuda): the same, with the default Linux
#                             torch==2.13.0 wheel of the Python registry (the CUDA build) and
#                             its nvidia-* wheels; those (~2.6 GB) are kept in
#                             $BMLOCAL_CACHE/wheels-cuda and hard-linked into the context;
#                             horovod built with NCCL (scripts/build-horovod-nccl.sh, once,
#                             where a CUDA 13.0 nvcc is found; BMLOCAL_HOROVOD_NCCL=0: never),
#                             else the CPU image's Gloo build. The image's label
#                             bmlocal.horovod says which.
# Work already done is skipped: the base image carries a label bmlocal.base-key (hash of
# docker/base.sh), the train image a label bmlocal.build-key, a hash of the Dockerfile, the
# names of the wheels (+ the horovod wheel's content) and the base image's id; same key, no
# build.
#
# Needs: a Docker engine (DOCKER_HOST, default: the one of scripts/dockerd.sh), root for the
# base image, a Python 3 with pip (to download wheels; the wheels are always for CPython 3.11
# on x86_64, what the base image has), and the horovod wheel built for torch 2.13.0 in
# ${BMLOCAL_CACHE:-/var/cache/bmlocal}/wheels/horovod-*.whl.
#
# Env: BMLOCAL_CACHE, BMLOCAL_PYTHON (interpreter used for `pip download`),
#      BMLOCAL_REBUILD=1 (rebuild both images), BMLOCAL_TRAIN_IMAGE (default bmlocal/train:cpu).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BMLOCAL_CACHE:-/var/cache/bmlocal}"
FLAVOUR=cpu
[[ "${1:-}" == --cuda ]] && FLAVOUR=cuda
IMAGE="${BMLOCAL_TRAIN_IMAGE:-bmlocal/train:$FLAVOUR}"
DOCKERFILE="$ROOT/docker/Dockerfile.$FLAVOUR"
# What the image installs (the Dockerfile names the same packages).
REQUIREMENTS=(torch==2.13.0 numpy paddlepaddle)

log() { echo "build-images: $*" >&2; }
die() { log "error: $*"; exit 1; }
T_START=$SECONDS
declare -a TIMINGS=()
timed() {  # timed LABEL CMD...: run CMD, record how long it took
    local label="$1" t0=$SECONDS rc=0; shift
    "$@" || rc=$?
    TIMINGS+=("$(printf '%-28s %4ds%s' "$label" $((SECONDS - t0)) "$([[ $rc == 0 ]] || echo " (failed: $rc)")")")
    return "$rc"
}
report() {
    local rc=$?
    if ((${#TIMINGS[@]})); then
        log "timings:"
        printf '  %s\n' "${TIMINGS[@]}" "$(printf '%-28s %4ds' total $((SECONDS - T_START)))" >&2
    fi
    [[ -n "${CTX:-}" ]] && rm -rf "$CTX"
    exit "$rc"
}
trap report EXIT

if [[ -z "${DOCKER_HOST:-}" && -S /run/bmlocal-ci/docker.sock ]]; then
    export DOCKER_HOST=unix:///run/bmlocal-ci/docker.sock
fi
docker version >/dev/null 2>&1 \
    || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); run scripts/dockerd.sh start"

# --- 1. base image -----------------------------------------------------------------------
timed "base image" "$ROOT/docker/base.sh"
BASE_ID="$(docker image inspect -f '{{.Id}}' bmlocal/base:bookworm)"

# --- 2. wheels ---------------------------------------------------------------------------
shopt -s nullglob
hvd=("$CACHE"/wheels/horovod-*.whl)
shopt -u nullglob
if ((${#hvd[@]} == 0)); then
    die "no horovod wheel in $CACHE/wheels (horovod-*.whl): build it first (RECIPES.md, \"Horovod\": pip wheel against torch==2.13.0, kept in \$BMLOCAL_CACHE/wheels)"
fi
HOROVOD_WHEEL="$(printf '%s\n' "${hvd[@]}" | sort -V | tail -n 1)"
HOROVOD_KIND=gloo
if [[ "$FLAVOUR" == cuda && "${BMLOCAL_HOROVOD_NCCL:-1}" == 1 ]]; then
    # horovod with NCCL where this machine can build it (a CUDA 13.0 nvcc): once, cached
    timed "horovod with NCCL" "$ROOT/scripts/build-horovod-nccl.sh" \
        || log "horovod without NCCL in $IMAGE: its build failed (above); the Gloo build instead"
    shopt -s nullglob
    nccl=("$CACHE"/wheels-cuda/horovod-nccl/horovod-*.whl)
    shopt -u nullglob
    if ((${#nccl[@]})); then HOROVOD_WHEEL="${nccl[0]}"; HOROVOD_KIND=nccl; fi
fi
log "horovod wheel: $HOROVOD_WHEEL"

pick_python() {
    local c
    for c in "${BMLOCAL_PYTHON:-}" "$ROOT/.venv/bin/python" python3.11 python3; do
        [[ -n "$c" ]] || continue
        command -v "$c" >/dev/null 2>&1 || continue
        "$c" -m pip --version >/dev/null 2>&1 && { echo "$c"; return 0; }
    done
    return 1
}
PY="$(pick_python)" || die "no Python with pip found (set BMLOCAL_PYTHON)"

CTX="$(mktemp -d /var/tmp/bmlocal-train-ctx.XXXXXX)"
mkdir -p "$CTX/wheels"
cp "$DOCKERFILE" "$CTX/Dockerfile"
cp "$HOROVOD_WHEEL" "$CTX/wheels/"

# Wheels for the image's interpreter (CPython 3.11, glibc 2.36, x86_64), whatever the host's
# own Python is. torch==2.13.0 (+cpu) comes from this machine's disk through pip's config.
platforms=()
for m in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${m}_x86_64"); done
platforms+=(--platform manylinux2014_x86_64 --platform manylinux2010_x86_64
            --platform manylinux1_x86_64 --platform linux_x86_64)
download() {
    "$PY" -m pip download --disable-pip-version-check --progress-bar off -q \
        --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
        "${platforms[@]}" -d "$CTX/wheels" \
        "${REQUIREMENTS[@]}" "$CTX/wheels/$(basename "$HOROVOD_WHEEL")" \
        2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
}
# The CUDA wheels: --isolated, so that pip's configuration on this machine (the CPU torch
# on disk, its version cap) does not apply; kept in the cache (pip reuses a file already
# there) and hard-linked into the context (same file system), copied where links fail.
download_cuda() {
    local list
    mkdir -p "$CACHE/wheels-cuda"
    list="$("$PY" -m pip download --isolated --disable-pip-version-check --progress-bar off \
        --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \
        "${platforms[@]}" -d "$CACHE/wheels-cuda" \
        "${REQUIREMENTS[@]}" "$CTX/wheels/$(basename "$HOROVOD_WHEEL")")" \
        || { echo "$list" | tail -n 20 >&2; return 1; }
    echo "$list" | sed -n 's/^ *\(Saved\|File was already downloaded\) \(.*\.whl\)$/\2/p' \
        | while read -r wheel; do
            # horovod: the context has it already (pip may name a stale copy of the cache)
            [[ "$wheel" == "$CTX"/* || "${wheel##*/}" == horovod-* ]] && continue
            ln -f "$wheel" "$CTX/wheels/" 2>/dev/null || cp "$wheel" "$CTX/wheels/"
        done
}
if [[ "$FLAVOUR" == cuda ]]; then
    timed "download wheels" download_cuda
    want="torch-2.13.0-*.whl"
else
    timed "download wheels" download
    want="torch-2.13.0+cpu-*.whl"
fi
# (the timings' total also counts copying the context and the engine's checks)
shopt -s nullglob
# shellcheck disable=SC2206  # a glob on purpose
torch_wanted=("$CTX"/wheels/$want)
torch_any=("$CTX"/wheels/torch-*.whl)
shopt -u nullglob
((${#torch_wanted[@]})) \
    || die "pip did not take the $FLAVOUR build of torch 2.13.0 (got: ${torch_any[*]##*/}); the CPU one lies on this machine's disk (pip's find-links), the CUDA one is the registry's default"
log "context: $(ls "$CTX/wheels" | wc -l) wheels, $(du -sh "$CTX" | cut -f1)"

# --- 3. train image ----------------------------------------------------------------------
# (horovod is built locally: its name alone does not say what is in it, so its content counts)
KEY="$( { cat "$DOCKERFILE"; ls "$CTX/wheels" | LC_ALL=C sort; echo "$BASE_ID";
          sha256sum <"$HOROVOD_WHEEL"; } | sha256sum | cut -c1-16)"
have="$(docker image inspect -f '{{ index .Config.Labels "bmlocal.build-key" }}' "$IMAGE" 2>/dev/null || true)"
if [[ "$have" == "$KEY" && "${BMLOCAL_REBUILD:-0}" != 1 ]]; then
    log "$IMAGE is up to date (key $KEY): skipped"
else
    old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
    # Classic builder: works with every client and daemon version found here (the docker 28
    # client has no buildx plugin; BuildKit would need it). The Dockerfile works with both.
    timed "docker build $IMAGE" env DOCKER_BUILDKIT=0 docker build --rm --force-rm \
        --label "bmlocal.build-key=$KEY" --label "bmlocal.horovod=$HOROVOD_KIND" \
        -t "$IMAGE" -f "$CTX/Dockerfile" "$CTX"
    cleanup_images() {
        # The build stage (wheels + venv) is only a means: drop it, and the image this replaced.
        docker image prune -f --filter label=bmlocal.stage=build >/dev/null || true
        local new_id=""
        new_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
        if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
            docker rmi "$old_id" >/dev/null 2>&1 || true
        fi
        # a base image that was replaced and is now unused
        docker image prune -f --filter label=bmlocal.base-key >/dev/null || true
    }
    timed "remove replaced images" cleanup_images
fi
size="$(docker image inspect -f '{{.Size}}' "$IMAGE")"
log "$IMAGE: $(numfmt --to=iec "$size") ($(docker image inspect -f '{{.Id}}' "$IMAGE" | cut -c1-19))"
