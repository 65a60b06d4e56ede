"""bench_webhook_latency.py BUILD_DIR [VIDEOS] — webhook latency: the moment
the transcoder announces a video ready (its done event produced to Kafka)
→ the moment a receiver on loopback has the signed video.ready request,
p50/p99 over VIDEOS videos (default 50; target p99 <= 1 s). A private
mcloud-api consumes private topics; the done events are produced with kcat
one every 200 ms, as a transcoder would. The peer in the same run: a plain
POST of the same body from this process to the same receiver (the floor of
the last hop). The load average is printed beside each figure."""

import json
import os
import sys
import tempfile
import time
import uuid

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration", "api"))
from apitest import Api, new_tenant  # noqa: E402
from webhooks import Receiver  # noqa: E402
from webhooks_kill import produce, wait_log  # noqa: E402


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] * 1000


def main():
    build_dir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    run = uuid.uuid4().hex[:10]
    env = {"MCLOUD_VIDEO_EVENTS_TOPIC": f"wh.{run}.video", "MCLOUD_TRANSCODE_EVENTS_TOPIC": f"wh.{run}.events",
           "MCLOUD_WEBHOOKS_GROUP": f"wh.{run}"}
    scratch = tempfile.mkdtemp(prefix="mcloud-bench-wh-")
    rx = Receiver()
    api = Api(build_dir, scratch, name="api-bench-wh", extra_env=env)
    try:
        if not wait_log(api, "kafka partitions assigned"):
            raise RuntimeError("mcloud-api did not join its group")
        tenant, key = new_tenant(build_dir, "benchwh")
        r = api.call("POST", "/v1/webhooks", key=key, json_body={"url": rx.url + "/b", "events": ["video.ready"]})
        r.raise_for_status()
        sent = {}
        for _ in range(n):
            vid, job = str(uuid.uuid4()), str(uuid.uuid4())
            msg = json.dumps({"v": 1, "type": "done", "job_id": job, "video_id": vid, "tenant": tenant,
                              "attempt": 1, "worker": "bench", "ts_ms": int(time.time() * 1000),
                              "prefix": "p", "master": "m", "duration_s": 2.0})
            sent[vid] = time.time()
            produce(env["MCLOUD_TRANSCODE_EVENTS_TOPIC"], [(vid, msg)])
            time.sleep(0.2)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(rx.got("/b")) < n:
            time.sleep(0.1)
        got = rx.got("/b")
        lat = [q["at"] - sent[json.loads(q["body"])["data"]["video_id"]] for q in got]
        if len(lat) != n:
            raise RuntimeError(f"{len(lat)} of {n} video.ready requests arrived")
        s = requests.Session()
        floor = []
        for _ in range(n):
            t0 = time.time()
            s.post(rx.url + "/floor", data=got[0]["body"], headers={"Content-Type": "application/json"}, timeout=10)
            floor.append(time.time() - t0)
        print(f"webhook latency, done event -> receiver: p50 {pct(lat, 0.5):.1f} ms  p99 {pct(lat, 0.99):.1f} ms  "
              f"over {n} videos (target p99 <= 1000 ms; load {loadavg()})")
        print(f"peer, a direct POST to the same receiver: p50 {pct(floor, 0.5):.1f} ms  p99 {pct(floor, 0.99):.1f} ms "
              f"(load {loadavg()})")
        print(f"ratio p99 webhook / direct POST: {pct(lat, 0.99) / max(pct(floor, 0.99), 0.001):.0f}x "
              f"(load {loadavg()})")
    finally:
        problem = api.stop()
        rx.stop()
        if problem:
            print(problem, file=sys.stderr)


if __name__ == "__main__":
    main()
