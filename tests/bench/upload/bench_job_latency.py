"""bench_job_latency.py — upload complete -> transcode job consumed by a
worker, over --count (100) small uploads through the running platform.

Each upload is one tus creation-with-upload of a small generated MP4 (0.4 s,
64x48, made once by the ffmpeg CLI) to the stack's mcloud-upload; the stack's
mcloud-transcode worker consumes the job. The driver waits until that job
has ended before the next upload, so every figure is the pipeline's latency
with an idle worker, never queueing behind an earlier job.

Figures, all from MariaDB timestamps of the same server (microseconds):
  complete -> consumed: uploads.completed_at (set inside the completion
      transaction, so a little before the client's 201) to jobs.created_at
      (the worker's claim, its first step after taking the message);
  complete -> published: uploads.completed_at to outbox.published_at (the
      outbox publisher's Kafka ack);
  published -> consumed: the rest (Kafka, the worker's poll).
p50/p90/p99/max of each, and the 1-minute load average before and after.

Everything the run creates is removed at the end, also after a failure or
SIGINT/SIGTERM: the uploads, videos (with their jobs and renditions) and
outbox rows, the sources/local/<video>/ and videos/local/<video>/ objects.

usage (stack up with its upload and transcode daemons, env loaded):
  eval "$(scripts/stack.sh env)"
  $MCLOUD_HOME/cache/venv/bin/python tests/bench/upload/bench_job_latency.py --build build
"""

import argparse
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import log, stop_servers_on_signal  # noqa: E402
from bench_upload import Cleaner, pct  # noqa: E402


def sql(query):
    host, port = os.environ["MCLOUD_MYSQL_MASTER"].rsplit(":", 1)
    r = subprocess.run(["mariadb", "-N", "-B", "-h", host, "-P", port, "-u",
                        os.environ.get("MCLOUD_MYSQL_USER", "mcloud"),
                        os.environ.get("MCLOUD_MYSQL_DATABASE", "mcloud"), "-e", query],
                       env=dict(os.environ, MYSQL_PWD=os.environ.get("MCLOUD_MYSQL_PASSWORD", "")),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"mariadb: {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines()]


def make_clip(path):
    if not shutil.which("ffmpeg"):
        sys.exit("bench_job_latency: ffmpeg is missing (apt-get install ffmpeg)")
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10",
                    "-t", "0.4", "-c:v", "libx264", "-pix_fmt", "yuv420p", path], check=True)
    with open(path, "rb") as f:
        return f.read()


def upload(base, token, clip):
    """One creation-with-upload; returns (upload id, video id)."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    c.request("POST", "/files/", body=clip, headers={
        "Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}", "Upload-Length": str(len(clip)),
        "Content-Type": "application/offset+octet-stream", "Upload-Metadata": "filename bGF0Lm1wNA=="})
    r = c.getresponse()
    body = r.read()
    c.close()
    if r.status != 201 or int(r.getheader("Upload-Offset") or -1) != len(clip):
        raise RuntimeError(f"POST {base}/files/: {r.status} {body[:300]!r}")
    return urllib.parse.urlsplit(r.getheader("Location")).path.rsplit("/", 1)[1], r.getheader("Mcloud-Video-Id")


def wait_job(video, timeout_s):
    """Waits until the video's job ended; returns (consumed_us, published_us)."""
    until = time.monotonic() + timeout_s
    while time.monotonic() < until:
        rows = sql("SELECT TIMESTAMPDIFF(MICROSECOND, u.completed_at, j.created_at), "
                   "TIMESTAMPDIFF(MICROSECOND, u.completed_at, o.published_at), j.status "
                   "FROM uploads u JOIN jobs j ON j.video_id = u.video_id "
                   "JOIN outbox o ON o.msg_key = u.video_id AND o.topic = 'mcloud.transcode.jobs' "
                   f"WHERE u.video_id = '{video}'")
        if rows and rows[0][2] in ("done", "failed"):
            return int(rows[0][0]), int(rows[0][1])
        time.sleep(0.05)
    raise RuntimeError(f"video {video}: no finished job after {timeout_s} s (is mcloud-transcode up?)")


def summary(name, values_us):
    v = sorted(x / 1000 for x in values_us)
    return {"what": name, "n": len(v), "p50_ms": pct(v, 50), "p90_ms": pct(v, 90),
            "p99_ms": pct(v, 99), "max_ms": v[-1], "min_ms": v[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--timeout", type=int, default=120, help="seconds to wait for one job")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    stop_servers_on_signal("bench_job_latency")
    base = f"http://127.0.0.1:{os.environ.get('MCLOUD_UPLOAD_PORT', '18080')}"
    token = subprocess.run([os.path.join(args.build, "upload", "mcloud-token"), "--tenant", "local",
                            "--ttl", "7200"], check=True, capture_output=True, text=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="mcloud-bench-latency-")
    clip = make_clip(os.path.join(tmp, "clip.mp4"))
    cleaner = Cleaner()
    created = []
    consumed, published = [], []
    load_before = os.getloadavg()
    log(f"{args.count} uploads of {len(clip)} bytes to {base}; load average {load_before[0]:.2f}")
    try:
        for i in range(args.count):
            upload_id, video = upload(base, token, clip)
            created.append((upload_id, video))
            c_us, p_us = wait_job(video, args.timeout)
            consumed.append(c_us)
            published.append(p_us)
            if (i + 1) % 10 == 0:
                log(f"{i + 1}/{args.count}: last complete->consumed {c_us / 1000:.1f} ms, "
                    f"load {os.getloadavg()[0]:.2f}")
    finally:
        for upload_id, video in created:
            cleaner.safely(cleaner.prefix, f"videos/local/{video}/")
        cleaner.safely(cleaner.mcloud, created)
        shutil.rmtree(tmp, ignore_errors=True)
    res = {"date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()), "count": args.count,
           "load_before": load_before, "load_after": os.getloadavg(),
           "figures": [summary("complete -> consumed", consumed),
                       summary("complete -> published", published),
                       summary("published -> consumed", [c - p for c, p in zip(consumed, published)])]}
    print(f"| figure | n | p50 | p90 | p99 | max | load 1-min before / after |")
    print(f"|---|---|---|---|---|---|---|")
    for f in res["figures"]:
        print(f"| {f['what']} | {f['n']} | {f['p50_ms']:.1f} ms | {f['p90_ms']:.1f} ms | {f['p99_ms']:.1f} ms | "
              f"{f['max_ms']:.1f} ms | {res['load_before'][0]:.2f} / {res['load_after'][0]:.2f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
