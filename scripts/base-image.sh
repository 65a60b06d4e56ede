#!/usr/bin/env bash
# scripts/base-image.sh — makes a local Debian 12 (bookworm) base image from
# Debian's own packages: mmdebstrap builds the root filesystem, `podman import`
# turns it into localhost/NAME:latest. No image registry is needed (none is
# reachable from our machines); elsewhere the Dockerfiles use debian:bookworm-slim.
#
# Debian is reached the way this host reaches it: the host's apt sources and its
# Acquire::* settings are given to mmdebstrap for the build only. The image
# carries Debian's standard sources (deb.debian.org) and none of the host's
# apt configuration.
#
# Cached: the image gets the label org.mcloud.base.hash = sha256 of this script
# and its arguments; an image with the same hash is kept (a rerun takes about a
# second). --force rebuilds anyway (e.g. to pick up Debian security updates).
#
# usage: scripts/base-image.sh [--minbase] [--include pkg,pkg] [--force] NAME
#   --minbase   mmdebstrap's minbase variant (essential + apt), else "apt"
#   --include   extra packages, comma separated (repeatable)
#   NAME        image name: builds localhost/NAME:latest
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MCLOUD_LOG_PREFIX=base-image

usage() { sed -n '16,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }

variant=apt include=() force=0 name=
while [[ $# -gt 0 ]]; do
  case $1 in
    --minbase) variant=minbase ;;
    --include) [[ $# -ge 2 ]] || die "--include needs a package list (pkg,pkg)"; include+=("$2"); shift ;;
    --include=*) include+=("${1#--include=}") ;;
    --force) force=1 ;;
    -h|--help) usage ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $name ]] || die "one image NAME only (got '$name' and '$1')"; name=$1 ;;
  esac
  shift
done
[[ -n $name ]] || usage
[[ $name =~ ^[a-z0-9][a-z0-9._-]*$ ]] || die "NAME '$name' is not a valid image name (lowercase letters, digits, . _ -)"
have podman || die "podman not installed: run scripts/bootstrap.sh (apt step)"
have mmdebstrap || die "mmdebstrap not installed: run scripts/bootstrap.sh (apt step) or apt-get install mmdebstrap"

packages=$(IFS=,; echo "${include[*]}" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
for p in ${packages//,/ }; do
  [[ $p =~ ^[a-z0-9][a-z0-9.+-]*$ ]] || die "--include: '$p' is not a Debian package name"
done
image=localhost/$name:latest
hash=$( { cat "${BASH_SOURCE[0]}"; printf 'variant=%s\ninclude=%s\n' "$variant" "$packages"; } | sha256sum | cut -c1-64)

if [[ $force -eq 0 ]]; then
  have_hash=$(podman image inspect --format '{{index .Labels "org.mcloud.base.hash"}}' "$image" 2>/dev/null || true)
  if [[ $have_hash == "$hash" ]]; then
    log "$image is up to date (hash ${hash:0:12}); --force rebuilds it"
    exit 0
  fi
fi

# The host's way to Debian, for this build only: its sources and Acquire:: options.
mirrors=()
[[ -s /etc/apt/sources.list ]] && grep -qE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list && mirrors+=(/etc/apt/sources.list)
for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [[ -f $f ]] || continue
  grep -qE 'debian(-security)?([/[:space:]]|$)' "$f" || continue   # Debian archives only
  mirrors+=("$f")
done
[[ ${#mirrors[@]} -gt 0 ]] || mirrors=(http://deb.debian.org/debian)
aptopts=()
for f in /etc/apt/apt.conf.d/*; do
  [[ -f $f ]] && grep -q '^[[:space:]]*Acquire' "$f" && aptopts+=(--aptopt="$f")
done

work=$(mktemp -d "${TMPDIR:-/tmp}/mcloud-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
# What the image keeps: Debian's public archives, nothing of this host.
cat >"$work/debian.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF

start=$SECONDS
log "building $image: mmdebstrap --variant=$variant bookworm${packages:+ +$packages} (sources: ${mirrors[*]})"
mmdebstrap --variant="$variant" --mode=auto --format=tar \
  ${packages:+--include="$packages"} "${aptopts[@]}" \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --customize-hook='rm -f "$1"/etc/apt/apt.conf.d/99mmdebstrap "$1"/etc/apt/sources.list "$1"/etc/apt/sources.list.d/*' \
  --customize-hook="upload $work/debian.sources /etc/apt/sources.list.d/debian.sources" \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/var/log/dpkg.log' \
  bookworm "$work/rootfs.tar" "${mirrors[@]}" >"$work/mmdebstrap.log" 2>&1 \
  || { tail -30 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed (log above)"; }

podman import --quiet \
  --change "LABEL org.mcloud.base.hash=$hash" \
  --change "LABEL org.opencontainers.image.title=$name" \
  --change "LABEL org.opencontainers.image.description=Debian 12 bookworm ($variant${packages:+, +$packages}) made by mcloud scripts/base-image.sh" \
  --change "LABEL org.opencontainers.image.base.name=debian:bookworm" \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["/bin/bash"]' \
  "$work/rootfs.tar" "$image" >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$image")
log "built $image in $(elapsed "$start") ($((size / 1048576)) MiB, hash ${hash:0:12})"
