"""webhooks_kill.py BUILD_DIR — no webhook event is lost when the receiver
or mcloud-api dies.

A private mcloud-api consumes private topics (wh.<id>.video / .events, its
own consumer group); this test plays the upload service and the transcoder
by producing upload-completed and done messages with kcat for 12 videos, in three
batches: the first while everything runs, the second while the receiver is
down (connection refused: every attempt fails and is retried), the third
after mcloud-api was SIGKILLed right after the second batch and started
again. The receiver (back up) must get every event's webhook-id — the ids
are derived from the job ids, so the test knows them — with a valid
Standard Webhooks signature, each video's video.upload.completed before its
video.ready, and any duplicate only under the same webhook-id. (The
deliveries live in MySQL: any mcloud-api of the stack may send them; the
third batch can only be ingested by the restarted instance.)"""

import hashlib
import json
import os
import subprocess
import sys
import time
import uuid

from apitest import ENV, Api, log, main, new_tenant
from webhooks import Receiver, verifies
from kafka_topics import delete_topics  # tests/support

VIDEOS = 12
WAIT_S = 120


def event_id(etype, job):
    return "evt_" + hashlib.sha256(f"{etype}|{job}".encode()).hexdigest()[:32]


def produce(topic, lines):
    """lines: (key, value) pairs, sent in one kcat run."""
    text = "".join(f"{k}\t{v}\n" for k, v in lines)
    r = subprocess.run(["kcat", "-P", "-b", ENV["MCLOUD_KAFKA"], "-t", topic, "-K", "\t"], input=text,
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"kcat produce to {topic}: {r.stderr}")


def wait_log(api, needle, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in api.text():
            return True
        time.sleep(0.2)
    return False


def body(checks, scratch, build_dir, cleanups):
    run = uuid.uuid4().hex[:10]
    video_events, events = f"wh.{run}.video", f"wh.{run}.events"
    env = {"MCLOUD_VIDEO_EVENTS_TOPIC": video_events, "MCLOUD_TRANSCODE_EVENTS_TOPIC": events,
           "MCLOUD_WEBHOOKS_GROUP": f"wh.{run}"}
    cleanups.append(lambda: delete_topics([video_events, events], build_dir))  # runs last
    rx = Receiver()
    cleanups.append(rx.stop)
    api = Api(build_dir, scratch, name="api-1", extra_env=env)
    cleanups.append(api.stop)
    tenant, key = new_tenant(build_dir, "whk")
    if not checks.check(wait_log(api, "kafka partitions assigned"), "mcloud-api joined its group",
                        api.text()[-2000:]):
        return
    r = api.call("POST", "/v1/webhooks", key=key, json_body={"url": rx.url + "/k"})
    if not checks.check(r.status_code == 201, "endpoint created", r.text[:300]):
        return
    secret = r.json()["secret"]
    videos = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(VIDEOS)]  # (video, job)

    def batch(part):
        job_msgs, done_msgs = [], []
        for vid, job in part:
            job_msgs.append((vid, json.dumps({"v": 1, "type": "video.upload.completed", "job_id": job,
                                              "video_id": vid, "tenant": tenant, "upload_id": "u" + job[:8]})))
            done_msgs.append((vid, json.dumps({"v": 1, "type": "done", "job_id": job, "video_id": vid,
                                               "tenant": tenant, "attempt": 1, "worker": "test",
                                               "ts_ms": int(time.time() * 1000), "prefix": "p",
                                               "master": "m", "duration_s": 2.0})))
        produce(video_events, job_msgs)
        produce(events, done_msgs)

    third = VIDEOS // 3
    batch(videos[:third])
    got_first = rx.wait("/k", lambda q: q["status"] == 200, "a first delivery", timeout=60)
    checks.check(bool(got_first), "the first batch is being delivered")
    rx.pause()
    log("receiver down; second batch, then SIGKILL mcloud-api")
    batch(videos[third:2 * third])
    time.sleep(1.0)
    cleanups.remove(api.stop)  # killed on purpose: its exit status is checked here instead
    api.proc.kill()
    api.proc.wait()
    checks.check(api.proc.returncode == -9, "mcloud-api was SIGKILLed", api.proc.returncode)
    api.logf.close()
    api2 = Api(build_dir, scratch, name="api-2", extra_env=env)
    cleanups.append(api2.stop)
    batch(videos[2 * third:])
    time.sleep(1.0)
    rx.resume()
    log("receiver up again; waiting for every event")
    want = {event_id(t, job): (t, vid) for vid, job in videos
            for t in ("video.upload.completed", "video.ready")}
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        ok = {q["headers"]["webhook-id"] for q in rx.got("/k") if q["status"] == 200}
        if set(want) <= ok:
            break
        time.sleep(0.3)
    reqs = rx.got("/k")
    delivered = {q["headers"]["webhook-id"] for q in reqs if q["status"] == 200}
    missing = [want[i] for i in set(want) - delivered]
    checks.check(not missing, f"every one of the {len(want)} events delivered", missing[:6])
    checks.check({q["headers"]["webhook-id"] for q in reqs} <= set(want),
                 "no request under an unknown webhook-id (duplicates only under the same id)")
    checks.check(all(verifies(secret, q) for q in reqs), "every request verifies", len(reqs))
    bodies_ok = all(json.loads(q["body"])["type"] == want[q["headers"]["webhook-id"]][0]
                    and json.loads(q["body"])["data"]["video_id"] == want[q["headers"]["webhook-id"]][1]
                    for q in reqs if q["headers"]["webhook-id"] in want)
    checks.check(bodies_ok, "each webhook-id always carries its own event")
    out_of_order = []
    for vid, job in videos:
        order = [i for i, q in enumerate(reqs) if q["status"] == 200 and q["headers"]["webhook-id"] in
                 (event_id("video.upload.completed", job), event_id("video.ready", job))]
        first_ready = next((i for i in order if reqs[i]["headers"]["webhook-id"] == event_id("video.ready", job)), None)
        first_done = next((i for i in order if reqs[i]["headers"]["webhook-id"] ==
                           event_id("video.upload.completed", job)), None)
        if first_ready is None or first_done is None or first_ready < first_done:
            out_of_order.append(vid)
    checks.check(not out_of_order, "per video: upload.completed delivered before ready", out_of_order)
    ok = [q for q in reqs if q["status"] == 200]
    log(f"{len(ok)} requests answered 2xx for {len(delivered)} events "
        f"({len(ok) - len(delivered)} duplicates under the same webhook-id)")


if __name__ == "__main__":
    sys.exit(main(body, sys.argv[1], "webhooks_kill"))
