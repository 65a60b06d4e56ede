#!/usr/bin/env bash
# scripts/images.sh — builds the mcloud service images with podman
# (`make images`): localhost/mcloud-<service>:latest and :<git revision> for
# upload, transcode, stream and api, from docker/Dockerfile on the local Debian base
# image (scripts/base-image.sh). Debian is reached through this host's apt
# configuration, mounted read-only for the build (docker/apt-install.sh).
# Cached: each image carries org.mcloud.inputs = sha256 of what its build
# reads (the build context minus .containerignore, the Dockerfile, the base
# image's id), and $MCLOUD_HOME/images/<service>-<inputs> names the image
# those inputs gave; an image whose inputs are unchanged is not rebuilt at all, so an
# unchanged tree takes seconds (podman's own layer cache still needs minutes
# here: vfs storage copies every intermediate image it mounts). A changed tree
# rebuilds through the layer cache: only the steps after the change run.
# The revision label is the commit the image was last built from.
# The build's RUN steps get nproc 4096 explicitly: runc cannot set the
# host's nproc (an older bootstrap wrote it into containers.conf).
#
# usage: scripts/images.sh [SERVICE...]      (default: upload transcode stream api)
#        scripts/images.sh --tag             print the tag this tree's images get (the
#                                            git revision; with local changes -dirty-<inputs>)
#   BASE=image   base image (default localhost/mcloud-base:latest, made here)
set -euo pipefail

# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MCLOUD_LOG_PREFIX=images
root=$(cd "$MCLOUD_SCRIPTS/.." && pwd)
ALL_SERVICES=(upload transcode stream api)
CONSOLE_FILES=(tus-js-client/dist/tus.min.js hls.js/dist/hls.min.js uplot/dist/uPlot.min.css uplot/dist/uPlot.iife.min.js)
print_tag=0
[[ ${1:-} == --tag ]] && { print_tag=1; shift; }
services=("$@")
[[ ${#services[@]} -gt 0 ]] || services=("${ALL_SERVICES[@]}")
for s in "${services[@]}"; do
  [[ " ${ALL_SERVICES[*]} " == *" $s "* ]] || die "unknown service '$s' (one of: ${ALL_SERVICES[*]})"
done
version=$(sed -n 's/^project(mcloud VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")
revision=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
tag=$(git -C "$root" rev-parse --short=12 HEAD 2>/dev/null || echo dev)
dirty=0
if [[ $revision != unknown ]] && [[ -n $(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  revision+=-dirty tag+=-dirty dirty=1
fi
have podman || die "podman not installed: run scripts/bootstrap.sh"
start=$SECONDS
BASE=${BASE:-localhost/mcloud-base:latest}
# (--tag only reads: it names what the last build made of this tree)
if [[ $BASE == localhost/mcloud-base:latest && $print_tag == 0 ]]; then
  "$MCLOUD_SCRIPTS/base-image.sh" --minbase mcloud-base
fi
# the stream image serves the player page's hls.js, the api image the
# console's libraries (installed by npm ci)
web_ok=1
for f in "${CONSOLE_FILES[@]}"; do [[ -f $root/api/console/node_modules/$f ]] || web_ok=0; done
[[ -f $root/stream/web/node_modules/hls.js/dist/hls.min.js && $web_ok == 1 || $print_tag == 1 ]] || "$MCLOUD_SCRIPTS/bootstrap.sh" web

# inputs_hash: sha256 over the build's inputs (paths and contents), the base
# image's id and the build args that are not the revision. docker/compose.yaml
# and the backing services' files are no input of the service images.
inputs_hash() {
  local base_id
  base_id=$(podman image inspect --format '{{.Id}}' "$BASE" 2>/dev/null || echo "$BASE")
  {
    echo "base=$base_id version=$version"
    cd "$root"
    {
      git ls-files -co --exclude-standard -- CMakeLists.txt common upload transcode stream api cli orchestrator \
        docker .containerignore 2>/dev/null | grep -v -e '/node_modules/' -e '^docker/compose.yaml$' -e '^docker/backing' || true
      echo stream/web/node_modules/hls.js/dist/hls.min.js
      printf 'api/console/node_modules/%s\n' "${CONSOLE_FILES[@]}"
    } | sort -u | while read -r f; do [[ -f $f ]] && sha256sum "$f"; done
  } | sha256sum | cut -c1-64
}
inputs=$(inputs_hash)
# a tree with local changes: the tag also names its inputs, so each change
# gets a new tag (and a spec naming it rolls out), not the same -dirty one
[[ $dirty == 1 ]] && tag+=-${inputs:0:8}
if [[ $print_tag == 1 ]]; then echo "$tag"; exit 0; fi
stamps=${MCLOUD_HOME:-$HOME/.mcloud}/images
mkdir -p "$stamps"

for s in "${services[@]}"; do
  t0=$SECONDS
  # the image this service's inputs last gave (latest may have been built
  # from another tree since, on a machine shared by checkouts): recorded in
  # a stamp file, since podman 4.3's layer cache may hand back an image built
  # from other inputs, label included; else one labelled with these inputs
  # (two label filters are OR in podman 4.3: the service is checked apart)
  stamp=$stamps/$s-$inputs
  have=$(cat "$stamp" 2>/dev/null || true)
  [[ -n $have ]] && ! podman image exists "$have" && have=
  if [[ -z $have ]]; then
    for id in $(podman images --noheading --format '{{.ID}}' --filter "label=org.mcloud.inputs=$inputs" 2>/dev/null | sort -u); do
      if [[ $(podman image inspect --format '{{index .Labels "org.mcloud.service"}}' "$id" 2>/dev/null) == "$s" ]]; then
        have=$id
        break
      fi
    done
  fi
  if [[ -n $have ]]; then
    echo "$have" >"$stamp"
    podman tag "$have" "localhost/mcloud-$s:$tag" "localhost/mcloud-$s:latest"
    log "localhost/mcloud-$s:$tag is up to date (inputs ${inputs:0:12} unchanged)"
    continue
  fi
  log "building localhost/mcloud-$s:$tag (target $s of docker/Dockerfile, base $BASE)"
  # --network host: the build's RUN steps reach Debian through this host's own
  # network and resolver, as the services' containers run (host networking);
  # podman's default bridge needs a working CNI setup with DNS, which nested
  # podman (make fresh-check) does not have: apt could not resolve there.
  podman build --quiet --layers --pull=never --network host \
    -f "$root/docker/Dockerfile" --target "$s" \
    --volume /etc/apt:/run/host-apt:ro \
    --ulimit nproc=4096:4096 --ulimit nofile=16384:16384 \
    --build-arg BASE="$BASE" --build-arg VERSION="$version" --build-arg REVISION="$revision" \
    --build-arg MCLOUD_INPUTS="$inputs" \
    -t "localhost/mcloud-$s:latest" -t "localhost/mcloud-$s:$tag" \
    "$root" >/dev/null || die "building the $s image failed (rerun without --quiet to see why: podman build -f docker/Dockerfile --target $s .)"
  size=$(podman image inspect --format '{{.Size}}' "localhost/mcloud-$s:latest")
  podman image inspect --format '{{.Id}}' "localhost/mcloud-$s:latest" >"$stamp"
  log "localhost/mcloud-$s:$tag ready in $(elapsed "$t0") ($((size / 1048576)) MiB)"
done
log "images built in $(elapsed "$start")"
