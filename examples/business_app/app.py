#!/usr/bin/env python3
"""app.py FILE [--title T] [--webhook HOST:PORT] — a business app's backend
driving mcloud over its REST API, the way an app that knows Mux or api.video
would:

1. POST /v1/uploads (with an Idempotency-Key: a retried request reserves no
   second video) -> a video id, the tus endpoint and a token for that one
   upload;
2. the bytes go over tus (tuspy), as the app's own client would send them
   (resumable: a broken connection resumes from the server's offset);
3. GET /v1/videos/{id} polled until the video is ready (or failed), with
   its transcoding progress; or, with --webhook, the push variant: the app
   listens on HOST:PORT, registers it (POST /v1/webhooks, events
   video.ready and video.failed), verifies each delivery's Standard
   Webhooks signature with the `standardwebhooks` library, waits for its
   video's video.ready, and removes the endpoint at the end (the server
   must allow the address: webhooks.allow_private for loopback);
4. GET /v1/videos/{id}/playback -> the signed page, HLS, MP4 and poster URLs;
5. ffprobe plays the HLS: its streams and duration.

Settings: MCLOUD_API_URL and MCLOUD_API_KEY (`eval "$(scripts/stack.sh env)"`
prints both; `mcloud tenant create NAME` or `mcloud apikey create` make a
key). The last line on stdout is a JSON summary:
{"video_id", "status", "playback": {...}, "probe": {"duration_s", "streams"}}.
Exit 0 when the HLS plays, 1 on any failure (the reason on stderr).
Needs: requests, tuspy (pip install requests tuspy; standardwebhooks for
--webhook), ffprobe (ffmpeg)."""

import argparse
import http.server
import json
import os
import queue
import subprocess
import sys
import threading
import time
import uuid

import requests
from tusclient import client as tus

POLL_S = 1.0
WAIT_S = 900


class ApiError(Exception):
    pass


class Mcloud:
    """A few lines of client: the key on every request, problems as errors."""

    def __init__(self, url, key):
        self.url = url.rstrip("/")
        self.s = requests.Session()
        self.s.headers["Authorization"] = f"Bearer {key}"

    def call(self, method, path, body=None, headers=None):
        r = self.s.request(method, self.url + path, json=body, headers=headers or {}, timeout=30)
        if r.status_code == 429:  # rate limited: the API says when to come back
            time.sleep(float(r.headers.get("Retry-After", "1")))
            return self.call(method, path, body, headers)
        if r.status_code >= 400:
            try:
                p = r.json()
                detail = f"{p.get('code')}: {p.get('detail')}"
            except ValueError:
                detail = r.text[:300]
            raise ApiError(f"{method} {path} answered {r.status_code} {detail}")
        return r.json() if r.content else None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def upload(api, path, title):
    created = api.call("POST", "/v1/uploads",
                       {"title": title, "max_size_bytes": os.path.getsize(path),
                        "metadata": {"source": "examples/business_app"}},
                       headers={"Idempotency-Key": str(uuid.uuid4())})
    video_id, up = created["video_id"], created["upload"]
    log(f"video {video_id} reserved; uploading {path} to {up['endpoint']} ({up['protocol']})")
    c = tus.TusClient(up["endpoint"], headers={"Authorization": f"Bearer {up['token']}"})
    c.uploader(file_path=path, chunk_size=4 * 1024 * 1024, metadata={"filename": os.path.basename(path)},
               retries=5, retry_delay=1).upload()
    log(f"video {video_id}: uploaded")
    return video_id


def wait_ready(api, video_id):
    deadline, last = time.monotonic() + WAIT_S, None
    while time.monotonic() < deadline:
        v = api.call("GET", f"/v1/videos/{video_id}")
        line = f"{v['status']} {int((v.get('progress') or 0) * 100)}%"
        if line != last:
            log(f"video {video_id}: {line}")
            last = line
        if v["status"] == "ready":
            return v
        if v["status"] == "failed":
            raise ApiError(f"video {video_id} failed: {v.get('failure_reason')}")
        time.sleep(POLL_S)
    raise ApiError(f"video {video_id} not ready after {WAIT_S} s")


class Receiver:
    """The app's webhook endpoint: verifies every delivery, queues the events."""

    def __init__(self, addr):
        from standardwebhooks.webhooks import Webhook  # only this mode needs it
        self.Webhook, self.secret, self.events = Webhook, None, queue.Queue()
        host, port = addr.rsplit(":", 1)
        me = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    event = me.Webhook(me.secret).verify(body, {k.lower(): v for k, v in self.headers.items()})
                except Exception as e:  # a forged or garbled delivery: refused, never acted on
                    log(f"webhook: refused a delivery ({e})")
                    self.send_response(401)
                    self.end_headers()
                    return
                self.send_response(204)
                self.end_headers()
                me.events.put((self.headers.get("webhook-id"), event))

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer((host, int(port)), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/mcloud-hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def wait_ready_webhook(api, receiver, video_id):
    """Waits for this video's video.ready (deliveries are at least once:
    the same webhook-id may come twice, and other videos' events are skipped)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            hook_id, event = receiver.events.get(timeout=5)
        except queue.Empty:
            continue
        data = event.get("data", {})
        log(f"webhook {hook_id}: {event.get('type')} for video {data.get('video_id')}")
        if data.get("video_id") != video_id:
            continue
        if event.get("type") == "video.ready":
            return api.call("GET", f"/v1/videos/{video_id}")
        if event.get("type") == "video.failed":
            raise ApiError(f"video {video_id} failed (webhook {hook_id})")
    raise ApiError(f"no video.ready webhook for {video_id} after {WAIT_S} s")


def probe(hls_url):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,codec_name,width,height",
                        "-of", "json", hls_url], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise ApiError(f"ffprobe could not play {hls_url}: {r.stderr.strip()[-500:]}")
    doc = json.loads(r.stdout)
    streams = [{k: s[k] for k in ("codec_type", "codec_name", "width", "height") if k in s}
               for s in doc.get("streams", [])]
    return {"duration_s": float(doc["format"]["duration"]), "streams": streams}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--title", default=None)
    ap.add_argument("--webhook", metavar="HOST:PORT", help="wait for video.ready by webhook, listening here")
    args = ap.parse_args()
    url, key = os.environ.get("MCLOUD_API_URL"), os.environ.get("MCLOUD_API_KEY")
    for name, value in (("MCLOUD_API_URL", url), ("MCLOUD_API_KEY", key)):
        if not value:
            log(f"{name} is not set (eval \"$(scripts/stack.sh env)\" prints it)")
            return 1
    api = Mcloud(url, key)
    receiver, endpoint = None, None
    try:
        if args.webhook:
            receiver = Receiver(args.webhook)
            ep = api.call("POST", "/v1/webhooks", {"url": receiver.url, "events": ["video.ready", "video.failed"]})
            endpoint, receiver.secret = ep["id"], ep["secret"]
            log(f"webhook endpoint {endpoint} registered: {receiver.url}")
        video_id = upload(api, args.file, args.title or os.path.basename(args.file))
        if receiver:
            wait_ready_webhook(api, receiver, video_id)
        else:
            wait_ready(api, video_id)
        playback = api.call("GET", f"/v1/videos/{video_id}/playback?ttl=3600")
        log(f"video {video_id}: HLS {playback['hls']}")
        played = probe(playback["hls"])
        log(f"video {video_id}: ffprobe plays {played['duration_s']:.1f} s, "
            + ", ".join(f"{s['codec_type']} {s['codec_name']}" for s in played["streams"]))
    except (ApiError, requests.RequestException, OSError, ImportError) as e:
        log(f"app: {e}")
        return 1
    finally:
        if endpoint:
            try:
                api.call("DELETE", f"/v1/webhooks/{endpoint}")
            except (ApiError, requests.RequestException) as e:
                log(f"app: removing webhook endpoint {endpoint}: {e}")
        if receiver:
            receiver.close()
    print(json.dumps({"video_id": video_id, "status": "ready", "playback": playback, "probe": played,
                      "ready_by": "webhook" if args.webhook else "polling"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
