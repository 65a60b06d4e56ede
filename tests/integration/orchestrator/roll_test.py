"""roll_test.py — rolling updates of the real stream and upload images behind
the real edge while clients play and upload (cluster_test.py's harness: the
real mcloud-orchestrator, a real mcloud-agent on its own podman service; the
edge is mcloud-edge + nginx of tests/integration/edge/edge_test.py).

The orchestrator, the agent, the edge and the containers share a private
Redis of this run (registry, node heartbeats, the containers' locks), so the
edge balances over this run's instances only; MySQL, S3 and Kafka are the
stack's. One scenario, roll:
  cache     GETs fill stream-0's disk cache (its per-instance volume); the
            rollout below replaces its container (a new id) and the cached
            files are still there.
  rollout   a player (Range GETs of an MP4, an HLS playlist and a segment)
            and a tus client (chunked PATCHes, resuming with HEAD after any
            error) run through the edge while a new version of stream and
            of upload rolls out, both services at once (an env change of
            each: new containers, max_parallel 1, min_healthy_time 2s): no
            failed GET, every upload complete with the exact bytes (sha256
            of the S3 object), every instance healthy on the new version at
            the end.
  undo      `mcloud rollout undo upload` -> upload back on the previous
            template (its update strategy too: version 1 replaces both
            copies at once), the history (`mcloud history`) lists the
            versions.
The two services roll in one deploy, not one after the other: the
orchestrator rolls each service on its own (max_parallel is per service),
so both rollouts run under the same clients and the scenario waits for
two container replacements in a row instead of four (each one is seconds
to minutes of vfs copying on a loaded machine).
"""

import hashlib
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "edge"))
import cluster_test as ct  # noqa: E402
from cluster_test import Agent, ENV, Failure, Orchestrator, expect, run, wait_for  # noqa: E402
import edge_test as et  # noqa: E402  (the edge test's mcloud-edge, private Redis and tus request)
import streamtest as st  # noqa: E402  (synthetic published videos, playback credentials, raw client)

STREAM_IMAGE = "localhost/mcloud-stream:latest"
MP4_SIZE = 1024 * 1024
UPLOAD_SIZE = 384 * 1024
CHUNK = 64 * 1024
UPDATE = "{max_parallel: 1, min_healthy_time: 2s, healthy_deadline: 5m}"
# upload's first version replaces both copies at once: the undo back to it
# (no client runs by then) takes one container replacement, not two in a
# row; the version rolled under the clients keeps one copy serving
UPDATE_BOTH = "{max_parallel: 2, min_healthy_time: 2s, healthy_deadline: 5m}"
# half a core each: the load clients keep the instances busy
SERVICE = {"update": UPDATE, "resources": "{cpus: 0.5, memory: 256M, pids: 256}"}
# hang guard of a rollout: a container start takes minutes on a loaded machine (vfs)
ROLL_S = 900


def log(msg):
    print(f"[roll] {msg}", flush=True)


class Player:
    """GET loops through the edge's stream port: Range GETs of the MP4, the
    HLS playlist and a Range of its segment, each checked byte for byte."""

    def __init__(self, base, targets, threads=1):
        self.base, self.targets = base, targets
        self.ok, self.failed = 0, []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.loop, daemon=True) for _ in range(threads)]
        for t in self.threads:
            t.start()

    def one(self, rnd):
        path, data, ranged = rnd.choice(self.targets)
        if ranged:
            a = rnd.randrange(0, len(data) - 1)
            b = min(len(data) - 1, a + rnd.randrange(1, 128 * 1024))
            r = st.request(self.base, "GET", path, [("Range", f"bytes={a}-{b}")], timeout=60)
            good = r.status == 206 and r.body == data[a:b + 1]
        else:
            r = st.request(self.base, "GET", path, timeout=60)
            good = r.status == 200 and r.body == data
        return None if good else f"GET {path.rsplit('/', 1)[-1]} {r.status} {len(r.body)} bytes {r.body[:120]!r}"

    def loop(self):
        rnd = random.Random()
        while not self.stopping.is_set():
            try:
                err = self.one(rnd)
            except (OSError, http.client.HTTPException, st.Failure) as e:
                err = f"{type(e).__name__}: {e}"
            with self.lock:
                if err:
                    self.failed.append(f"{time.strftime('%H:%M:%S')} {err}")
                else:
                    self.ok += 1
            self.stopping.wait(0.05)  # a player's pace, not a benchmark's

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=120)


class Uploader:
    """tus uploads one after another through the edge's upload port, in
    chunks with a pause between them (so uploads are in flight while
    instances stop); after any error it asks HEAD for the offset and goes
    on from there, as a tus client does. Each upload has a deadline (a
    hang guard); one that misses it is a failure."""

    def __init__(self, base, token):
        self.base, self.auth = base, {"Authorization": f"Bearer {token}"}
        self.done, self.failed, self.resumes, self.errors = [], [], 0, []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def call(self, method, path, headers, body=b""):
        try:
            return et.tus(self.base, method, path, {**self.auth, **headers}, body)
        except (OSError, http.client.HTTPException) as e:
            return None, {"error": f"{type(e).__name__}: {e}"}

    def note(self, what, status, hdr):
        self.errors.append(f"{time.strftime('%H:%M:%S')} {what}: {status} {hdr.get('error', '')}")

    def upload(self, payload):
        deadline = time.monotonic() + 300
        while True:  # create (a failed POST made nothing we know of: create again)
            status, hdr = self.call("POST", "/files/", {"Upload-Length": str(len(payload))})
            if status == 201:
                break
            self.note("POST", status, hdr)
            if self.stopping.is_set():
                return None  # nothing made: no upload to finish
            if status is not None and status < 500 or time.monotonic() > deadline:
                raise Failure(f"tus create: {status} {hdr}")
            time.sleep(0.2)
        path = urlsplit(hdr["location"]).path
        offset = 0
        while offset < len(payload):
            if time.monotonic() > deadline:
                raise Failure(f"tus upload {path}: stuck at {offset} of {len(payload)}")
            status, hdr = self.call("PATCH", path, {"Content-Type": "application/offset+octet-stream",
                                                    "Upload-Offset": str(offset)}, payload[offset:offset + CHUNK])
            if status == 204:
                offset = int(hdr["upload-offset"])
                time.sleep(0.1)
                continue
            self.note(f"PATCH at {offset}", status, hdr)
            self.resumes += 1
            while True:  # resume: where does the server stand?
                time.sleep(0.2)
                status, hdr = self.call("HEAD", path, {})
                if status == 200:
                    offset = int(hdr["upload-offset"])
                    break
                self.note("HEAD", status, hdr)
                if status is not None and status < 500 or time.monotonic() > deadline:
                    raise Failure(f"tus HEAD {path}: {status} {hdr}")
        return path.rsplit("/", 1)[-1]

    def loop(self):
        while not self.stopping.is_set():
            payload = os.urandom(UPLOAD_SIZE)
            t0 = time.monotonic()
            try:
                upload_id = self.upload(payload)
                if upload_id:
                    self.done.append((upload_id, hashlib.sha256(payload).hexdigest(), t0, time.monotonic()))
            except Failure as e:
                self.failed.append(str(e))

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=360)


def scenario_roll(c):
    h = c.h
    for tool in ("redis-server", "nginx", "openssl"):
        expect(any(os.access(os.path.join(d, tool), os.X_OK) for d in ENV["PATH"].split(":") + ["/usr/sbin"]),
               f"{tool} is not installed: run scripts/bootstrap.sh")
    expect(subprocess.run(["podman", "image", "exists", STREAM_IMAGE]).returncode == 0,
           f"{STREAM_IMAGE} missing: run make images (ctest's orchestrator.images fixture builds it)")
    edge_bin = os.path.join(h.build, "edge", "mcloud-edge")
    expect(os.access(edge_bin, os.X_OK), f"{edge_bin} is not built (cmake --build {h.build})")

    # one private Redis for everything of this run: only its instances behind its edge
    redis = et.RedisServer(h.scratch)
    c.late.append(("redis-server", lambda: redis.stop() or None))
    ENV["MCLOUD_REDIS"] = redis.addr
    ENV.pop("MCLOUD_REDIS_PASSWORD", None)

    edge = et.Edge(edge_bin, h.scratch, redis.addr, MCLOUD_ORCHESTRATOR_KEY_PREFIX=h.prefix)
    c.cleanups.append(("mcloud-edge", edge.stop))
    Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)

    volume = f"cache-{c.tag}"
    volumes = [f"stream-{i}-{volume}" for i in range(2)]
    c.cleanups.append(("volumes", lambda: subprocess.run(["podman", "volume", "rm", "-f", *volumes],
                                                         capture_output=True, text=True).returncode and
                       f"podman volume rm {volumes} failed" or None))
    stream_env = {"MCLOUD_PLAYBACK_KEY_ID": st.KEY_ID, "MCLOUD_PLAYBACK_SECRET": st.SECRET,
                  "MCLOUD_STREAM_PUBLIC_URL": edge.public("stream"), "MCLOUD_REDIS": redis.addr}
    upload_env = {"MCLOUD_UPLOAD_PUBLIC_URL": edge.public("upload"), "MCLOUD_REDIS": redis.addr}

    def services(stream_extra=None, upload_extra=None, upload_update=UPDATE):
        return {"stream": (STREAM_IMAGE, 2, {"env": {**stream_env, **(stream_extra or {})}, **SERVICE,
                                              "ports": f"{{public: {edge.ports['stream']}, env: MCLOUD_STREAM_PORT}}",
                                              "volume": f"{{name: {volume}, target: /var/cache/mcloud}}"}),
                "upload": (ct.IMAGE, 2, {"env": {**upload_env, **(upload_extra or {})}, **SERVICE, "update": upload_update,
                                         "ports": f"{{public: {edge.ports['upload']}, env: MCLOUD_UPLOAD_PORT}}"})}

    names = ["stream-0", "stream-1", "upload-0", "upload-1"]

    def at(versions):
        """ps when every instance runs healthy and ready at versions[service]."""
        ps = c.all_healthy(o, names)
        return ps and all(ps[n]["running"][0]["spec_version"] == versions[n.split("-")[0]] for n in names) and ps

    def wait_at(what, versions):
        try:
            return wait_for(what, lambda: at(versions), ROLL_S)
        except Failure as e:  # say where it stood
            said = [h.cli_run(o, *cmd).stdout for cmd in (("ps",), ("rollout", "status", "stream"),
                                                          ("rollout", "status", "upload"))]
            raise Failure(f"{e}\n" + "\n".join(said)) from None

    def in_edge(service, ps):
        want = {f"127.0.0.1:{ps[n]['running'][0]['port']}" for n in names if n.startswith(service)}
        return edge.backends(service) == want

    c.deploy(o, services(upload_update=UPDATE_BOTH))
    ps = wait_at("stream x2 and upload x2 healthy at version 1", {"stream": 1, "upload": 1})
    wait_for("every instance behind the edge", lambda: in_edge("stream", ps) and in_edge("upload", ps))
    # the published video (the containers' start migrated the stack's database)
    sh = st.Harness("roll", h.build)
    c.late.append(("the seeded video", lambda: "; ".join(sh.close(True)) or None))
    video = st.Video(sh, title="roll test")
    mp4 = os.urandom(MP4_SIZE)
    seg = os.urandom(200 * 1024)
    m3u8 = (b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n"
            b"#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2.0,\nseg_00001.m4s\n#EXT-X-ENDLIST\n")
    video.put("720p.mp4", mp4, "video/mp4")
    video.put("hls/360p/index.m3u8", m3u8, "application/vnd.apple.mpegurl")
    video.put("hls/360p/seg_00001.m4s", seg, "video/iso.segment")
    video.insert([("720p", 1280, 720, 1_000_000)])
    base_path = f"/v/{video.id}/{st.sign_cred(video.id)}/"
    targets = [(base_path + "720p.mp4", mp4, True), (base_path + "hls/360p/index.m3u8", m3u8, False),
               (base_path + "hls/360p/seg_00001.m4s", seg, True)]

    log(f"version 1 healthy, edge upstreams {edge.upstreams()['services']['stream']['backends']} "
        f"{edge.upstreams()['services']['upload']['backends']}")

    # ---- cache: the stream's disk cache survives a restart of its container
    mount = run(["podman", "volume", "inspect", "--format", "{{.Mountpoint}}", volumes[0]]).strip()

    def cached():
        """The finished entries of the cache: each .data with its .meta (a
        fill-* file is one still being written, renamed when done)."""
        files = {}
        for d, _, fs in os.walk(mount):
            for f in fs:
                p = os.path.join(d, f)
                if f.endswith(".data") and os.path.exists(p[:-len(".data")] + ".meta"):
                    files[os.path.relpath(p, mount)] = os.path.getsize(p)
        return files

    def filled():
        for path, data, _ in targets:  # round robin over two instances: each one gets some
            r = st.request(edge.public("stream"), "GET", path)
            expect(r.status == 200 and r.body == data, f"GET {path} through the edge: {r.status} {len(r.body)} bytes")
        return sum(cached().values()) >= MP4_SIZE and cached()

    before = wait_for("stream-0's cache volume holding the MP4", filled, 60)
    victim = ps["stream-0"]["running"][0]["container_id"]  # the rollout below replaces it

    # ---- rollout of stream and of upload at once, under load
    player = Player(edge.public("stream"), targets)
    uploader = Uploader(edge.public("upload"), h.mint_token(st.TENANT, "upload"))
    try:
        wait_for("the player and the uploader under way", lambda: player.ok >= 50 and uploader.done, 120)
        t_roll = time.monotonic()
        ok0, done0 = player.ok, len(uploader.done)
        new = {"MCLOUD_REGISTRY_TTL_MS": "9000"}
        out = c.deploy(o, services(stream_extra=new, upload_extra=new))
        expect("stream.env" in out and "upload.env" in out, f"deploy of version 2 printed: {out}")
        ps = wait_at("stream and upload rolled to version 2, every instance healthy", {"stream": 2, "upload": 2})
        t_end = time.monotonic()
        roll_gets = player.ok - ok0
        # the rollout's new stream-0 container mounts the same per-instance volume
        after = cached()
        kept = {f: n for f, n in before.items() if after.get(f) == n}
        expect(ps["stream-0"]["running"][0]["container_id"] != victim, f"stream-0 kept container {victim}")
        expect(kept == before, f"stream-0's cache lost files across its new container: before {before}, after {after}")
        log(f"ok: stream-0's disk cache survives the restart of its container ({len(before)} entries, "
            f"{sum(before.values())} bytes on volume {volumes[0]}, container {victim[:12]} -> "
            f"{ps['stream-0']['running'][0]['container_id'][:12]})")
        log(f"stream and upload rolled to version 2 in {t_end - t_roll:.0f} s: {roll_gets} GETs meanwhile, "
            f"{len(player.failed)} failed")
        wait_for("the new instances behind the edge", lambda: in_edge("stream", ps) and in_edge("upload", ps))
        wait_for("an upload started after the upload rollout finished", lambda: any(
            t0 > t_end for _, _, t0, _ in uploader.done), 120)
    finally:
        player.stop()
        uploader.stop()
    # every instance healthy on version 2 is not yet the rollout done: the
    # last new one must stay healthy for min_healthy_time first (bounded wait)
    for service in ("stream", "upload"):
        def done(service=service):
            r = c.h.cli_run(o, "rollout", "status", service, "--json")
            return r.returncode == 0 and json.loads(r.stdout)["status"] == "done"
        wait_for(f"rollout status {service}: done", done, 120)
    across = [u for u in uploader.done if u[2] < t_end and u[3] > t_roll]
    expect(roll_gets >= 20, f"precondition: only {roll_gets} GETs while stream rolled")
    expect(len(across) >= 2 and len(uploader.done) - done0 >= 2,
           f"precondition: {len(across)} uploads ran while upload rolled ({len(uploader.done)} in all)")
    expect(not player.failed, f"{len(player.failed)} failed GETs of {player.ok + len(player.failed)} through the "
           f"edge while stream and upload rolled: {player.failed[:5]}")
    expect(not uploader.failed, f"uploads failed: {uploader.failed[:3]} (errors seen: {uploader.errors[-5:]})")

    s3 = st.s3_client()
    ids = [u[0] for u in uploader.done]
    expect(all(i.replace("-", "").isalnum() for i in ids), f"unexpected upload ids: {ids}")
    rows = {r[0]: r[1:] for r in ct.orch_test.mariadb(  # one query, not one mariadb client per upload
        "SELECT id, status, s3_key, video_id FROM uploads WHERE id IN (" + ",".join(f"'{i}'" for i in ids) + ")",
        ENV["MCLOUD_MYSQL_DATABASE"])}
    c.cleanups.append(("the uploads", lambda: cleanup_uploads(s3, [r for r in rows.values() if len(r) == 3])))
    for upload_id, digest, _, _ in uploader.done:
        row = rows.get(upload_id)
        expect(row and row[0] == "completed", f"upload {upload_id}: {row}")
        body = s3.get_object(Bucket=st.BUCKET, Key=row[1])["Body"].read()
        expect(hashlib.sha256(body).hexdigest() == digest, f"upload {upload_id}: the object in S3 ({len(body)} bytes) "
               f"is not what was sent ({UPLOAD_SIZE} bytes)")
    log(f"ok: stream and upload rolled together (max_parallel 1, min_healthy_time 2s) under load: {player.ok} GETs "
        f"through the edge, none failed; {len(uploader.done)} tus uploads ({len(across)} across the rollout, "
        f"{uploader.resumes} resumed with HEAD), each object in S3 byte for byte")

    # ---- undo: back to the previous version of upload, the history lists them
    r = h.cli_run(o, "rollout", "undo", "upload", "--no-wait")
    expect(r.returncode == 0 and "upload.env" in r.stdout and "upload.update.max_parallel" in r.stdout,
           f"mcloud rollout undo upload: {r.stdout} {r.stderr}")
    ps = wait_at("upload back on its previous template (that of version 1), healthy", {"stream": 2, "upload": 1})
    r = h.cli_run(o, "history", "--json")
    expect(r.returncode == 0, f"mcloud history --json: exit {r.returncode}: {r.stderr}")
    hist = [(v["version"], v["reason"]) for v in json.loads(r.stdout)["versions"]]
    expect(hist == [(3, "undo"), (2, "deploy"), (1, "deploy")], f"history: {hist}")
    table = h.cli_run(o, "history").stdout
    expect(all(any(line.split()[:1] == [str(v)] for line in table.splitlines()) for v in (1, 2, 3)),
           f"mcloud history does not list every version:\n{table}")
    log(f"ok: mcloud rollout undo upload -> version 3: upload back on the template of version 1 (stream stays "
        f"on version 2), healthy; mcloud history lists {hist}")


def cleanup_uploads(s3, rows):
    """The uploads' S3 objects and rows, (status, s3_key, video_id) each."""
    for _, key, _ in rows:
        s3.delete_object(Bucket=st.BUCKET, Key=key)
    videos = ",".join(f"'{vid}'" for _, _, vid in rows)
    if videos:
        ct.orch_test.mariadb(f"DELETE FROM uploads WHERE video_id IN ({videos}); DELETE FROM videos WHERE id IN ({videos})",
                             ENV["MCLOUD_MYSQL_DATABASE"])


if __name__ == "__main__":
    ct.SCENARIOS["roll"] = scenario_roll
    ct.main()
