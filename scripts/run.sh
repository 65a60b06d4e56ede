#!/usr/bin/env bash
# run.sh — the README's first command (`make run [VIDEO=path]`): the main job.
# Installs what is missing, builds every daemon, starts the real backing
# servers, builds the service images (scripts/images.sh, cached), starts the
# platform's host daemons (scripts/stack.sh platform up: the podman service,
# one mcloud-agent — this machine is one node —, mcloud-orchestrator and the
# edge) and deploys deploy/mcloud.yaml through the orchestrator (`mcloud
# deploy`, made concrete by `stack.sh platform spec`): every mcloud service
# (upload x2, transcode x2, stream x2, api) runs as a container the
# orchestrator placed. Then it publishes a video (the one given, or a
# generated 30 s 720p sample) with `mcloud publish` THROUGH THE EDGE (the
# API, the tus upload and the playback URLs are the edge's), follows the
# transcoding to the end, checks that what it prints plays (ffprobe reads
# the HLS and an MP4 rung through the edge) and prints the URLs.
#
# MCLOUD_RUN_MODE=processes: the former way, every daemon a host process of
# scripts/stack.sh up (no images, no containers, no edge).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
MCLOUD_LOG_PREFIX=run

started=$(date +%s)
video=${1:-${VIDEO:-}}
mode=${MCLOUD_RUN_MODE:-orchestrated}
case $mode in orchestrated | processes) ;; *) die "MCLOUD_RUN_MODE: '$mode' is not orchestrated or processes" ;; esac
HEALTHY_LIMIT_S=${MCLOUD_RUN_HEALTHY_LIMIT_S:-900} # a guard against a hang, not a target

step() { log "[$(( $(date +%s) - started )) s] $*"; }

step "bootstrap and build"
# every step but helm: it only renders the Kubernetes chart for `make test`
# (deploy.kubernetes) and its first build takes 6-10 minutes
scripts/bootstrap.sh apt services podman kafka go minio venv node web
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"

if [ -z "$video" ]; then
    video=$MCLOUD_HOME/sample-30s.mp4
    if [ ! -s "$video" ]; then
        echo "generating a 30 s 720p sample: $video"
        ffmpeg -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
               -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 30 \
               -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -shortest "$video.tmp.mp4"
        mv "$video.tmp.mp4" "$video"
    fi
fi

if [[ $mode == processes ]]; then
    scripts/stack.sh platform down
    scripts/stack.sh up
else
    step "backing servers"
    scripts/stack.sh up --backing
    # host-process daemons of an earlier processes-mode run would sit in the
    # edge beside the containers: the services run only as containers here
    scripts/stack.sh stop upload transcode stream api
    step "service images (cached: seconds when the tree is unchanged)"
    scripts/images.sh
    step "platform daemons: podman service, agent, orchestrator, edge"
    scripts/stack.sh platform up
    scripts/stack.sh start dbmon dbmon2
    eval "$(scripts/stack.sh env)"
    spec=$MCLOUD_STACK/platform/mcloud.yaml
    mkdir -p "${spec%/*}"
    scripts/stack.sh platform spec >"$spec.tmp" || die "could not write the platform's spec"
    mv "$spec.tmp" "$spec"
    step "deploying $spec through the orchestrator (the progress line follows each service to healthy)"
    build/cli/mcloud deploy "$spec" --timeout "$HEALTHY_LIMIT_S"

    # every instance running once, healthy and ready, as `mcloud ps` shows
    # it; and each public service in the edge's upstreams
    want=$(awk '/^  [a-z0-9-]+: *$/ {s = $1} /^    count:/ {n += $2} END {print n}' "$spec")
    t0=$SECONDS
    while :; do
        ps_json=$(build/cli/mcloud ps --json 2>/dev/null || true)
        healthy=$(jq '[.instances[] | select((.running | length) == 1 and .running[0].state == "running"
                        and .running[0].healthy and .running[0].ready)] | length' <<<"${ps_json:-{\}}" 2>/dev/null || echo 0)
        upstreams=$(curl -fsS --max-time 5 "$MCLOUD_EDGE_URL/v1/upstreams" 2>/dev/null || true)
        in_edge=$(jq '[.. | objects | select(has("backends")) | select((.backends | length) > 0)] | length' \
                  <<<"${upstreams:-{\}}" 2>/dev/null || echo 0)
        printf '\r[run] %d/%d instances healthy, %d/3 public services in the edge ' "$healthy" "$want" "$in_edge" >&2
        [[ $healthy == "$want" && $in_edge -ge 3 ]] && break
        if (( SECONDS - t0 > HEALTHY_LIMIT_S )); then
            echo >&2
            build/cli/mcloud ps >&2 || true
            die "the platform is not healthy after ${HEALTHY_LIMIT_S}s (mcloud ps above; mcloud logs SERVICE)"
        fi
        sleep 1
    done
    echo >&2
    build/cli/mcloud ps
fi
eval "$(scripts/stack.sh env)"

step "publishing $video through $MCLOUD_API_URL"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
build/cli/mcloud publish "$video" --json >"$out"
echo
jq -r '"video   \(.video)", "page    \(.page)", "hls     \(.hls)",
       (.mp4 // {} | to_entries[] | "mp4     \(.key | . + "       " | .[0:7]) \(.value)"),
       (if .poster then "poster  \(.poster)" else empty end)' "$out"

# It plays: the page answers, ffprobe reads the HLS (master, a variant, its
# segments) and the smallest MP4 rung (Range requests) from these URLs.
hls=$(jq -r .hls "$out")
mp4=$(jq -r '.mp4 // {} | to_entries | .[0].value // empty' "$out")
[[ $hls == "$MCLOUD_STREAM_URL"/* ]] || die "the HLS URL $hls is not under MCLOUD_STREAM_URL ($MCLOUD_STREAM_URL)"
curl -fsS -o /dev/null --max-time 30 "$(jq -r .page "$out")" || die "the player page does not load"
for u in "$hls" ${mp4:+"$mp4"}; do
    d=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$u") || die "ffprobe cannot read $u"
    step "plays: $(printf '%.1f' "$d") s read by ffprobe from ${u%%\?*}"
done
echo
echo "Open the page URL above in a browser to watch it (hls.js and progressive MP4);"
echo "ffplay or VLC play the hls and mp4 URLs. They are signed: valid for stream.url_ttl_s (a day)."
[[ $mode == processes ]] || echo "Every service runs as a container: build/cli/mcloud ps | top | logs SERVICE | scale SERVICE N."
echo
echo "Environment for tools and tests (eval \"\$(scripts/stack.sh env)\"):"
scripts/stack.sh env | grep -v -e PASSWORD -e TOKEN
echo
echo "The main job took $(( $(date +%s) - started )) s ($mode). Stop the platform with: scripts/stack.sh down"
