"""lifecycle.py BUILD_DIR — a video going from playable-while-transcoding to
ready, as a player meets it when several mcloud-stream instances share an
edge (ctest integration.stream_lifecycle).

An instance that saw the video transcoding remembers that row for
stream.video_ttl_ms; the player may meanwhile have got the final playlists
from another instance (or from this one, through the webhook's URL) and ask
this one for a segment under its final URI. Seen in `make fresh-check`,
where the orchestrated platform runs two stream instances: the first segment
of a video just announced ready answered 404 "still processing".

The test's daemon remembers rows for ten minutes, so only a fresh read can
serve the ready video:
  1. transcoding and playable: hls/master.m3u8 redirects to the attempt's
     (302, no-store) and a final-URI segment answers 404 "still processing"
     (the control: the daemon now remembers the video transcoding);
  2. the row turns ready (as the transcoder's publish does): the same
     segment answers 200 with its bytes, and hls/master.m3u8 is the final
     playlist (200), both within the remembered row's lifetime."""

import os
import sys

import streamtest as st
from streamtest import q, sign_cred

SEGMENT_BYTES = 64 * 1024
MASTER = b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n360p/index.m3u8\n"


def main():
    return st.main("stream_lifecycle", "stream-lifecycle", run, "the lifecycle checks")


def run(h, rep):
    v = st.Video(h, status="transcoding", title="lifecycle")
    segment = os.urandom(SEGMENT_BYTES)
    v.put("hls/master.m3u8", MASTER, "application/vnd.apple.mpegurl")
    v.put("hls/360p/index.m3u8", b"#EXTM3U\n#EXT-X-PLAYLIST-TYPE:EVENT\nseg_00001.m4s\n",
          "application/vnd.apple.mpegurl")
    v.put("hls/360p/seg_00001.m4s", segment, "video/iso.segment")
    h.db.exec(f"INSERT INTO videos (id, tenant_id, title, status, playable, playable_prefix, playable_seconds) "
              f"VALUES ({q(v.id)}, {q(st.TENANT)}, {q(v.title)}, 'transcoding', 1, {q(v.prefix)}, 4);")
    h.wait_replicated(v.id)
    d = h.daemon(MCLOUD_STREAM_VIDEO_TTL_MS="600000")
    base = f"/v/{v.id}/{sign_cred(v.id)}/hls"
    attempt = v.prefix.rstrip("/").rsplit("/", 1)[1]

    r = st.request(d.url, "GET", f"{base}/master.m3u8")
    rep.check(r.status == 302 and r.header("Location") == f"a/{attempt}/master.m3u8" and
              r.header("Cache-Control") == "no-store",
              "transcoding: hls/master.m3u8 redirects to the attempt's (302, no-store)",
              f"{r.status} Location {r.header('Location')!r} Cache-Control {r.header('Cache-Control')!r}")
    r = st.request(d.url, "GET", f"{base}/360p/seg_00001.m4s")
    err = st.json_error(r)
    rep.check(r.status == 404 and err is not None and "still processing" in err["message"],
              "transcoding: a segment under its final URI is refused as still processing (404)",
              f"{r.status} {r.body[:200]!r}")

    h.db.exec(f"UPDATE videos SET status = 'ready', published_prefix = {q(v.prefix)} WHERE id = {q(v.id)};")
    h.wait_replicated(v.id, status="ready")
    r = st.request(d.url, "GET", f"{base}/360p/seg_00001.m4s")
    rep.check(r.status == 200 and r.body == segment,
              "ready: the same daemon, its row remembered as transcoding, serves the segment at once (200, its bytes)",
              f"{r.status} {len(r.body)} bytes {r.body[:200]!r}")
    r = st.request(d.url, "GET", f"{base}/master.m3u8")
    rep.check(r.status == 200 and r.body == MASTER,
              "ready: hls/master.m3u8 is the final playlist (200), no redirect to the attempt",
              f"{r.status} Location {r.header('Location')!r} {r.body[:200]!r}")


if __name__ == "__main__":
    sys.exit(main())
