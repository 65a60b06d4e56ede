#!/usr/bin/env bash
# run.sh — the README's first command (`make run [VIDEO=path]`): the main job.
# Installs what is missing, builds every daemon, starts the real backing
# services and the daemons (scripts/stack.sh up), then uploads a video (the
# one given, or a generated 30 s 720p sample) with `mcloud publish`: through
# mcloud-api (MCLOUD_API_KEY from `stack.sh env`) a direct upload and its tus
# upload, transcoding followed to the end, and the signed playback URLs of
# mcloud-stream printed: the player page, HLS and each progressive MP4 rung.
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
video=${1:-${VIDEO:-}}
scripts/bootstrap.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)"
scripts/stack.sh up
eval "$(scripts/stack.sh env)"

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

echo
echo "publishing $video"
build/cli/mcloud publish "$video"
echo
echo "Open the page URL above in a browser to watch it (hls.js and progressive MP4);"
echo "ffplay or VLC play the hls and mp4 URLs. They are signed: valid for stream.url_ttl_s (a day)."
echo
echo "Environment for tools and tests (eval \"\$(scripts/stack.sh env)\"):"
scripts/stack.sh env | grep -v -e PASSWORD -e TOKEN
echo
echo "The main job took $(( $(date +%s) - started )) s. Stop the platform with: scripts/stack.sh down"
