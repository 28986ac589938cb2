#!/usr/bin/env bash
# Makes the base image bmlocal/base:bookworm from Debian's packages with debootstrap
# (no container registry is needed; see ../shared/docs/RECIPES.md, "Docker engine").
#
# The mirror is read at build time from the first `URIs:` line of
# /etc/apt/sources.list.d/debian.sources (or BMLOCAL_DEBIAN_MIRROR); no mirror address is
# written into this project or left in the image (the image has no apt sources: a derived
# image that needs apt brings its own).
#
# Skips the work when the image exists and was made by this very script (label
# bmlocal.base-key, a hash of this file: any edit rebuilds); BMLOCAL_REBUILD=1 forces it.
# python3-pip is left out on purpose: the venv of the images bootstraps its own pip. Needs root (debootstrap) and a Docker engine
# (DOCKER_HOST; defaults to the private one started by scripts/dockerd.sh).
set -euo pipefail

IMAGE="${BMLOCAL_BASE_IMAGE:-bmlocal/base:bookworm}"
SUITE=bookworm
# What training code needs at run time besides the wheels: python3.11 with venv/ensurepip,
# CA bundle (pip/https from inside jobs), OpenMP runtime (paddle), and a few tools that
# launchers and job scripts commonly use; tini as PID 1 (signals to the whole job).
PACKAGES=(
    python3-minimal python3-venv
    ca-certificates
    libgomp1
    procps
    tini
)

log() { echo "base.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ -z "${DOCKER_HOST:-}" && -S /run/bmlocal-ci/docker.sock ]]; then
    export DOCKER_HOST=unix:///run/bmlocal-ci/docker.sock
fi
docker version >/dev/null 2>&1 || die "no Docker engine answers (DOCKER_HOST=${DOCKER_HOST:-unset}); run scripts/dockerd.sh start"

KEY="$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)"   # any change to this script rebuilds
if [[ "${BMLOCAL_REBUILD:-0}" != 1 ]]; then
    have="$(docker image inspect -f '{{ index .Config.Labels "bmlocal.base-key" }}' "$IMAGE" 2>/dev/null || true)"
    if [[ "$have" == "$KEY" ]]; then
        log "$IMAGE is up to date (key $KEY): skipped"
        exit 0
    fi
fi

[[ "$(id -u)" == 0 ]] || die "debootstrap needs root"

mirror="${BMLOCAL_DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    src=/etc/apt/sources.list.d/debian.sources
    [[ -r "$src" ]] || die "$src is missing; set BMLOCAL_DEBIAN_MIRROR"
    mirror="$(awk '/^[[:space:]]*URIs:/ {print $2; exit}' "$src")"
    [[ -n "$mirror" ]] || die "no URIs: line in $src; set BMLOCAL_DEBIAN_MIRROR"
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    export DEBIAN_FRONTEND=noninteractive
    apt=(apt-get -y -q -o DPkg::Lock::Timeout=600)
    apt-cache show debootstrap >/dev/null 2>&1 || "${apt[@]}" update </dev/null >&2
    "${apt[@]}" install --no-install-recommends debootstrap </dev/null >&2
fi

work="$(mktemp -d /var/tmp/bmlocal-base.XXXXXX)"
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
rootfs="$work/rootfs"

t0=$SECONDS
include="$(IFS=,; echo "${PACKAGES[*]}")"
log "debootstrap $SUITE (minbase + $include)"
if ! debootstrap --variant=minbase --include="$include" "$SUITE" "$rootfs" "$mirror" \
        >"$work/debootstrap.log" 2>&1; then
    tail -n 40 "$work/debootstrap.log" >&2
    [[ -r "$rootfs/debootstrap/debootstrap.log" ]] && tail -n 40 "$rootfs/debootstrap/debootstrap.log" >&2
    die "debootstrap failed"
fi
log "debootstrap took $((SECONDS - t0))s"

# Slim it down and leave nothing host-specific (mirror, caches, machine identity).
rm -f "$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/etc/apt/sources.list.d/* \
       "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
       "$rootfs"/var/cache/debconf/*-old "$rootfs"/var/lib/dpkg/*-old \
       "$rootfs"/var/log/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/lintian \
       "$rootfs"/tmp/* "$rootfs"/var/tmp/* "$rootfs"/root/.cache
: >"$rootfs/etc/machine-id"
printf 'localhost\n' >"$rootfs/etc/hostname"
# apt in derived images: no docs, no recommends
mkdir -p "$rootfs/etc/dpkg/dpkg.cfg.d" "$rootfs/etc/apt/apt.conf.d"
printf 'path-exclude /usr/share/doc/*\npath-exclude /usr/share/man/*\npath-exclude /usr/share/info/*\n' \
    >"$rootfs/etc/dpkg/dpkg.cfg.d/01-bmlocal-nodoc"
printf 'APT::Install-Recommends "false";\n' >"$rootfs/etc/apt/apt.conf.d/01-bmlocal-norecommends"

old_id="$(docker image inspect -f '{{.Id}}' "$IMAGE" 2>/dev/null || true)"
t1=$SECONDS
tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change "LABEL bmlocal.base-key=$KEY" \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$IMAGE" >/dev/null
new_id="$(docker image inspect -f '{{.Id}}' "$IMAGE")"
if [[ -n "$old_id" && "$old_id" != "$new_id" ]]; then
    docker rmi "$old_id" >/dev/null 2>&1 || true   # the image this replaced, unless in use
fi
log "imported $IMAGE in $((SECONDS - t1))s ($(docker image inspect -f '{{.Size}}' "$IMAGE" | numfmt --to=iec)), total $((SECONDS - t0))s"
