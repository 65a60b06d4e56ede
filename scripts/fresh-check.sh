#!/usr/bin/env bash
# scripts/fresh-check.sh — `make fresh-check`: the README's promise checked on
# a bare Debian 12. A container of Debian 12 minbase with only what a person
# needs to clone and type make (ca-certificates, git, make; scripts/base-image.sh,
# built from Debian's packages, cached) gets a fresh clone of this repository's
# committed HEAD (a git bundle) and runs `make run`, then `make test`, whole:
# every toolchain, library and server is installed by the project's scripts
# from the package registries, nothing comes from this host.
#
# The registries are reached the way this host reaches them: its package-client
# configuration (apt sources and Acquire options, pip.conf and PIP_* settings,
# npmrc, Go's env file, Maven's settings, the CA certificates it trusts) is
# mounted read-only at run time, never baked into an image.
#
# The container has its own network namespace (podman's bridge), so its stack
# listens on the default ports without touching this host's stacks; when the
# bridge cannot reach the registries, the check says so and stops (on the host
# network it would need the host stack stopped: set MCLOUD_FRESH_NETWORK=host).
#
# make test builds the service images and runs containers (the orchestrator's
# tests), so the container is privileged and podman runs nested inside it (vfs
# storage on the container's own root, cgroupfs, runc: what bootstrap writes);
# the phase "nested podman" inside proves it before make test relies on it.
#
# Each phase's time is printed; the check fails when a phase fails or a host-only
# toolchain was within reach (/usr/local/go, a node the project did not install).
#
# usage: scripts/fresh-check.sh        (make fresh-check; about an hour)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MCLOUD_LOG_PREFIX=fresh-check
root=$(cd "$MCLOUD_SCRIPTS/.." && pwd)
cd "$root"

image_name=mcloud-fresh
image=localhost/$image_name:latest
container=mcloud-fresh-check-$$
network=${MCLOUD_FRESH_NETWORK:-bridge}
have podman || die "podman not installed: run scripts/bootstrap.sh"
git rev-parse --verify -q HEAD >/dev/null || die "no commit to check in $root"

started=$SECONDS
phases=()
phase_done() { phases+=("$(printf '%-28s %6ss' "$1" "$2")"); log "phase '$1' took $2 s"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/mcloud-fresh.XXXXXX")
# where a failed make test leaves its logs (the container goes with the check)
keep=${MCLOUD_FRESH_KEEP:-$HOME/.mcloud/fresh-check-logs/$(date -u +%Y%m%d-%H%M%S)-$$}
mkdir -p "$keep"
cleanup() {
  podman rm -f -t 10 "$container" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the image: bare Debian 12 ----------------------------------------------
t0=$SECONDS
scripts/base-image.sh --minbase --include ca-certificates,git,make "$image_name"
phase_done "image (base-image.sh)" $((SECONDS - t0))

# ---- the committed tree --------------------------------------------------------
t0=$SECONDS
branch=$(git rev-parse --abbrev-ref HEAD) refs=(HEAD)
if [[ $branch == HEAD ]]; then branch=; else refs+=("$branch"); fi
[[ -z $(git status --porcelain --untracked-files=no) ]] || warn "uncommitted changes are not checked: the clone is of HEAD $(git rev-parse --short HEAD)"
git bundle create -q "$work/mcloud.bundle" "${refs[@]}" || die "git bundle create failed"
cp "$MCLOUD_SCRIPTS/fresh-check-inside.sh" "$work/inside.sh"
log "checking ${branch:-HEAD} at $(git rev-parse --short HEAD) ($(git log -1 --format=%s | cut -c1-60))"
phase_done "bundle of HEAD" $((SECONDS - t0))

# ---- the host's package-client configuration, read-only ---------------------------
mounts=() envs=()
mount_ro() { [[ -e $1 ]] && mounts+=(-v "$1:${2:-$1}:ro") || true; }
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources /etc/apt/apt.conf.d/*; do
  [[ -f $f ]] && mount_ro "$f"
done
mount_ro /etc/pip.conf
mount_ro /etc/npmrc
mount_ro /usr/etc/npmrc
mount_ro "$HOME/.npmrc" /root/.npmrc
mount_ro "$HOME/.config/pip/pip.conf" /root/.config/pip/pip.conf
mount_ro "$HOME/.config/go/env" /root/.config/go/env
mount_ro "$HOME/.m2/settings.xml" /root/.m2/settings.xml
# the CAs this host adds to Debian's (e.g. a proxy's); the container adds them
# to its own trust store with update-ca-certificates before anything else
mount_ro /usr/local/share/ca-certificates /mcloud-host/ca-certificates
# npm reads its global configuration from its own prefix (the node bootstrap
# installs has another than this host's), so it is pointed at the host's
[[ -f /etc/npmrc ]] && envs+=(-e NPM_CONFIG_GLOBALCONFIG=/etc/npmrc)
# pip/npm/Go settings given as environment variables; PIP_FIND_LINKS names a
# directory of this host, so it stays here
while IFS='=' read -r name _; do
  case $name in
    PIP_FIND_LINKS) ;;
    PIP_*|NPM_CONFIG_*|npm_config_*|GOPROXY|GOSUMDB|GONOSUMDB|GOPRIVATE|GOINSECURE|http_proxy|https_proxy|no_proxy|HTTP_PROXY|HTTPS_PROXY|NO_PROXY)
      envs+=(-e "$name") ;;
  esac
done < <(env)
log "host configuration mounted read-only: $(( ${#mounts[@]} / 2 )) files/directories; environment: ${envs[*]//-e /}"

# ---- network ------------------------------------------------------------------------
# runc cannot raise limits above this host's hard ones (containers.conf may ask more)
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit "nproc=4096:4096")
case $network in
  bridge)
    t0=$SECONDS
    if ! podman run --rm "${limits[@]}" "${mounts[@]}" "$image" bash -c \
         'timeout 20 bash -c "exec 3<>/dev/tcp/deb.debian.org/80" && timeout 20 bash -c "exec 3<>/dev/tcp/pypi.org/443"' >/dev/null 2>&1; then
      die "the registries are not reachable from podman's bridge network here; MCLOUD_FRESH_NETWORK=host runs the check on the host network, which needs the host stack stopped (scripts/stack.sh down): its servers use the default ports"
    fi
    log "network: a private network namespace (podman bridge) reaches the registries"
    netopt=(--network bridge)
    phase_done "network probe" $((SECONDS - t0)) ;;
  host)
    for p in 13306 13307 16379 19092 19093 19000 19001 18080 18081 18082 18083; do
      port_open "$p" 127.0.0.1 && die "port $p is in use: on the host network the check needs the host stack stopped (scripts/stack.sh down)"
    done
    warn "network: the host's (default ports 13306, 16379, 19092, 19000, 18080-18083 must stay free until the check ends)"
    netopt=(--network host) ;;
  *) die "MCLOUD_FRESH_NETWORK must be bridge or host (got '$network')" ;;
esac

# ---- make run, make test ------------------------------------------------------------
log "running the fresh clone's make run and make test in $container (this takes about an hour)"
rc=0 t0=$SECONDS
podman run --rm --name "$container" --privileged "${netopt[@]}" "${limits[@]}" --shm-size=1g \
  "${mounts[@]}" "${envs[@]}" -v "$work:/mcloud-fresh:ro" -v "$keep:/mcloud-keep" \
  -e MCLOUD_FRESH_BRANCH="$branch" -e MCLOUD_FRESH_KEEP="$keep" \
  "$image" bash /mcloud-fresh/inside.sh || rc=$?

phase_done "container (clone, run, test)" $((SECONDS - t0))
printf '\n==> fresh-check phases (host side)\n'
printf '  %s\n' "${phases[@]}"
if [[ $rc -ne 0 ]]; then
  [[ -s $keep/logs.tar.gz ]] && printf '==> logs of the failed run: %s/logs.tar.gz\n' "$keep"
  printf '==> fresh-check FAILED (exit %s)\n' "$rc"
  exit "$rc"
fi
rmdir "$keep" 2>/dev/null || true
printf '==> fresh-check passed in %s s: a bare Debian 12 ran make run and make test\n' $((SECONDS - started))
