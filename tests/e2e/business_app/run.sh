#!/usr/bin/env bash
# run.sh — examples/business_app/app.py end to end against the running stack
# (the stack's mcloud-api, mcloud-upload, mcloud-transcode, mcloud-stream):
# a 6 s clip uploaded through POST /v1/uploads + tuspy, waited for, its
# playback URLs fetched and its HLS played by ffprobe. The test checks the
# outcome itself, not only the app's word: GET /v1/videos/{id} says ready,
# ffprobe of the printed HLS URL finds the video and audio streams and the
# clip's duration; the app printed progress; without MCLOUD_API_KEY it fails
# naming it. The video is deleted through the API at the end, also on failure.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/support/stack_python.sh
source "$here/../../support/stack_python.sh"
app=$here/../../../examples/business_app/app.py
failures=0
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
for tool in ffmpeg ffprobe curl; do
    command -v "$tool" >/dev/null || { echo "FAIL - $tool is not installed: run scripts/bootstrap.sh"; exit 1; }
done
"$python" -c 'import requests, tusclient' 2>/dev/null \
    || { echo "FAIL - the venv lacks requests/tuspy: run scripts/bootstrap.sh venv"; exit 1; }
for v in MCLOUD_API_URL MCLOUD_API_KEY; do
    [ -n "${!v:-}" ] || { echo "FAIL - $v is not set: eval \"\$(scripts/stack.sh env)\""; exit 1; }
done

tmp=$(mktemp -d)
video=''
cleanup() {
    [ -n "$video" ] && curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $MCLOUD_API_KEY" \
        "$MCLOUD_API_URL/v1/videos/$video"
    rm -rf "$tmp"
}
trap cleanup EXIT
seconds=6
ffmpeg -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=30" -f lavfi \
       -i "sine=frequency=440:sample_rate=48000" -t $seconds -c:v libx264 -preset veryfast \
       -pix_fmt yuv420p -c:a aac -shortest "$tmp/clip.mp4" || { echo "FAIL - ffmpeg made no clip"; exit 1; }

env -u MCLOUD_API_KEY "$python" "$app" "$tmp/clip.mp4" > /dev/null 2> "$tmp/nokey.err"
rc=$?
[ $rc = 1 ] && grep -q "MCLOUD_API_KEY is not set" "$tmp/nokey.err" && ok "without MCLOUD_API_KEY: exit 1 naming it" \
    || fail "without MCLOUD_API_KEY: exit $rc, stderr: $(cat "$tmp/nokey.err")"

timeout 900 "$python" "$app" "$tmp/clip.mp4" --title "business app e2e" > "$tmp/out" 2> "$tmp/err"
rc=$?
cat "$tmp/err"
[ $rc = 0 ] && ok "the app finished (exit 0)" || fail "the app exited $rc"
summary=$(tail -n1 "$tmp/out")
field() { printf '%s' "$summary" | "$python" -c "import json,sys; d=json.load(sys.stdin); print($1)" 2>/dev/null; }
video=$(field 'd["video_id"]')
hls=$(field 'd["playback"]["hls"]')
[[ $video =~ ^[0-9a-f-]{36}$ ]] && ok "it printed the video id $video" || fail "no video id in '$summary'"
grep -q "video $video: transcoding\|video $video: ready" "$tmp/err" && ok "it printed the video's progress" \
    || fail "no progress line for $video"

status=$(curl -s -H "Authorization: Bearer $MCLOUD_API_KEY" "$MCLOUD_API_URL/v1/videos/$video" |
         "$python" -c 'import json,sys; d=json.load(sys.stdin); print(d["status"], d["title"])' 2>/dev/null)
[ "$status" = "ready business app e2e" ] && ok "GET /v1/videos/$video: ready, titled by the app" \
    || fail "GET /v1/videos/$video: '$status'"

if [ -n "$hls" ]; then
    probe=$(ffprobe -v error -show_entries format=duration:stream=codec_type -of json "$hls" 2>"$tmp/probe.err")
    got=$(printf '%s' "$probe" | "$python" -c '
import json, sys
d = json.load(sys.stdin)
print(sorted({s["codec_type"] for s in d["streams"]}), round(float(d["format"]["duration"])))' 2>/dev/null)
    [ "$got" = "['audio', 'video'] $seconds" ] && ok "ffprobe plays the HLS: video and audio, $seconds s" \
        || fail "ffprobe of $hls: '$got' $(cat "$tmp/probe.err")"
else
    fail "no HLS URL in the app's summary"
fi

# The push variant: the app waits for video.ready by webhook (a receiver of
# its own on loopback, which the stack's mcloud-api allows), verifying each
# delivery's signature with the standardwebhooks library.
"$python" -c 'import standardwebhooks' 2>/dev/null \
    || { echo "FAIL - the venv lacks standardwebhooks: run scripts/bootstrap.sh venv"; exit 1; }
timeout 900 "$python" "$app" "$tmp/clip.mp4" --title "business app e2e (webhook)" --webhook 127.0.0.1:0 \
    > "$tmp/out2" 2> "$tmp/err2"
rc=$?
cat "$tmp/err2"
summary=$(tail -n1 "$tmp/out2")
video2=$(field 'd["video_id"]')
[ -n "$video2" ] && curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $MCLOUD_API_KEY" "$MCLOUD_API_URL/v1/videos/$video2"
[ $rc = 0 ] && [ "$(field 'd["ready_by"]')" = webhook ] && ok "with --webhook the app finished on its video's video.ready" \
    || fail "the app with --webhook exited $rc ('$summary')"
grep -q "webhook .*: video.ready for video $video2" "$tmp/err2" && ok "a signed video.ready for $video2 arrived and verified" \
    || fail "no verified video.ready for '$video2' in the app's log"
left=$(curl -s -H "Authorization: Bearer $MCLOUD_API_KEY" "$MCLOUD_API_URL/v1/webhooks" |
       "$python" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin)["data"] if "mcloud-hooks" in e["url"]))' 2>/dev/null)
[ "$left" = 0 ] && ok "the app removed its webhook endpoint" || fail "webhook endpoints of the app left: '$left'"
[ "$failures" = 0 ]
