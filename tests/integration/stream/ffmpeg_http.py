"""ffmpeg_http.py BUILD_DIR — ffprobe and `ffmpeg -ss` read mcloud-stream's
outputs over HTTP (ctest integration.stream_ffmpeg).

A real 6 s 320x240 H.264 + AAC MP4 (faststart, made here with the ffmpeg CLI,
noisy enough to be about 1.6 MiB so that a seek is a new ranged request, not
a read through the buffer) is published as a synthetic video's 360p.mp4, with
an HLS set cut from it by ffmpeg (fMP4: hls/360p/init.mp4,
hls/360p/seg_00001.m4s..., hls/360p/index.m3u8, and hls/master.m3u8).
Through the signed URLs of `mcloud play --json`:
  - ffprobe reports the duration (6 s, as a value with a tolerance), the
    codecs and the dimensions of the MP4 and of the HLS master;
  - `ffmpeg -ss 3 -i URL -frames:v 1` decodes the frame at 3 s of the MP4,
    identical (framemd5) to the one decoded from the local file; on the HLS
    master the seek is an output seek (`-i URL -ss 3`: ffmpeg 5.1's HLS
    demuxer decodes nothing after an input seek in fMP4 segments, from a
    local playlist as well), and its frame is the one decoded from the same
    playlist and segments on disk;
  - the seek was served by ranged requests: the daemon's
    mcloud_http_requests_total{code="206"} grew by at least two during the
    MP4 seek (the first read and the jump to 3 s)."""

import json
import os
import re
import subprocess
import sys

import streamtest as st
from streamtest import Failure, log

SECONDS = 6.0
DURATION_TOLERANCE_S = 0.1   # the MP4's own duration; HLS segment sums may round
HLS_TOLERANCE_S = 0.25
SEEK_S = 3.0
# A hang guard for one ffmpeg run, not a performance bound.
TOOL_TIMEOUT_S = 120


def main():
    return st.main("stream_ffmpeg", "stream-ffmpeg", run, "the ffmpeg checks")


def tool(*cmd):
    r = subprocess.run(list(cmd), capture_output=True, timeout=TOOL_TIMEOUT_S)
    if r.returncode != 0:
        raise Failure(f"{' '.join(cmd[:6])} ... failed ({r.returncode}): "
                      f"{r.stderr.decode('utf-8', 'replace')[-2000:]}")
    return r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def make_media(work):
    mp4 = os.path.join(work, "360p.mp4")
    tool("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(SECONDS),
         "-vf", "noise=alls=40:allf=t", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "2M",
         "-maxrate", "2M", "-bufsize", "2M", "-g", "25", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart", mp4)
    rung = os.path.join(work, "hls", "360p")
    os.makedirs(rung)
    subprocess.run(["ffmpeg", "-v", "error", "-i", mp4, "-c", "copy", "-f", "hls", "-hls_time", "2",
                    "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
                    "-hls_fmp4_init_filename", "init.mp4", "-start_number", "1",
                    "-hls_segment_filename", "seg_%05d.m4s", "index.m3u8"],
                   cwd=rung, check=True, capture_output=True, timeout=TOOL_TIMEOUT_S)
    with open(os.path.join(work, "hls", "master.m3u8"), "w") as f:
        f.write("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
                '#EXT-X-STREAM-INF:BANDWIDTH=2200000,RESOLUTION=320x240,CODECS="avc1.640014,mp4a.40.2"\n'
                "360p/index.m3u8\n")
    return mp4


def probe(url):
    out, _ = tool("ffprobe", "-v", "error", "-show_entries",
                  "stream=codec_type,codec_name,width,height:format=duration", "-of", "json", url)
    doc = json.loads(out)
    streams = {s["codec_type"]: s for s in doc.get("streams", [])}
    return float(doc.get("format", {}).get("duration", "nan")), streams


def frame_at(url, seek, input_seek=True):
    """(framemd5 hash of the first video frame at seek, its pts in seconds).
    input_seek: -ss before -i (the demuxer seeks: ranged reads); else after
    (everything decoded and dropped up to seek). -copyts keeps the pts."""
    ss = ["-ss", str(seek)]
    out, _ = tool("ffmpeg", "-v", "error", *(ss if input_seek else []), "-copyts", "-i", url,
                  *([] if input_seek else ss), "-map", "0:v:0", "-frames:v", "1", "-f", "framemd5", "-")
    tb = re.search(r"^#tb 0: (\d+)/(\d+)", out, re.M)
    frames = [ln.split(",") for ln in out.splitlines() if ln and not ln.startswith("#")]
    if not tb or not frames:
        return None, None
    return frames[0][-1].strip(), int(frames[0][2]) * int(tb.group(1)) / int(tb.group(2))


def count_206(daemon):
    total = 0
    for line in daemon.metrics().splitlines():
        if line.startswith("mcloud_http_requests_total{") and 'code="206"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def run(h, rep):
    for t in ("ffmpeg", "ffprobe"):
        subprocess.run([t, "-version"], check=True, capture_output=True)
    work = os.path.join(h.scratch, "media")
    os.makedirs(work)
    h.bulky.append(work)
    mp4 = make_media(work)
    video = st.Video(h, title="ffmpeg over http")
    types = {".mp4": "video/mp4", ".m4s": "video/iso.segment", ".m3u8": "application/vnd.apple.mpegurl"}
    for root, _, files in os.walk(work):
        for name in files:
            rel = os.path.relpath(os.path.join(root, name), work)
            video.put_file(rel, os.path.join(root, name), types[os.path.splitext(name)[1]])
    log(f"published {sorted(video.objects)}")
    rep.check(os.path.getsize(mp4) > 1024 * 1024, "the MP4 is over 1 MiB (a seek to 3 s is a new request)",
              str(os.path.getsize(mp4)))
    video.insert([("360p", 320, 240, 2_000_000)])
    d = h.daemon()
    play = st.mcloud_play(h.mcloud_bin, d, video.id)
    mp4_url, hls_url = play["mp4"].get("360p"), play.get("hls")
    rep.check(bool(mp4_url) and mp4_url.startswith(d.url) and hls_url and hls_url.endswith("/hls/master.m3u8"),
              "mcloud play gives the 360p and HLS URLs", json.dumps(play))

    hls_base = hls_url[:-len("master.m3u8")].split(d.url, 1)[1]
    for rel in sorted(video.objects):
        want = types[os.path.splitext(rel)[1]]
        target = hls_base + rel[len("hls/"):] if rel.startswith("hls/") else None
        if target:
            r = st.request(d.url, "HEAD", target)
            rep.check(r.status == 200 and r.header("Content-Type") == want,
                      f"{rel} is served as {want} through the HLS URL's credential",
                      f"{r.status} {r.header('Content-Type')}")

    for label, url, tol in (("MP4", mp4_url, DURATION_TOLERANCE_S), ("HLS master", hls_url, HLS_TOLERANCE_S)):
        duration, streams = probe(url)
        v, a = streams.get("video", {}), streams.get("audio", {})
        rep.check(abs(duration - SECONDS) <= tol,
                  f"ffprobe {label}: duration {duration:.3f} s is {SECONDS} s ± {tol} s")
        rep.check(v.get("codec_name") == "h264" and (v.get("width"), v.get("height")) == (320, 240),
                  f"ffprobe {label}: h264 320x240", json.dumps(v))
        rep.check(a.get("codec_name") == "aac", f"ffprobe {label}: aac audio", json.dumps(a))

    want_md5, want_pts = frame_at(mp4, SEEK_S)
    rep.check(want_md5 is not None and want_pts is not None and abs(want_pts - SEEK_S) <= 0.1,
              f"the local file decodes a frame at {SEEK_S} s", f"{want_md5} at {want_pts}")
    before = count_206(d)
    got_md5, got_pts = frame_at(mp4_url, SEEK_S)
    ranged = count_206(d) - before
    rep.check(got_md5 == want_md5 and got_pts == want_pts,
              f"ffmpeg -ss {SEEK_S} over HTTP decodes the same frame as from the file",
              f"http {got_md5} at {got_pts}; file {want_md5} at {want_pts}")
    rep.check(ranged >= 2, f"the seek used ranged requests ({ranged} answers 206)",
              f"206 answers during the seek: {ranged}")
    want_hls, _ = frame_at(os.path.join(work, "hls", "master.m3u8"), SEEK_S, input_seek=False)
    got_hls, _ = frame_at(hls_url, SEEK_S, input_seek=False)
    rep.check(want_hls is not None and got_hls == want_hls,
              f"ffmpeg -i HLS -ss {SEEK_S} over HTTP decodes the same frame as from the local playlist",
              f"http {got_hls}; local {want_hls}")
    rep.check(d.alive(), "mcloud-stream still running")


if __name__ == "__main__":
    sys.exit(main())
