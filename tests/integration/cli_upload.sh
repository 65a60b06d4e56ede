#!/usr/bin/env bash
# `mcloud upload` through the stack's mcloud-api (POST /v1/uploads, then tus
# to mcloud-upload with the one-upload token): a 256 MiB upload killed with
# SIGKILL once the server has acknowledged some bytes resumes the same video
# from the server's offset when the command is run again, and the object read
# back through the upload URL has the source's sha256; a bad key, a missing
# key or API, and an unknown video fail with a clear reason and exit status 1.
# `wait --playable`, `play` and `wait` of a real clip go through the API alone
# (MySQL pointed at a closed port): playable while transcoding or ready, its
# HLS answers; on the random bytes (no media) --playable exits 1 with the reason.
set -uo pipefail
build=$1
mcloud=$build/cli/mcloud
failures=0
ok()   { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
[ -x "$mcloud" ] || { echo "FAIL - $mcloud is not built"; exit 1; }
for v in MCLOUD_API_URL MCLOUD_API_KEY MCLOUD_MYSQL_MASTER; do
    [ -n "${!v:-}" ] || { echo "FAIL - $v is not set: eval \"\$(scripts/stack.sh env)\""; exit 1; }
done

tmp=$(mktemp -d)
trap 'kill -9 "${pid:-}" 2>/dev/null; rm -rf "$tmp"' EXIT
export MCLOUD_HOME=$tmp   # the command remembers upload URLs under $MCLOUD_HOME/cli-uploads
head -c $((256 * 1024 * 1024)) /dev/urandom > "$tmp/source.bin"
want=$(sha256sum < "$tmp/source.bin" | cut -d' ' -f1)

token=''  # the one-upload token the API gave, from the command's reservation file
offset_of() {  # offset_of URL -> the server's Upload-Offset
    curl -sI -H 'Tus-Resumable: 1.0.0' -H "Authorization: Bearer $token" "$1" |
        tr -d '\r' | sed -n 's/^[Uu]pload-[Oo]ffset: //p'
}

"$mcloud" upload "$tmp/source.bin" > "$tmp/first.out" 2> "$tmp/first.err" &
pid=$!
url='' offset=0
for _ in $(seq 1 600); do
    state=$(ls "$tmp"/cli-uploads/* 2>/dev/null | grep -v '\.api$' | head -n1)
    reservation=$(ls "$tmp"/cli-uploads/*.api 2>/dev/null | head -n1)
    [ -n "$reservation" ] && [ -z "$token" ] && token=$(sed -n 2p "$reservation")
    [ -n "$state" ] && url=$(cat "$state")
    [ -n "$url" ] && offset=$(offset_of "$url")
    [ "${offset:-0}" -gt 0 ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
done
if [ "${offset:-0}" -gt 0 ] && kill -9 "$pid" 2>/dev/null; then
    wait "$pid" 2>/dev/null
    ok "killed mcloud upload (SIGKILL) after the server acknowledged $offset bytes"
else
    fail "could not interrupt the first upload mid-way (offset ${offset:-none}); stderr: $(cat "$tmp/first.err")"
fi
pid=''

if "$mcloud" upload "$tmp/source.bin" > "$tmp/second.out" 2> "$tmp/second.err"; then
    ok "the second mcloud upload finished"
else
    fail "the second mcloud upload failed: $(cat "$tmp/second.err")"
fi
resumed=$(sed -n 's/^resumed .* at byte \([0-9]*\)$/\1/p' "$tmp/second.err")
if [ -n "$resumed" ] && [ "$resumed" -ge "$offset" ] && [ "$resumed" -gt 0 ]; then
    ok "it resumed at byte $resumed, not at 0"
else
    fail "it did not resume (stderr: $(cat "$tmp/second.err"))"
fi
video=$(cat "$tmp/second.out")
[[ $video =~ ^[0-9a-f-]{36}$ ]] && ok "it printed the video id $video" || fail "no video id printed: '$video'"
first_video=$(sed -n 's/^video \([0-9a-f-]*\) reserved.*/\1/p' "$tmp/first.err")
[ -n "$first_video" ] && [ "$first_video" = "$video" ] && ! grep -q reserved "$tmp/second.err" \
    && ok "the second run resumed the video the first reserved ($video), reserving none" \
    || fail "the runs reserved different videos: first '$first_video', printed '$video'"
api_status=$(curl -s -H "Authorization: Bearer $MCLOUD_API_KEY" "$MCLOUD_API_URL/v1/videos/$video" |
             python3 -c 'import json,sys; print(json.load(sys.stdin).get("status"))')
# past 'uploading' is the point (random bytes are no video: the transcoder may fail it already)
case $api_status in uploaded|transcoding|ready|failed) ok "GET /v1/videos/$video: $api_status, the upload completed" ;;
                   *) fail "GET /v1/videos/$video after the upload: status '$api_status'" ;; esac

got=$(curl -sf -H 'Tus-Resumable: 1.0.0' -H "Authorization: Bearer $token" "$url" |
      sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] && ok "the stored object's sha256 equals the source's" \
                     || fail "sha256 differs: stored $got, source $want"

MCLOUD_API_KEY=mck_not-a-key "$mcloud" upload "$tmp/source.bin" > /dev/null 2> "$tmp/bad.err"
rc=$?
[ $rc = 1 ] && grep -q 'answered 401' "$tmp/bad.err" && ok "a bad API key: exit 1 with the API's 401" \
            || fail "a bad API key: exit $rc, stderr: $(cat "$tmp/bad.err")"

for v in MCLOUD_API_KEY MCLOUD_API_URL; do
    env -u "$v" "$mcloud" upload "$tmp/source.bin" > /dev/null 2> "$tmp/unset.err"
    rc=$?
    [ $rc = 1 ] && grep -q "$v is not set" "$tmp/unset.err" && ok "$v unset: exit 1 naming it" \
                || fail "$v unset: exit $rc, stderr: $(cat "$tmp/unset.err")"
done
MCLOUD_API_URL=http://127.0.0.1:9 "$mcloud" wait "$video" > /dev/null 2> "$tmp/down.err"
rc=$?
[ $rc = 1 ] && grep -q 'MCLOUD_API_URL=http://127.0.0.1:9' "$tmp/down.err" \
    && ok "an API that does not answer: exit 1 naming MCLOUD_API_URL" \
    || fail "an API that does not answer: exit $rc, stderr: $(cat "$tmp/down.err")"

"$mcloud" play 00000000-0000-0000-0000-000000000000 > /dev/null 2> "$tmp/unknown.err"
rc=$?
[ $rc = 1 ] && grep -q 'no video' "$tmp/unknown.err" && ok "an unknown video: exit 1, 'no video'" \
            || fail "an unknown video: exit $rc, stderr: $(cat "$tmp/unknown.err")"

# wait --playable and play through the API alone: MySQL pointed at a closed port
nodb=(env MCLOUD_MYSQL_MASTER=127.0.0.1:9 MCLOUD_MYSQL_REPLICA=127.0.0.1:9)
"${nodb[@]}" "$mcloud" wait "$video" --playable > /dev/null 2> "$tmp/pfail.err"
rc=$?
[ $rc = 1 ] && grep -q "failed: not a playable media file" "$tmp/pfail.err" \
    && ok "wait --playable on the random bytes: exit 1 with the upload's failure reason" \
    || fail "wait --playable on a failed video: exit $rc, stderr: $(cat "$tmp/pfail.err")"
ffmpeg -v error -y -f lavfi -i testsrc=size=320x240:rate=25 -f lavfi -i sine=frequency=440 -t 6 \
    -c:v libx264 -pix_fmt yuv420p -c:a aac -shortest "$tmp/clip.mp4" || fail "ffmpeg could not make a clip"
clip_video=$("${nodb[@]}" "$mcloud" upload "$tmp/clip.mp4" 2> "$tmp/clip.err")
if "${nodb[@]}" "$mcloud" wait "$clip_video" --playable > /dev/null 2> "$tmp/playable.err" &&
   grep -qE "playable \(|: ready$" "$tmp/playable.err"; then  # a short clip may be ready already
    ok "wait --playable through the API: $(tail -n1 "$tmp/playable.err")"
else
    fail "wait --playable through the API: stderr $(cat "$tmp/clip.err" "$tmp/playable.err")"
fi
playable=$(curl -s -H "Authorization: Bearer $MCLOUD_API_KEY" "$MCLOUD_API_URL/v1/videos/$clip_video" |
           python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get("playable"), v.get("status"))')
case $playable in "True transcoding"|"True ready") ok "GET /v1/videos/$clip_video: playable ($playable)" ;;
                  *) fail "GET /v1/videos/$clip_video after wait --playable: '$playable'" ;; esac
"${nodb[@]}" "$mcloud" play "$clip_video" --json > "$tmp/play.json" 2> "$tmp/play.err"
hls=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["hls"] if d["status"] in ("transcoding","ready") else "")' "$tmp/play.json" 2>/dev/null)
if [ -n "$hls" ] && curl -sf "$hls" | grep -q '^#EXTM3U'; then
    ok "play through the API right after: its HLS master answers"
else
    fail "play after wait --playable: $(cat "$tmp/play.json" "$tmp/play.err")"
fi
"${nodb[@]}" "$mcloud" wait "$clip_video" > /dev/null 2> "$tmp/ready.err" && grep -q ": ready" "$tmp/ready.err" \
    && ok "wait through the API: ready" || fail "wait until ready: $(cat "$tmp/ready.err")"
[ -n "$clip_video" ] && curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $MCLOUD_API_KEY" \
    "$MCLOUD_API_URL/v1/videos/$clip_video"

"$mcloud" frobnicate x > /dev/null 2>&1
rc=$?
[ $rc = 2 ] && ok "an unknown command: usage, exit 2" || fail "an unknown command: exit $rc"

[ -n "$video" ] && curl -s -o /dev/null -X DELETE -H "Authorization: Bearer $MCLOUD_API_KEY" \
    "$MCLOUD_API_URL/v1/videos/$video"   # its source and rows go through the API's delete cascade
[ "$failures" = 0 ]
