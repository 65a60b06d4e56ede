"""webhooks.py BUILD_DIR — mcloud-api's webhooks against the real stack.

A real receiver (http.server on a free loopback port, in this process)
verifies every request's signature with the Standard Webhooks library from
PyPI (and by hand: base64 HMAC-SHA256 of id.timestamp.body). Checked:
endpoint CRUD and its problems (bad URL, scheme, credentials, unknown
event type, unknown field, wrong types → 400 naming the field; loopback
and private URLs refused by an mcloud-api without webhooks.allow_private),
the secret only in the create and rotate answers, tenancy (another tenant's
endpoint and deliveries → 404, a key without the webhooks scope → 403), a
non-media direct upload → video.failed (from the upload's outbox), a
real direct upload through tus → transcode: video.upload.completed then
video.ready, the receiver answering 500 to the first attempts (retried, in
order: ready waits behind completed), the delivery log (attempts, response
codes), replay (same webhook-id, signed again), rotation (the old secret no
longer verifies), video.deleted after DELETE, a disabled endpoint (replay
409), the endpoint's delete; a delivery answered 500 every time ends
failed after webhooks.max_attempts (a private instance with 3) and replays;
delivered and failed deliveries older than webhooks.retention_s go (rows
backdated 31 days) with their events, a pending one stays; and GET /v1/usage (the upload's known figures, a
fresh tenant's known API calls per key, bad parameters). Every answer is
validated against api/openapi.yaml."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from tusclient import client as tus_client

from apitest import Api, Mysql, Spec, caller, free_port, log, main, make_clip, new_tenant

WAIT_S = 180


class Receiver:
    """A webhook receiver: records every request; answers 500 while fail[path] > 0."""

    def __init__(self):
        self.requests = []
        self.fail = {}  # path → how many more requests get 500
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    left = outer.fail.get(self.path, 0)
                    status = 500 if left > 0 else 200
                    outer.fail[self.path] = max(0, left - 1)
                    outer.requests.append({"path": self.path, "body": body, "status": status, "at": time.time(),
                                           "headers": {k.lower(): v for k, v in self.headers.items()}})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.handler = Handler
        self.server = None
        self.resume()
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.server:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def pause(self):
        """The receiver goes away: connections to its port are refused."""
        self.stop()

    def resume(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def got(self, path):
        with self.lock:
            return [r for r in self.requests if r["path"] == path]

    def wait(self, path, pred, what, timeout=WAIT_S):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            hits = [r for r in self.got(path) if pred(r)]
            if hits:
                return hits
            time.sleep(0.2)
        log(f"timed out waiting for {what}; received: {[(r['status'], r['body'][:80]) for r in self.got(path)]}")
        return []


def by_hand(secret, r):
    key = base64.b64decode(secret[len("whsec_"):])
    h = r["headers"]
    signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + r["body"]
    want = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return want in h.get("webhook-signature", "").split(" ")


def verifies(secret, r):
    try:
        Webhook(secret).verify(r["body"], r["headers"])
        return True
    except WebhookVerificationError:
        return False


def body(checks, scratch, build_dir, cleanups):
    spec = Spec()
    api = Api(build_dir, scratch)
    cleanups.append(api.stop)
    strict = Api(build_dir, scratch, name="api-strict",
                 extra_env={"MCLOUD_WEBHOOKS_ALLOW_PRIVATE": "false", "MCLOUD_WEBHOOKS_ENABLED": "false"})
    cleanups.append(strict.stop)
    rx = Receiver()
    cleanups.append(rx.stop)
    t1, k1 = new_tenant(build_dir, "wh1")
    t2, k2 = new_tenant(build_dir, "wh2")
    log(f"tenants {t1} {t2} on {api.url}, receiver {rx.url}")

    call = caller(api, spec, checks)

    def problem(r, code, field, what):
        try:
            b = r.json()
        except ValueError:
            b = {}
        checks.check(b.get("code") == code and field in b.get("detail", ""),
                     f"{what}: problem {code} naming {field!r}", r.text[:300])

    # ---- bad bodies → 400 naming the field -------------------------------------
    log("section: bad bodies → 400 naming the field")
    bad = [({"description": "x"}, "'url'", "no url"),
           ({"url": "ftp://example.com/x"}, "'url'", "ftp scheme"),
           ({"url": "example.com/hook"}, "'url'", "not absolute"),
           ({"url": "http://user:pw@example.com/"}, "'url'", "credentials"),
           ({"url": "http://exa mple.com/"}, "'url'", "space"),
           ({"url": "http://example.com:99999/"}, "'url'", "bad port"),
           ({"url": "http://example.com/", "events": ["video.nope"]}, "'events'", "unknown event"),
           ({"url": "http://example.com/", "events": []}, "'events'", "empty events"),
           ({"url": "http://example.com/", "enabled": "yes"}, "'enabled'", "enabled not a boolean"),
           ({"url": 7}, "'url'", "url not a string"),
           ({"url": "http://example.com/", "secret": "whsec_x"}, "'secret'", "unknown field"),
           ({"url": "http://example.com/" + "a" * 2100}, "'url'", "url too long")]
    for b, field, what in bad:
        r = call("POST", "/v1/webhooks", k1, json_body=b, expect=400, what=f"bad endpoint: {what}")
        problem(r, "invalid_body", field, f"bad endpoint: {what}")
    for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]:9/", "http://localhost:9/",
                "http://169.254.169.254/latest", "http://192.168.1.1/"):
        r = call("POST", "/v1/webhooks", k1, json_body={"url": url}, expect=400, on=strict,
                 what=f"private URL refused: {url}")
        problem(r, "invalid_body", "'url'", f"private URL refused: {url}")
    n = api.call("GET", "/v1/webhooks", key=k1).json()["data"]
    checks.check(n == [], "refused bodies stored nothing", n)

    # ---- create, read, tenancy ---------------------------------------------------
    log("section: create, read, tenancy")
    r = call("POST", "/v1/webhooks", k1, json_body={"url": rx.url + "/a", "description": "hooks of t1"},
             expect=201, what="create endpoint")
    ep = r.json()
    eid, secret = ep["id"], ep["secret"]
    checks.check(secret.startswith("whsec_") and r.headers.get("Location") == f"/v1/webhooks/{eid}"
                 and ep["enabled"] is True and len(ep["events"]) == 4, "created endpoint", ep)
    r = call("GET", "/v1/webhooks", k1, expect=200)
    checks.check([e["id"] for e in r.json()["data"]] == [eid] and "secret" not in r.text,
                 "list: the endpoint, never its secret", r.text[:300])
    r = call("GET", f"/v1/webhooks/{eid}", k1, expect=200)
    checks.check("secret" not in r.json() and r.json()["url"] == rx.url + "/a", "get: no secret")
    for method, path, kw in (("GET", f"/v1/webhooks/{eid}", {}),
                             ("PATCH", f"/v1/webhooks/{eid}", {"json_body": {"enabled": False}}),
                             ("DELETE", f"/v1/webhooks/{eid}", {}),
                             ("POST", f"/v1/webhooks/{eid}/rotate-secret", {}),
                             ("GET", f"/v1/webhooks/{eid}/deliveries", {})):
        r = call(method, path, k2, expect=404, what=f"other tenant: {method} {path}", **kw)
        checks.check(rx.url not in r.text and "hooks of t1" not in r.text and "whsec_" not in r.text
                     and r.json().get("code") == "webhook_not_found",
                     f"other tenant: {method}: as absent as an unknown id, nothing leaked", r.text[:300])
    r = call("GET", "/v1/webhooks", k2, expect=200, what="other tenant's list")
    checks.check(r.json()["data"] == [], "other tenant's list is empty", r.text[:200])
    r = call("POST", "/v1/api-keys", k1, json_body={"scopes": ["videos:read", "videos:write"]}, expect=201)
    k1_videos = r.json()["key"]
    r = call("GET", "/v1/webhooks", k1_videos, expect=403, what="key without the webhooks scope")
    r = call("GET", f"/v1/webhooks/{eid}", "mck_" + "x" * 32, expect=401, what="bad key")
    r = call("GET", "/v1/webhooks/not-an-id", k1, expect=404, what="malformed endpoint id")
    r = call("GET", f"/v1/webhooks/{eid}/deliveries?limit=1000", k1, expect=400, what="huge limit")
    r = call("GET", f"/v1/webhooks/{eid}/deliveries?status=lost", k1, expect=400, what="bad status")
    r = call("GET", f"/v1/webhooks/{eid}/deliveries?cursor=forged", k1, expect=400, what="forged cursor")
    r = call("PATCH", f"/v1/webhooks/{eid}", k1, json_body={}, expect=400, what="empty PATCH")
    problem(r, "invalid_body", "nothing to change", "empty PATCH")
    # a second endpoint only for video.ready: the filter holds
    r = call("POST", "/v1/webhooks", k1, json_body={"url": rx.url + "/ready-only", "events": ["video.ready"]},
             expect=201, what="create filtered endpoint")
    eid_ready, secret_ready = r.json()["id"], r.json()["secret"]
    checks.check(r.json()["events"] == ["video.ready"], "filtered endpoint's events", r.json()["events"])

    # ---- a real upload → transcode, the first two attempts answered 500 ---------
    log("section: a real upload → transcode, the first two attempts answered 5")
    with rx.lock:
        rx.fail["/a"] = 2  # /a's first requests (video.upload.completed) fail twice
    clip = os.path.join(scratch, "clip.mp4")
    make_clip(clip)
    r = call("POST", "/v1/uploads", k1, json_body={"title": "webhook clip"}, expect=201)
    vid, token, endpoint = r.json()["video_id"], r.json()["upload"]["token"], r.json()["upload"]["endpoint"]
    tc = tus_client.TusClient(endpoint, headers={"Authorization": f"Bearer {token}"})
    tc.uploader(clip, chunk_size=256 * 1024, metadata={"filename": "clip.mp4"}).upload()
    log(f"uploaded video {vid}; waiting for its webhooks")

    def of(etype):
        return lambda q: json.loads(q["body"]).get("type") == etype and q["status"] == 200

    done = rx.wait("/a", of("video.ready"), "video.ready on /a")
    checks.check(bool(done), "video.ready delivered to /a (is mcloud-transcode running?)")
    got = rx.got("/a")
    types = [(json.loads(q["body"])["type"], q["status"]) for q in got]
    log(f"/a received: {types}")
    checks.check(types[:3] == [("video.upload.completed", 500), ("video.upload.completed", 500),
                               ("video.upload.completed", 200)],
                 "upload.completed: two 500s, then retried until 200", types)
    firsts = [t for t, _ in types]
    checks.check("video.ready" in firsts and firsts.index("video.ready") > 2,
                 "in order per video: ready only after completed succeeded", types)
    ids = {q["headers"]["webhook-id"] for q in got if json.loads(q["body"])["type"] == "video.upload.completed"}
    checks.check(len(ids) == 1, "retries carry the same webhook-id", ids)
    checks.check(all(verifies(secret, q) and by_hand(secret, q) for q in got),
                 "every request verifies (standardwebhooks library and by hand)", len(got))
    checks.check(all(not verifies(secret_ready, q) for q in got), "another endpoint's secret does not verify")
    ready = [json.loads(q["body"]) for q in got if q["status"] == 200 and json.loads(q["body"])["type"] == "video.ready"][0]
    checks.check(ready["data"]["video_id"] == vid and ready["data"]["status"] == "ready"
                 and ready["timestamp"].endswith("Z"), "video.ready payload", ready)
    only = rx.wait("/ready-only", of("video.ready"), "video.ready on /ready-only")
    checks.check(len(rx.got("/ready-only")) == 1 and only and verifies(secret_ready, only[0]),
                 "the filtered endpoint gets video.ready only, signed with its secret",
                 [q["body"][:60] for q in rx.got("/ready-only")])

    # ---- the delivery log ------------------------------------------------------------
    log("section: the delivery log")
    # the receiver has the request a moment before the sender records its answer
    deadline = time.monotonic() + 30
    while True:
        r = call("GET", f"/v1/webhooks/{eid}/deliveries", k1, expect=200, what="delivery log")
        log_ = {d["event_type"]: d for d in r.json()["data"]}
        if time.monotonic() > deadline or all(d["status"] == "delivered" for d in log_.values()):
            break
        time.sleep(0.2)
    c = log_.get("video.upload.completed", {})
    checks.check(c.get("status") == "delivered" and c.get("attempts") == 3 and c.get("response_code") == 200
                 and c.get("video_id") == vid and c.get("event_id") in ids,
                 "log: completed delivered after 3 attempts", c)
    checks.check(log_.get("video.ready", {}).get("status") == "delivered", "log: ready delivered",
                 log_.get("video.ready"))
    r = call("GET", f"/v1/webhooks/{eid}/deliveries?limit=1", k1, expect=200, what="log page 1")
    p1 = r.json()
    checks.check(len(p1["data"]) == 1 and p1["next_cursor"], "log: a page of one with a cursor", p1)
    r = call("GET", f"/v1/webhooks/{eid}/deliveries?limit=1&cursor={p1['next_cursor']}", k1, expect=200,
             what="log page 2")
    checks.check(r.json()["data"] and r.json()["data"][0]["id"] != p1["data"][0]["id"], "log: page 2 differs")
    r = call("GET", f"/v1/webhooks/{eid_ready}/deliveries?cursor={p1['next_cursor']}", k1, expect=400,
             what="another endpoint's cursor")
    r = call("GET", f"/v1/webhooks/{eid}/deliveries?status=failed", k1, expect=200, what="status filter")
    checks.check(r.json()["data"] == [], "log: no failed delivery", r.text[:200])

    # ---- replay, rotation --------------------------------------------------------------
    log("section: replay, rotation")
    ready_d = log_["video.ready"]
    before = len(rx.got("/a"))
    r = call("POST", f"/v1/webhooks/{eid}/deliveries/{ready_d['id']}/retry", k2, expect=404,
             what="other tenant's replay")
    r = call("POST", f"/v1/webhooks/{eid}/deliveries/dlv_nope/retry", k1, expect=404, what="unknown delivery")
    r = call("POST", f"/v1/webhooks/{eid}/rotate-secret", k1, expect=200, what="rotate")
    new_secret = r.json()["secret"]
    checks.check(new_secret.startswith("whsec_") and new_secret != secret, "rotation: a new secret")
    r = call("POST", f"/v1/webhooks/{eid}/deliveries/{ready_d['id']}/retry", k1, expect=202, what="replay")
    checks.check(r.json()["status"] == "pending" and r.json()["id"] == ready_d["id"], "replay: pending again",
                 r.text[:300])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(rx.got("/a")) <= before:
        time.sleep(0.2)
    again = rx.got("/a")[before:]
    checks.check(len(again) == 1 and again[0]["headers"]["webhook-id"] == ready_d["event_id"]
                 and json.loads(again[0]["body"])["type"] == "video.ready",
                 "replay: the same event again, same webhook-id", [q["headers"] for q in again])
    checks.check(again and verifies(new_secret, again[0]) and not verifies(secret, again[0]),
                 "replay: signed with the new secret only")
    deadline = time.monotonic() + 30
    while True:
        r = call("GET", f"/v1/webhooks/{eid}/deliveries?status=delivered&limit=100", k1, expect=200)
        rd = [d for d in r.json()["data"] if d["id"] == ready_d["id"]]
        if rd or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    checks.check(rd and rd[0]["attempts"] == ready_d["attempts"] + 1, "replay: counted in the log", rd)

    # ---- a video failed at upload (not a media file): video.failed from the upload ------
    log("section: a video failed at upload (not a media file): video.failed fr")
    # (mcloud-upload's outbox → mcloud.video.events; on t2, whose usage is not counted)
    r = call("POST", "/v1/webhooks", k2, json_body={"url": rx.url + "/b"}, expect=201, what="t2 endpoint")
    secret_b = r.json()["secret"]
    junk = os.path.join(scratch, "notes.txt")
    with open(junk, "wb") as f:
        f.write(b"these are not the frames you are looking for\n" * 200)
    r = call("POST", "/v1/uploads", k2, json_body={"title": "not a video"}, expect=201, what="t2 reservation")
    bad_vid, token = r.json()["video_id"], r.json()["upload"]["token"]
    tc = tus_client.TusClient(r.json()["upload"]["endpoint"], headers={"Authorization": f"Bearer {token}"})
    tc.uploader(junk, chunk_size=256 * 1024, metadata={"filename": "notes.txt"}).upload()
    failed = rx.wait("/b", of("video.failed"), "video.failed on /b", timeout=60)
    fb = json.loads(failed[0]["body"]) if failed else {}
    checks.check(fb.get("data", {}).get("video_id") == bad_vid and fb["data"].get("status") == "failed"
                 and fb["data"].get("failure_reason") and verifies(secret_b, failed[0]),
                 "a non-media upload: video.failed with its reason, signed", fb)
    r = call("GET", f"/v1/videos/{bad_vid}", k2, expect=200, what="the failed video")
    checks.check(r.json()["status"] == "failed" and r.json()["failure_reason"] == fb.get("data", {}).get("failure_reason"),
                 "the API's failure reason is the webhook's", r.text[:300])
    time.sleep(0.5)  # anything else for /b would have come with it
    checks.check([json.loads(q["body"])["type"] for q in rx.got("/b")] == ["video.failed"],
                 "no video.upload.completed for a video that never became media",
                 [q["body"][:80] for q in rx.got("/b")])
    checks.check(not [q for q in rx.got("/a") if bad_vid.encode() in q["body"]], "t1's endpoint saw nothing of t2")

    # ---- playback counted for the usage: known requests through the stream ------------
    log("section: playback counted for the usage: known requests through the s")
    import requests
    r = call("GET", f"/v1/videos/{vid}/playback?ttl=600", k1, expect=200, what="playback for the usage")
    pb = r.json()
    master = requests.get(pb["hls"], timeout=30)
    mp4 = next(iter(pb["mp4"].values()), None) if isinstance(pb.get("mp4"), dict) else None
    ranged = requests.get(mp4, headers={"Range": "bytes=0-999"}, timeout=30) if mp4 else None
    head = requests.head(mp4, timeout=30) if mp4 else None
    checks.check(master.status_code == 200 and ranged is not None and ranged.status_code == 206
                 and len(ranged.content) == 1000 and head.status_code == 200,
                 "playback for the usage: the master, 1000 bytes of an MP4 and a HEAD answered",
                 [master.status_code, ranged and ranged.status_code, head and head.status_code])
    played_bytes = len(master.content) + 1000

    # ---- delete the video: video.deleted ------------------------------------------------
    log("section: delete the video: video.deleted")
    call("DELETE", f"/v1/videos/{vid}", k1, expect=204)
    gone = rx.wait("/a", of("video.deleted"), "video.deleted on /a", timeout=60)
    checks.check(gone and json.loads(gone[0]["body"])["data"]["video_id"] == vid
                 and verifies(new_secret, gone[0]), "video.deleted delivered and signed")
    checks.check(not [q for q in rx.got("/ready-only") if b"video.deleted" in q["body"]],
                 "the filter keeps video.deleted from /ready-only")

    # ---- usage: t1's known media figures, t3's known API calls ---------------------
    log("section: usage: t1's known media figures, t3's known API calls")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    yesterday = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400))

    def total(field):
        return sum(d[field] for d in u.get("data", []))
    # mcloud-stream flushes its playback counts once a second: wait (bounded)
    deadline = time.monotonic() + 30
    while True:
        r = call("GET", f"/v1/usage?from={yesterday}&to={today}&granularity=day", k1, expect=200, what="usage")
        u = r.json()
        if total("playback_requests") >= 3 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    checks.check(total("playback_requests") == 3 and total("bytes_served") == played_bytes,
                 f"usage: the 3 playback requests and their {played_bytes} bytes (a HEAD sends none)",
                 [total("playback_requests"), total("bytes_served")])
    checks.check(len(u.get("data", [])) == 2 and u["data"][-1]["date"] == today, "usage: one row per day", u)
    checks.check(total("videos_created") == 1 and total("videos_deleted") == 1 and total("uploads_completed") == 1
                 and total("bytes_uploaded") == os.path.getsize(clip),
                 "usage: one video created, uploaded (its bytes) and deleted", u)
    checks.check(abs(total("minutes_uploaded") - 2 / 60) < 0.01 and abs(total("minutes_transcoded") - 2 / 60) < 0.01,
                 "usage: the 2 s clip's minutes uploaded and transcoded", u)
    checks.check(u.get("bytes_stored") == 0, "usage: nothing stored once the video is deleted", u.get("bytes_stored"))
    t3, k3 = new_tenant(build_dir, "wh3")
    r = call("GET", "/v1/api-keys", k3, expect=200, what="t3's keys")
    k3_id = r.json()["data"][0]["id"]
    for _ in range(5):
        call("GET", "/v1/videos", k3, expect=200)
    r = call("GET", "/v1/usage", k3, expect=200, what="t3's usage")
    calls = {d["date"]: d for d in r.json()["data"]}.get(today, {})
    checks.check(calls.get("api_calls_by_key") == {k3_id: 7} and calls.get("api_calls") == 7,
                 "usage: API calls per key (1 + 5 + this one)", calls)
    checks.check(len(r.json()["data"]) == 30 and calls.get("videos_created") == 0, "usage: 30 days by default")
    for qs, what in (("granularity=hour", "granularity"), ("from=2026-02-30x", "from"), ("to=soon", "to"),
                     (f"from={today}&to={yesterday}", "from"), ("from=2020-01-01&to=2021-01-01", "span"),
                     ("limit=3", "limit")):
        r = call("GET", f"/v1/usage?{qs}", k3, expect=400, what=f"usage: bad {what}")
        problem(r, "invalid_query", what if what != "span" else "92 days", f"usage: bad {what}")
    call("GET", "/v1/usage", k1_videos, expect=200, what="usage needs videos:read only")

    # ---- an endpoint that keeps failing is disabled (40 failed attempts in a row on the
    log("section: an endpoint that keeps failing is disabled (40 failed attemp")
    # stack: 8 deliveries failing in parallel, ~5 attempts each), then re-enabled
    r = call("POST", "/v1/webhooks", k3, json_body={"url": rx.url + "/down"}, expect=201, what="t3 endpoint")
    eid3 = r.json()["id"]
    with rx.lock:
        rx.fail["/down"] = 100000
    for _ in range(8):
        r = call("POST", "/v1/uploads", k3, json_body={}, expect=201, what="t3 reservation")
        call("DELETE", f"/v1/videos/{r.json()['video_id']}", k3, expect=204, what="t3 delete: an event")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ep3 = call("GET", f"/v1/webhooks/{eid3}", k3, expect=200, what="t3 endpoint state").json()
        if not ep3["enabled"]:
            break
        time.sleep(0.5)
    time.sleep(0.5)  # a sender's batch already claimed finishes
    n_failed = len(rx.got("/down"))
    checks.check(not ep3["enabled"] and "failed attempts in a row" in (ep3["disabled_reason"] or "")
                 and n_failed >= 40, "40 failed attempts in a row disable the endpoint", (ep3, n_failed))
    # an attempt a sender claimed before the disable ends a moment later (longer under
    # load): wait, bounded, for every delivery to settle as held
    def held_now():
        data = call("GET", f"/v1/webhooks/{eid3}/deliveries?limit=100", k3, expect=200).json()["data"]
        ok = len(data) == 8 and all(d["status"] == "pending" and d["response_code"] == 500 for d in data)
        return ok, data
    deadline = time.monotonic() + 30
    ok, held = held_now()
    while not ok and time.monotonic() < deadline:
        time.sleep(0.5)
        ok, held = held_now()
    checks.check(ok, "its deliveries are held, not dropped",
                 [d for d in held if d["status"] != "pending" or d["response_code"] != 500][:3] or held[:2])
    time.sleep(1.5)
    checks.check(len(rx.got("/down")) == n_failed, "a disabled endpoint gets nothing",
                 (n_failed, len(rx.got("/down"))))
    with rx.lock:
        rx.fail["/down"] = 0
    call("PATCH", f"/v1/webhooks/{eid3}", k3, json_body={"enabled": True}, expect=200, what="re-enable")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len([q for q in rx.got("/down") if q["status"] == 200]) < 8:
        time.sleep(0.2)
    ok3 = [q for q in rx.got("/down") if q["status"] == 200]
    checks.check(len(ok3) == 8 and all(b"video.deleted" in q["body"] for q in ok3),
                 "re-enabled: the 8 held events are delivered", len(ok3))

    # ---- disable, patch, delete -------------------------------------------------------------
    log("section: disable, patch, delete")
    r = call("PATCH", f"/v1/webhooks/{eid}", k1, json_body={"enabled": False, "events": ["video.failed"]},
             expect=200, what="disable")
    checks.check(r.json()["enabled"] is False and r.json()["events"] == ["video.failed"]
                 and r.json()["disabled_reason"], "disabled, filter changed", r.text[:300])
    r = call("POST", f"/v1/webhooks/{eid}/deliveries/{ready_d['id']}/retry", k1, expect=409,
             what="replay on a disabled endpoint")
    problem(r, "webhook_disabled", "disabled", "replay on a disabled endpoint")
    r = call("PATCH", f"/v1/webhooks/{eid}", k1, json_body={"enabled": True}, expect=200, what="enable")
    checks.check(r.json()["enabled"] is True and r.json()["disabled_reason"] is None, "enabled again")
    call("DELETE", f"/v1/webhooks/{eid}", k1, expect=204, what="delete endpoint")
    call("GET", f"/v1/webhooks/{eid}", k1, expect=404, what="deleted endpoint")
    call("DELETE", f"/v1/webhooks/{eid}", k1, expect=404, what="delete twice")
    call("DELETE", f"/v1/webhooks/{eid_ready}", k1, expect=204, what="delete filtered endpoint")

    # ---- max attempts: a receiver answering 500 forever → the delivery ends failed ----------
    log("section: max attempts: a receiver answering 500 forever → the deliver")
    # This instance gives up at 3 attempts; the stack's and `api` keep 24, so
    # whichever sender makes an attempt at or past the 3rd of a row here ends it
    # (this one looks every 20 ms, so it mostly takes a due row first).
    short = Api(build_dir, scratch, name="api-max3",
                extra_env={"MCLOUD_WEBHOOKS_MAX_ATTEMPTS": "3", "MCLOUD_WEBHOOKS_POLL_MS": "20"})
    cleanups.append(short.stop)
    t4, k4 = new_tenant(build_dir, "wh4")
    r = call("POST", "/v1/webhooks", k4, json_body={"url": rx.url + "/always500"}, expect=201, on=short,
             what="t4 endpoint")
    eid4 = r.json()["id"]
    with rx.lock:
        rx.fail["/always500"] = 10 ** 6
    r = call("POST", "/v1/uploads", k4, json_body={}, expect=201, on=short, what="t4 reservation")
    call("DELETE", f"/v1/videos/{r.json()['video_id']}", k4, expect=204, on=short, what="t4 delete: an event")
    deadline = time.monotonic() + 90
    while True:
        d4 = call("GET", f"/v1/webhooks/{eid4}/deliveries", k4, expect=200, on=short, what="t4 log").json()["data"]
        if (d4 and d4[0]["status"] == "failed") or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    hits = rx.got("/always500")
    checks.check(len(d4) == 1 and d4[0]["status"] == "failed" and d4[0]["attempts"] >= 3
                 and d4[0]["response_code"] == 500, "a delivery answered 500 every time ends failed", d4)
    if not d4:
        return
    checks.check(len(hits) == d4[0]["attempts"] and all(q["status"] == 500 for q in hits)
                 and {q["headers"]["webhook-id"] for q in hits} == {d4[0]["event_id"]},
                 "failed after exactly its logged attempts, all under one webhook-id",
                 (len(hits), d4[0]["attempts"]))
    time.sleep(1.0)
    checks.check(len(rx.got("/always500")) == len(hits), "a failed delivery is not sent again by itself")
    r = call("GET", f"/v1/webhooks/{eid4}/deliveries?status=failed", k4, expect=200, on=short,
             what="log: failed filter")
    checks.check([d["id"] for d in r.json()["data"]] == [d4[0]["id"]], "log: the failed filter finds it")
    with rx.lock:
        rx.fail["/always500"] = 0
    r = call("POST", f"/v1/webhooks/{eid4}/deliveries/{d4[0]['id']}/retry", k4, expect=202, on=short,
             what="replay a failed delivery")
    checks.check(r.json()["status"] == "pending", "replay: the failed delivery is pending again", r.text[:200])
    ok4 = rx.wait("/always500", lambda q: q["status"] == 200, "the replayed delivery", timeout=60)
    checks.check(ok4 and ok4[0]["headers"]["webhook-id"] == d4[0]["event_id"],
                 "replay: delivered under the same webhook-id")
    deadline = time.monotonic() + 30
    while True:
        d4r = call("GET", f"/v1/webhooks/{eid4}/deliveries", k4, expect=200, on=short).json()["data"]
        if d4r[0]["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    checks.check(d4r[0]["status"] == "delivered" and d4r[0]["attempts"] == d4[0]["attempts"] + 1
                 and d4r[0]["response_code"] == 200, "replay: logged delivered, one attempt more", d4r)

    cleanups.remove(short.stop)  # from here on every sender retries 24 times: /held's stays pending
    problem_ = short.stop()
    checks.check(not problem_, "api-max3 stopped cleanly", problem_)

    # ---- retention: delivered and failed deliveries older than webhooks.retention_s
    log("section: retention: delivered and failed deliveries older than webhoo")
    # (30 days by default) are removed with their events; a pending one stays ---------
    short = api
    db = Mysql()
    r = call("POST", "/v1/webhooks", k4, json_body={"url": rx.url + "/held"}, expect=201, on=short,
             what="t4 held endpoint")
    eid_held = r.json()["id"]
    with rx.lock:
        rx.fail["/held"] = 10 ** 6
    r = call("POST", "/v1/uploads", k4, json_body={}, expect=201, on=short, what="t4 second reservation")
    v5 = r.json()["video_id"]
    call("DELETE", f"/v1/videos/{v5}", k4, expect=204, on=short, what="t4 second delete")
    # the event reaches the endpoints through Kafka; once /held failed once,
    # disabled: its delivery stays pending
    rx.wait("/held", lambda q: v5.encode() in q["body"], "v5's video.deleted at /held")
    call("PATCH", f"/v1/webhooks/{eid_held}", k4, json_body={"enabled": False}, expect=200, on=short)
    rx.wait("/always500", lambda q: v5.encode() in q["body"] and q["status"] == 200, "v5's video.deleted")
    deadline = time.monotonic() + 30
    while True:
        by_status = {d["status"] for d in call("GET", f"/v1/webhooks/{eid4}/deliveries", k4, expect=200,
                                               on=short).json()["data"]}
        if by_status == {"delivered"} or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    checks.check(by_status == {"delivered"}, "before the sweep: two delivered deliveries", by_status)
    n_before = int(db.query(f"SELECT COUNT(*) FROM webhook_events WHERE tenant_id = '{t4}'")[0][0])
    checks.check(n_before == 2, "before the sweep: t4's two events", n_before)
    old = "UTC_TIMESTAMP(6) - INTERVAL 31 DAY"
    # the events first: a sweep between the two statements then finds old
    # events still named by recent deliveries (kept), never old deliveries
    # of recent events (their events left for the next sweep, minutes later)
    db.query(f"UPDATE webhook_events SET created_at = {old} WHERE tenant_id = '{t4}'")
    db.query(f"UPDATE webhook_deliveries SET created_at = {old}, last_attempt_at = {old}, "
             f"next_attempt_at = {old} WHERE tenant_id = '{t4}'")
    deadline = time.monotonic() + 30
    while True:
        left = call("GET", f"/v1/webhooks/{eid4}/deliveries", k4, expect=200, on=short).json()["data"]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    checks.check(left == [], "the sweep removed the old delivered deliveries", left)
    held = call("GET", f"/v1/webhooks/{eid_held}/deliveries", k4, expect=200, on=short).json()["data"]
    checks.check(len(held) == 1 and held[0]["status"] == "pending" and held[0]["video_id"] == v5,
                 "an old pending delivery stays", held)
    deadline = time.monotonic() + 30  # the same sweep deletes the events right after the deliveries
    while True:
        ev_left = db.query(f"SELECT video_id FROM webhook_events WHERE tenant_id = '{t4}'")
        if ev_left == [[v5]] or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    checks.check(ev_left == [[v5]], "events go with their last delivery; the held one's stays", ev_left)


if __name__ == "__main__":
    sys.exit(main(body, sys.argv[1], "webhooks"))
