"""worker_test.py — mcloud-transcode against the real stack (ctest label
integration).

  worker_test.py --worker BIN SCENARIO
      SCENARIO: outcomes | kill | sigterm | sigterm_held | transient | rebalance | corpus
                | playable | playable_retry

Each run is isolated from everything else on the shared stack: its own
MariaDB database (mcloud_tw_<id>, migrated by the worker itself), its own
Kafka topics and consumer group, its own S3 keys. It does what the upload
service would — source objects in S3 (made here with the ffmpeg CLI), the
video row, the job message as upload/complete.c writes it — then runs
worker processes as children and checks MySQL, S3 (outputs read back with
ffprobe), the events topic and the dead-letter topic with kcat.

  outcomes   normal H.264+AAC clip -> ready, renditions, outputs checked;
             audio-only -> one audio rung; a text file named .mp4, a
             truncated MP4 and a malformed message -> failed / dead letter
             at once, while the worker goes on serving jobs; the same job
             delivered again changes nothing.
  kill       two workers; the one running a job is killed with SIGKILL
             mid-job; the other redoes it: the video is READY exactly once
             with exactly one published set of outputs.
  sigterm    SIGTERM mid-job with a short grace: the run is handed back
             uncommitted (and not counted as an attempt); SIGTERM mid-job
             with a long grace: the job finishes first; nothing runs twice.
  sigterm_held  the scale-down of a busy worker: w1 holds a job (test-only
             hold) in a group with an idle w2; both get SIGTERM while it is
             held and w2 leaves the group (a rebalance w1 can only serve when
             its job is over, at its close); released, w1 finishes the job
             after the signal, publishes it exactly once (one done event, one
             set of outputs) and exits 0 with no sanitizer report.
  transient  S3 unreachable for the worker: the job is retried, then given
             up after transcode.max_attempts with a dead letter.
  rebalance  two workers share the six partitions; a third joins, gets
             partitions after the rebalance and serves its share; no job
             is run twice.
  playable   the job is held (test-only hold) after 2 segments: the video is
             transcoding AND playable, its master lists every rung, each
             rung playlist is EVENT with >= 2 segments that exist; released,
             the playlists only grow until they become VOD with ENDLIST; the
             final outputs are byte for byte those of mcloud-transcode-file
             run without progressive publishing on the same source.
  playable_retry  the worker holding a playable job is killed; a second
             worker retries it under attempt 2: attempt 1's playlists never
             change or shrink while they exist, attempt 2's only grow, the
             video ends ready from attempt 2 and attempt 1 is deleted.
  corpus     two workers run every source of the media corpus
             (tests/media/transcode_corpus.py: codecs, shapes, rotation, VFR,
             audio layouts, 10-bit, refused inputs); each video is ready
             with the expected rungs and passes the corpus's own output
             checks (durations, keyframes, moov first, HLS rates and codecs,
             every variant decodes, first frame upright, thumbnails), or is
             failed with the expected reason and one dead letter; no job is
             retried and no temporary file is left.

Workers are stopped with SIGTERM at the end and must exit 0 with no
sanitizer report on stderr (the sanitizer tree runs the same test).
Needs: boto3 (the stack's venv), ffmpeg, ffprobe, kcat, mariadb.
MCLOUD_TEST_KEEP=1 keeps the scratch directory (worker logs) after a pass."""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import boto3
from botocore.config import Config

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "media"))
import transcode_corpus as corpus  # noqa: E402  (the media corpus: cases, generators, checks)
from transcode_corpus import Failure, check, duration, top_level_boxes  # noqa: E402
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "support"))
from daemon_proc import stop_problem  # noqa: E402  (tests/support)
from kafka_topics import delete_topics  # noqa: E402  (tests/support)

ENV = os.environ
TENANT = "local"
# A hang guard, not a performance bound: sanitizer builds are slow.
DEADLINE_S = 480
PART_MB = 5  # the smallest S3 part: large outputs go by multipart upload


def log(msg):
    print(f"[worker_test] {msg}", flush=True)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failure(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


# ---- MariaDB ---------------------------------------------------------------


class Db:
    def __init__(self, name):
        self.name = name
        host, port = ENV["MCLOUD_MYSQL_MASTER"].rsplit(":", 1)
        self.base = ["mariadb", "-h", host, "-P", port, "-u", ENV["MCLOUD_MYSQL_USER"],
                     f"-p{ENV['MCLOUD_MYSQL_PASSWORD']}", "-N", "-B"]

    def admin(self, sql):
        run(self.base + ["-e", sql])

    def rows(self, sql):
        out = run(self.base + [self.name, "-e", sql])
        return [line.split("\t") for line in out.splitlines() if line]

    def exec(self, sql):
        run(self.base + [self.name, "-e", sql])


def q(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---- Kafka (kcat) ----------------------------------------------------------


def produce(topic, key, value, partition=None):
    cmd = ["kcat", "-P", "-b", ENV["MCLOUD_KAFKA"], "-t", topic, "-k", key]
    if partition is not None:
        cmd += ["-p", str(partition)]
    r = subprocess.run(cmd, input=value, capture_output=True, text=True)
    if r.returncode != 0:
        raise Failure(f"kcat produce to {topic}: {r.stderr}")


def consume_all(topic):
    out = run(["kcat", "-C", "-b", ENV["MCLOUD_KAFKA"], "-t", topic, "-o", "beginning", "-e", "-q",
               "-f", "%s\\n"])
    return [json.loads(line) for line in out.splitlines() if line.strip()]


# ---- S3 --------------------------------------------------------------------


def s3_client():
    return boto3.client(
        "s3", endpoint_url=ENV["MCLOUD_S3_ENDPOINT"], region_name=ENV.get("MCLOUD_S3_REGION", "us-east-1"),
        aws_access_key_id=ENV["MCLOUD_S3_ACCESS_KEY"], aws_secret_access_key=ENV["MCLOUD_S3_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


BUCKET = ENV.get("MCLOUD_S3_BUCKET", "mcloud")


def list_keys(s3, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def delete_prefix(s3, prefix):
    for key in list_keys(s3, prefix):
        s3.delete_object(Bucket=BUCKET, Key=key)


# ---- media -----------------------------------------------------------------


def ffmpeg(*args):
    run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args])


def make_clip(path, seconds, size, audio=True, noisy=False):
    args = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    if noisy:  # rungs then reach their maxrate: outputs large enough for multipart
        args += ["-vf", "noise=alls=30:allf=t"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "50"]
    if audio:
        args += ["-c:a", "aac", "-b:a", "96k"]
    ffmpeg(*args, path)


def make_audio(path, seconds):
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency=330:sample_rate=44100:duration={seconds}",
           "-c:a", "aac", "-b:a", "96k", path)


def probe(path, *args):
    return json.loads(run(["ffprobe", "-v", "error", "-of", "json", *args, path]))


def keyframes(path):
    out = probe(path, "-select_streams", "v:0", "-skip_frame", "nokey", "-show_entries",
                "frame=pts_time")
    return [round(float(f["pts_time"]), 3) for f in out["frames"]]


# ---- workers ---------------------------------------------------------------


class Worker:
    def __init__(self, harness, name, **overrides):
        self.name = name
        self.log_path = os.path.join(harness.scratch, f"{name}.log")
        env = {**ENV, **harness.worker_env, **overrides}
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([harness.worker_bin], env=env, stdout=self.logf, stderr=self.logf)
        self.stopped = False
        self.instance = self.wait_for("ready")["instance"]
        log(f"{name}: pid {self.proc.pid}")

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def records(self):
        out = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def wait_for(self, msg, pred=lambda rec: True):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for rec in self.records():
                if rec.get("msg") == msg and pred(rec):
                    return rec
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
            time.sleep(0.2)
        raise Failure(f"{self.name}: no '{msg}' log line:\n{self.text()[-3000:]}")

    def started_jobs(self):
        return [rec["job"] for rec in self.records() if rec.get("msg") == "job started"]

    def partitions_assigned(self):
        return [rec for rec in self.records() if rec.get("msg") == "kafka partitions assigned"]

    def owned(self):
        """The partitions this worker holds now, from its log: the
        cooperative assignor's increments (assigned, then revoked or lost)."""
        cur = set()
        for rec in self.records():
            parts = {int(p) for p in re.findall(r"\[(\d+)\]", rec.get("partitions", ""))}
            if rec.get("msg") == "kafka partitions assigned":
                cur |= parts
            elif rec.get("msg", "").startswith("kafka partitions"):
                cur -= parts
        return cur

    def signal_stop(self):
        """SIGTERM, then wait for the exit (checked later by stop())."""
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=300)
        self.stopped = True

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()

    def stop(self):
        """SIGTERM; the exit must be clean and the log free of sanitizer reports."""
        problem = stop_problem(self.proc, self.logf, self.name, self.text)
        check(problem is None, problem)


class Harness:
    def __init__(self, worker_bin, build_dir=None):
        self.worker_bin = worker_bin
        # the build tree (its tests/mcloud-test-kafka-topics deletes the topics):
        # given, else the worker's (BUILD/transcode/mcloud-transcode)
        self.build_dir = build_dir or (os.path.dirname(os.path.dirname(os.path.abspath(worker_bin)))
                                       if worker_bin else None)
        self.id = f"{os.getpid()}{int(time.time()) % 100000}"
        self.scratch = tempfile.mkdtemp(prefix=f"mcloud-tw-{self.id}-")
        self.db = Db(f"mcloud_tw_{self.id}")
        self.s3 = s3_client()
        self.topics = {k: f"tw.{self.id}.{k}" for k in ("jobs", "events", "dlq")}
        self.worker_env = {
            "MCLOUD_MYSQL_DATABASE": self.db.name,
            "MCLOUD_HTTP_BIND": "127.0.0.1",
            "MCLOUD_TRANSCODE_PORT": "0",
            "MCLOUD_TRANSCODE_GROUP": f"tw-{self.id}",
            "MCLOUD_TRANSCODE_JOBS_TOPIC": self.topics["jobs"],
            "MCLOUD_TRANSCODE_EVENTS_TOPIC": self.topics["events"],
            "MCLOUD_TRANSCODE_DLQ_TOPIC": self.topics["dlq"],
            "MCLOUD_TRANSCODE_HEARTBEAT_MS": "300",
            "MCLOUD_TRANSCODE_RETRY_BACKOFF_MS": "500",
            "MCLOUD_TRANSCODE_SESSION_TIMEOUT_MS": "6000",
            "MCLOUD_TRANSCODE_ENCODER_THREADS": "1",
            "MCLOUD_TRANSCODE_PART_SIZE_MB": str(PART_MB),
            "MCLOUD_TRANSCODE_TMP_DIR": self.scratch,
            "MCLOUD_LOG_LEVEL": "info",
        }
        self.workers = []
        self.videos = []
        self.db.admin(f"CREATE DATABASE {self.db.name}")

    def close(self, ok):
        errors = []
        for w in self.workers:
            try:
                w.stop()
            except Failure as e:
                errors.append(str(e))
        for vid in self.videos:
            delete_prefix(self.s3, f"videos/{TENANT}/{vid}/")
            delete_prefix(self.s3, f"sources/{TENANT}/{vid}/")
        self.db.admin(f"DROP DATABASE IF EXISTS {self.db.name}")
        problem = delete_topics(list(self.topics.values()), self.build_dir)
        if problem:
            errors.append(problem)
        if ok and not errors and not ENV.get("MCLOUD_TEST_KEEP"):
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            log(f"logs kept in {self.scratch}")
        if errors:
            raise Failure("\n".join(errors))

    def worker(self, name, **overrides):
        w = Worker(self, name, **overrides)
        self.workers.append(w)
        return w

    def add_video(self, local_path, source_key=None):
        """What mcloud-upload leaves behind: the source object and the video row."""
        vid = str(uuid.uuid4())
        self.videos.append(vid)
        key = source_key or f"sources/{TENANT}/{vid}/source"
        if local_path:
            self.s3.upload_file(local_path, BUCKET, key)
        self.db.exec(f"INSERT INTO videos (id, tenant_id, title, status, source_key) VALUES "
                     f"({q(vid)}, {q(TENANT)}, 'worker test', 'uploaded', {q(key)})")
        return vid, key

    def publish_job(self, vid, key, partition=None, job_id=None, preset="default"):
        """The job message exactly as upload/complete.c writes it."""
        job_id = job_id or str(uuid.uuid4())
        msg = {"v": 1, "job_id": job_id, "video_id": vid, "tenant": TENANT, "source_key": key,
               "preset": preset, "attempt": 1}
        produce(self.topics["jobs"], vid, json.dumps(msg, separators=(",", ":")), partition)
        return job_id

    def video(self, vid):
        rows = self.db.rows(f"SELECT status, IFNULL(failure_reason, ''), IFNULL(published_prefix, ''), "
                            f"IFNULL(duration_ms, 0) FROM videos WHERE id = {q(vid)}")
        return dict(zip(("status", "reason", "prefix", "duration_ms"), rows[0]))

    def job(self, job_id):
        rows = self.db.rows(f"SELECT status, attempt, IFNULL(worker, ''), IFNULL(error, '') FROM jobs "
                            f"WHERE id = {q(job_id)}")
        return dict(zip(("status", "attempt", "worker", "error"), rows[0])) if rows else None

    def wait_final(self, vids):
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            states = {v: self.video(v)["status"] for v in vids}
            if all(s in ("ready", "failed") for s in states.values()):
                return states
            for w in self.workers:
                if w.proc.poll() is not None and not w.stopped:
                    raise Failure(f"{w.name} exited ({w.proc.returncode}):\n{w.text()[-3000:]}")
            time.sleep(0.5)
        raise Failure(f"videos not final after {DEADLINE_S} s: {states}")

    def renditions(self, vid):
        rows = self.db.rows(f"SELECT name, kind, width, height, bitrate, codecs, object_key, "
                            f"IFNULL(size_bytes, 0) FROM renditions WHERE video_id = {q(vid)} ORDER BY name, kind")
        keys = ("name", "kind", "width", "height", "bitrate", "codecs", "object_key", "size")
        return [dict(zip(keys, r)) for r in rows]

    def download(self, prefix, dest):
        for key in list_keys(self.s3, prefix):
            path = os.path.join(dest, key[len(prefix):])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.s3.download_file(BUCKET, key, path)


# ---- checks ----------------------------------------------------------------


def check_published(h, vid, job_id, source_s, expect_rungs, attempt=1):
    v = h.video(vid)
    check(v["status"] == "ready", f"video {vid} is {v['status']}: {v['reason']}")
    prefix = f"videos/{TENANT}/{vid}/attempts/{job_id}-{attempt}/"
    check(v["prefix"] == prefix, f"published prefix {v['prefix']!r}, expected {prefix!r}")
    j = h.job(job_id)
    check(j["status"] == "done" and int(j["attempt"]) == attempt, f"job row {j}")
    rends = h.renditions(vid)
    names = sorted({r["name"] for r in rends})
    check(names == sorted(expect_rungs), f"renditions {names}, expected {expect_rungs}")
    check(len(rends) == 2 * len(expect_rungs), f"one mp4 and one hls row per rung: {rends}")
    for r in rends:
        check(r["object_key"].startswith(prefix), f"rendition outside the published prefix: {r}")
        check(int(r["bitrate"]) > 0 and r["codecs"], f"rendition without bit rate or codecs: {r}")
    # Exactly one set of outputs for the video: the published attempt's.
    stray = [k for k in list_keys(h.s3, f"videos/{TENANT}/{vid}/") if not k.startswith(prefix)]
    check(not stray, f"objects outside the published attempt: {stray[:5]}")

    out = os.path.join(h.scratch, vid)
    h.download(prefix, out)
    kf = {}
    for r in rends:
        path = os.path.join(out, r["object_key"][len(prefix):])
        check(os.path.exists(path), f"{r['object_key']} not in S3")
        if r["kind"] == "mp4":
            check(int(r["size"]) == os.path.getsize(path), f"size of {r['object_key']} differs from its row")
            boxes = top_level_boxes(path)
            check("moov" in boxes and "mdat" in boxes and boxes.index("moov") < boxes.index("mdat"),
                  f"{r['object_key']}: moov not before mdat ({boxes})")
            d = duration(path)
            check(abs(d - source_s) <= 0.1, f"{r['object_key']}: duration {d:.3f} s vs source {source_s:.3f} s")
            if int(r["width"]) > 0:
                kf[r["name"]] = keyframes(path)
    if len(kf) > 1:
        first = next(iter(kf.values()))
        for name, times in kf.items():
            check(times == first, f"keyframes of {name} {times} differ from {first}")
    master = os.path.join(out, "hls", "master.m3u8")
    text = open(master).read()
    check(text.startswith("#EXTM3U"), "master playlist does not start with #EXTM3U")
    infs = re.findall(r"#EXT-X-STREAM-INF:(.*)", text)
    check(len(infs) == len(expect_rungs), f"master playlist variants: {infs}")
    for inf in infs:
        check("BANDWIDTH=" in inf and "CODECS=" in inf, f"variant without BANDWIDTH/CODECS: {inf}")
    d = duration(master)
    check(abs(d - source_s) <= 0.15, f"HLS duration {d:.3f} s vs source {source_s:.3f} s")
    return prefix


def events_of(h, vid):
    return [e for e in consume_all(h.topics["events"]) if e.get("video_id") == vid]


def settled(fetch, enough, limit=30):
    """The records fetch() returns once enough(records) holds, or the last
    ones after limit seconds: a job's final state is in MySQL before its dead
    letter and events reach Kafka (the worker records, then produces), so a
    test that reads the topics right after the state may be early."""
    deadline = time.monotonic() + limit
    while True:
        got = fetch()
        if enough(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.2)


def dlq_of(h, vid):
    return [d for d in consume_all(h.topics["dlq"]) if isinstance(d.get("job"), dict)
            and d["job"].get("video_id") == vid]


# ---- scenarios -------------------------------------------------------------


def scenario_outcomes(h):
    normal = os.path.join(h.scratch, "normal.mp4")
    make_clip(normal, 8, "854x480")
    audio = os.path.join(h.scratch, "audio.m4a")
    make_audio(audio, 5)
    text = os.path.join(h.scratch, "notes.mp4")
    with open(text, "w") as f:
        f.write("these are meeting notes, not a video\n" * 40)
    truncated = os.path.join(h.scratch, "truncated.mp4")
    with open(normal, "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[: len(data) // 2])

    h.worker("w1")
    cases = {}
    for name, path in (("normal", normal), ("audio", audio), ("text", text), ("truncated", truncated)):
        vid, key = h.add_video(path)
        cases[name] = (vid, h.publish_job(vid, key))
    produce(h.topics["jobs"], "junk", "this is not a job")
    # A job after the bad ones: the worker kept serving.
    vid, key = h.add_video(normal)
    cases["after"] = (vid, h.publish_job(vid, key))

    states = h.wait_final([v for v, _ in cases.values()])
    log(f"states: {states}")
    src = duration(normal)
    check_published(h, *cases["normal"], src, ["360p", "480p"])
    check_published(h, *cases["after"], src, ["360p", "480p"])
    check_published(h, *cases["audio"], duration(audio), ["audio"])

    for name, needle in (("text", "not a media file"), ("truncated", "moov atom not found")):
        vid, job_id = cases[name]
        v = h.video(vid)
        check(v["status"] == "failed" and needle in v["reason"], f"{name}: video {v}")
        j = h.job(job_id)
        check(j["status"] == "failed" and int(j["attempt"]) == 1, f"{name}: invalid media is not retried: {j}")
        dl = settled(lambda: dlq_of(h, vid), len)
        check(len(dl) == 1 and dl[0]["v"] == 1 and dl[0]["kind"] == "invalid" and needle in dl[0]["reason"],
              f"{name}: dead letters {dl}")
        check(not list_keys(h.s3, f"videos/{TENANT}/{vid}/"), f"{name}: outputs left behind")
        failed = settled(lambda: [e for e in events_of(h, vid) if e["type"] == "failed"], len)
        check(len(failed) == 1 and failed[0]["final"] is True, f"{name}: failed events {failed}")
    junk = [d for d in consume_all(h.topics["dlq"]) if d.get("job") == "this is not a job"]
    check(len(junk) == 1 and junk[0]["kind"] == "invalid", f"malformed message dead letter: {junk}")

    ev = events_of(h, cases["normal"][0])
    check(all(e["v"] == 1 for e in ev), "events are version 1")
    types = [e["type"] for e in ev]
    check(types.count("done") == 1 and "started" in types, f"events of the normal clip: {types}")
    progress = [e for e in ev if e["type"] == "progress"]
    check(progress and all({"percent", "fps", "rungs"} <= e.keys() for e in progress),
          f"progress events: {progress}")
    check(progress[-1]["percent"] == 100 and progress[-1]["rungs"] == 2, f"last progress {progress[-1]}")
    done = [e for e in ev if e["type"] == "done"][0]
    check(done["master"].endswith("hls/master.m3u8"), f"done event {done}")

    # The same job delivered again (the upload outbox publishes at least
    # once): nothing runs, nothing in MySQL changes, the done event is re-sent.
    vid, job_id = cases["normal"]
    ids = h.db.rows(f"SELECT id FROM renditions WHERE video_id = {q(vid)} ORDER BY id")
    before = h.video(vid)
    h.publish_job(vid, f"sources/{TENANT}/{vid}/source", job_id=job_id)
    marker_vid, marker_key = h.add_video(audio)
    marker = h.publish_job(marker_vid, marker_key)
    h.wait_final([marker_vid])
    w1 = h.workers[0]
    check(w1.started_jobs().count(job_id) == 1, "a delivered-again job ran again")
    check(marker in w1.started_jobs(), "the job after the duplicate did not run")
    check(h.video(vid) == before and int(h.job(job_id)["attempt"]) == 1, "a duplicate changed the video or job")
    check(h.db.rows(f"SELECT id FROM renditions WHERE video_id = {q(vid)} ORDER BY id") == ids,
          "a duplicate rewrote the renditions")
    done = [e for e in events_of(h, vid) if e["type"] == "done"]
    check(len(done) == 2 and done[1]["prefix"] == before["prefix"], f"done events after the duplicate: {done}")


def scenario_kill(h):
    clip = os.path.join(h.scratch, "long.mp4")
    make_clip(clip, 40, "854x480", noisy=True)
    a, b = h.worker("w1"), h.worker("w2")
    vid, key = h.add_video(clip)
    job_id = h.publish_job(vid, key)
    # Wait until the job runs and has written outputs (segments) under its
    # attempt prefix, then SIGKILL its worker.
    first_prefix = f"videos/{TENANT}/{vid}/attempts/{job_id}-1/"
    deadline = time.monotonic() + DEADLINE_S
    victim = None
    while time.monotonic() < deadline and victim is None:
        j = h.job(job_id)
        check(not j or j["status"] == "running" or j["status"] == "queued", f"job ended before the kill: {j}")
        if j and j["status"] == "running" and list_keys(h.s3, first_prefix):
            victim = a if j["worker"] == a.instance else b
        time.sleep(0.2)
    check(victim is not None, "the job never ran")
    check(h.video(vid)["status"] == "transcoding", "video not transcoding while the job runs")
    victim.kill()
    survivor = b if victim is a else a
    h.workers.remove(victim)
    written = list_keys(h.s3, first_prefix)
    log(f"killed {victim.name} mid-job after {len(written)} objects; {survivor.name} takes over")
    rows = h.db.rows(f"SELECT progress, heartbeat_at FROM jobs WHERE id = {q(job_id)}")
    check(float(rows[0][0]) > 0, f"no heartbeat progress recorded for the running job: {rows}")

    h.wait_final([vid])
    check_published(h, vid, job_id, duration(clip), ["360p", "480p"], attempt=2)
    done = [e for e in events_of(h, vid) if e["type"] == "done"]
    check(len(done) == 1 and done[0]["attempt"] == 2, f"done events: {done}")
    check(job_id in survivor.started_jobs(), "the survivor did not run the job")
    # The 480p MP4 outgrew one part: it went by multipart upload.
    big = [r for r in h.renditions(vid) if r["kind"] == "mp4" and int(r["size"]) > PART_MB << 20]
    check(big, f"no output above {PART_MB} MiB: {h.renditions(vid)}")
    rec = survivor.wait_for("job done", lambda rec: rec.get("job") == job_id)
    check(int(rec["multipart"]) >= len(big), f"multipart uploads: {rec}")


def wait_running_with_outputs(h, job_id, prefix):
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        j = h.job(job_id)
        check(not j or j["status"] in ("running", "queued"), f"job ended too early: {j}")
        if j and j["status"] == "running" and list_keys(h.s3, prefix):
            return j
        time.sleep(0.2)
    raise Failure("the job never ran")


def scenario_sigterm(h):
    clip = os.path.join(h.scratch, "long.mp4")
    make_clip(clip, 40, "854x480")
    a = h.worker("w1", MCLOUD_TRANSCODE_GRACE_MS="200")
    vid, key = h.add_video(clip)
    job_id = h.publish_job(vid, key)
    prefix = f"videos/{TENANT}/{vid}/attempts/{job_id}-"
    wait_running_with_outputs(h, job_id, prefix + "1/")
    a.signal_stop()
    rows = h.db.rows(f"SELECT status, attempt, handed_back FROM jobs WHERE id = {q(job_id)}")
    check(rows[0] == ["queued", "1", "1"], f"job after a short grace: {rows[0]}")
    check(h.video(vid)["status"] == "transcoding", "video changed by an abandoned run")
    check(not list_keys(h.s3, prefix + "1/"), "the abandoned run left outputs")
    check(not [e for e in events_of(h, vid) if e["type"] == "done"], "done event from an abandoned run")

    b = h.worker("w2", MCLOUD_TRANSCODE_GRACE_MS="600000")
    wait_running_with_outputs(h, job_id, prefix + "2/")
    b.signal_stop()
    # The long grace let the run finish before the worker left.
    check_published(h, vid, job_id, duration(clip), ["360p", "480p"], attempt=2)
    check(h.db.rows(f"SELECT handed_back FROM jobs WHERE id = {q(job_id)}")[0] == ["1"], "handed_back")
    # Its offset was committed: a new worker does not run the job again.
    c = h.worker("w3")
    c.wait_for("kafka partitions assigned")
    marker_vid, marker_key = h.add_video(None, source_key=key)
    marker = h.publish_job(marker_vid, marker_key)
    h.wait_final([marker_vid])
    check(job_id not in c.started_jobs() and marker in c.started_jobs(),
          f"w3 started {c.started_jobs()}")
    done = [e for e in events_of(h, vid) if e["type"] == "done"]
    check(len(done) == 1, f"done events: {done}")


def scenario_sigterm_held(h):
    clip = os.path.join(h.scratch, "clip.mp4")
    make_clip(clip, 12, "426x240")
    release = os.path.join(h.scratch, "release")
    held = dict(MCLOUD_TRANSCODE_GRACE_MS="600000", MCLOUD_TRANSCODE_TEST_HOLD_AFTER_SEGMENTS="1",
                MCLOUD_TRANSCODE_TEST_HOLD_RELEASE_FILE=release)
    busy, idle = h.worker("w1", **held), h.worker("w2", **held)
    owners = settled(lambda: [w.owned() for w in (busy, idle)],
                     lambda o: o[0] and o[1] and sorted(p for ps in o for p in ps) == list(range(6)), 120)
    check(owners[0] and owners[1] and sorted(p for ps in owners for p in ps) == list(range(6)),
          f"the group of two never settled: w1 {owners[0]}, w2 {owners[1]}")
    vid, key = h.add_video(clip)
    job_id = h.publish_job(vid, key, partition=min(owners[0]))
    busy.wait_for("TEST ONLY: transcode held", lambda rec: True)
    check(h.job(job_id)["status"] == "running", f"the held job is not running: {h.job(job_id)}")
    for w in (busy, idle):
        w.proc.send_signal(signal.SIGTERM)
    idle.proc.wait(timeout=300)
    idle.stopped = True
    check(idle.proc.returncode == 0, f"the idle w2 exited {idle.proc.returncode}:\n{idle.text()[-3000:]}")
    busy.wait_for("signal 15: stopping gracefully")
    # the precondition: SIGTERM came while the job was held, the group changed meanwhile
    check(busy.proc.poll() is None and h.job(job_id)["status"] == "running",
          f"w1 did not hold its job through SIGTERM: exit {busy.proc.poll()}, job {h.job(job_id)}")
    log(f"w1 holds job {job_id} after SIGTERM; w2 left the group; releasing")
    with open(release, "w"):
        pass
    busy.proc.wait(timeout=300)
    busy.stopped = True
    busy.stop()  # exit 0, no sanitizer report
    h.workers.remove(busy)
    recs = busy.records()
    sig = [i for i, r in enumerate(recs) if "stopping gracefully" in r.get("msg", "")]
    done = [i for i, r in enumerate(recs) if r.get("msg") == "job done" and r.get("job") == job_id]
    check(sig and len(done) == 1 and done[0] > sig[0], f"w1 did not finish its job after SIGTERM: {recs[-10:]}")
    check_published(h, vid, job_id, duration(clip), ["240p"])
    ev = settled(lambda: [e for e in events_of(h, vid) if e["type"] == "done"], len)
    check(len(ev) == 1 and ev[0]["attempt"] == 1, f"done events: {ev}")
    after = [r.get("msg") for r in recs[done[0] + 1:] if r.get("component") == "kafka"]
    log(f"w1 finished after SIGTERM, published once, exited 0; its consumer's close then served: {after}")


def scenario_transient(h):
    clip = os.path.join(h.scratch, "clip.mp4")
    make_clip(clip, 2, "426x240")
    h.worker("w1", MCLOUD_S3_ENDPOINT="http://127.0.0.1:9", MCLOUD_TRANSCODE_MAX_ATTEMPTS="3")
    vid, key = h.add_video(clip)
    job_id = h.publish_job(vid, key)
    h.wait_final([vid])
    v = h.video(vid)
    check(v["status"] == "failed" and "gave up after 3 attempts" in v["reason"], f"video {v}")
    j = h.job(job_id)
    check(j["status"] == "failed" and j["attempt"] == "3", f"job {j}")
    dl = settled(lambda: dlq_of(h, vid), len)
    check(len(dl) == 1 and dl[0]["kind"] == "transient" and dl[0]["attempts"] == 3, f"dead letters {dl}")
    failed = settled(lambda: [e for e in events_of(h, vid) if e["type"] == "failed"],
                     lambda f: any(e["final"] for e in f))
    check([e["final"] for e in failed] == [False, False, True], f"failed events {failed}")


def refuses_slow_group_heartbeat(h):
    """A group heartbeat above a third of the session timeout (Kafka's
    rule) is refused at start, the message naming both settings."""
    env = {**ENV, **h.worker_env, "MCLOUD_TRANSCODE_GROUP_HEARTBEAT_MS": "2001"}  # session 6000
    r = subprocess.run([h.worker_bin], env=env, capture_output=True, text=True, timeout=60)
    out = r.stdout + r.stderr
    check(r.returncode != 0 and "transcode.group_heartbeat_ms (2001)" in out and
          "transcode.session_timeout_ms (6000)" in out, f"a heartbeat of 2001 ms with a 6 s session: rc "
          f"{r.returncode}, {out[-1000:]}")
    log("ok: transcode.group_heartbeat_ms above a third of the session refused, naming both")


def scenario_rebalance(h):
    refuses_slow_group_heartbeat(h)
    clip = os.path.join(h.scratch, "small.mp4")
    make_clip(clip, 3, "426x240")
    src = duration(clip)
    w1, w2 = h.worker("w1"), h.worker("w2")
    # Both members hold partitions before jobs are sent, the group settled
    # (w1 may hold all six until w2's join moves some: see below).
    for w in (w1, w2):
        w.wait_for("kafka partitions assigned")
    owners = settled(lambda: [w.owned() for w in (w1, w2)],
                     lambda o: o[0] and o[1] and sorted(p for ps in o for p in ps) == list(range(6)), 120)
    check(owners[0] and owners[1] and sorted(p for ps in owners for p in ps) == list(range(6)),
          f"the group of two never settled: w1 {owners[0]}, w2 {owners[1]}")

    def batch():
        jobs = {}
        for p in range(6):
            vid, key = h.add_video(clip)
            jobs[h.publish_job(vid, key, partition=p)] = vid
        h.wait_final(list(jobs.values()))
        for job_id, vid in jobs.items():
            check_published(h, vid, job_id, src, ["240p"])
        return jobs

    first = batch()
    by_worker = {h.job(j)["worker"] for j in first}
    check(by_worker == {w1.instance, w2.instance}, f"first batch ran on {by_worker}, not on both workers")

    w3 = h.worker("w3")
    w3.wait_for("kafka partitions assigned")
    # The cooperative rebalance moves partitions in two rounds: jobs sent
    # before it settles may land on a partition being revoked, and its next
    # owner runs them again (attempt 2). Send the second batch to a settled
    # group: the six partitions held once each, some of them by w3.
    owners = settled(lambda: [w.owned() for w in (w1, w2, w3)],
                     lambda o: o[2] and sorted(p for ps in o for p in ps) == list(range(6)), 120)
    check(owners[2] and sorted(p for ps in owners for p in ps) == list(range(6)),
          f"the group never settled with w3 in it: w1 {owners[0]}, w2 {owners[1]}, w3 {owners[2]}")
    log(f"settled: w1 {sorted(owners[0])}, w2 {sorted(owners[1])}, w3 {sorted(owners[2])}")
    second = batch()
    ran = {h.job(j)["worker"] for j in second}
    check(w3.instance in ran, f"the third worker ran none of the second batch ({ran})")

    # No job ran twice: one start, one done event, attempt 1 each.
    starts = w1.started_jobs() + w2.started_jobs() + w3.started_jobs()
    events = consume_all(h.topics["events"])
    for job_id in list(first) + list(second):
        check(starts.count(job_id) == 1, f"job {job_id} started {starts.count(job_id)} times")
        check(int(h.job(job_id)["attempt"]) == 1, f"job {job_id} ran more than once")
        done = [e for e in events if e.get("job_id") == job_id and e["type"] == "done"]
        check(len(done) == 1, f"job {job_id}: {len(done)} done events")


# The presets' segment length (docs/ARCHITECTURE.md "Transcoding presets"):
# a job message cannot override it, unlike mcloud-transcode-file --segment.
PRESET_SEGMENT_S = 4.0


def worker_result(h, vid, prefix, out):
    """The worker's published outputs described like mcloud-transcode-file's
    JSON document, for the corpus checks: rungs from the renditions rows
    (tallest first), thumbnails from S3 (poster first)."""
    rungs = sorted((r for r in h.renditions(vid) if r["kind"] == "mp4"),
                   key=lambda r: -min(int(r["width"]), int(r["height"])))
    renditions = [{"name": r["name"], "file": r["object_key"][len(prefix):], "width": int(r["width"]),
                   "height": int(r["height"]), "bandwidth": int(r["bitrate"])} for r in rungs]
    thumbs = sorted((os.path.relpath(os.path.join(d, f), out)
                     for d, _, fs in os.walk(os.path.join(out, "thumbs")) for f in fs),
                    key=lambda name: (name != "thumbs/poster.jpg", name))
    return {"renditions": renditions, "thumbnails": thumbs}


def check_corpus_case(h, case, source, vid, job_id):
    v, j = h.video(vid), h.job(job_id)
    if case.fail:
        check(v["status"] == "failed" and case.fail in v["reason"], f"video {v}, expected failed '{case.fail}'")
        check(j["status"] == "failed" and int(j["attempt"]) == 1, f"an invalid source is not retried: {j}")
        dl = settled(lambda: dlq_of(h, vid), len)
        check(len(dl) == 1 and dl[0]["kind"] == "invalid" and case.fail in dl[0]["reason"], f"dead letters {dl}")
        check(not list_keys(h.s3, f"videos/{TENANT}/{vid}/"), "outputs left behind")
        return v["reason"]
    names = [f"{min(w, ht)}p" for w, ht in case.rungs] or ["audio"]
    prefix = check_published(h, vid, job_id, duration(source), names)
    out = os.path.join(h.scratch, vid)
    check(not dlq_of(h, vid), "a dead letter for a published video")
    return corpus.check_outputs(case, source, out, worker_result(h, vid, prefix, out), PRESET_SEGMENT_S)


def corpus_outcome(h, case, source, vid, job_id):
    """(passed, log line) of one corpus case: checks raise, this reports."""
    try:
        return True, f"ok   {case.name}: {check_corpus_case(h, case, source, vid, job_id)}"
    except (Failure, subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError) as e:
        return False, f"FAIL {case.name}: {type(e).__name__}: {e}"


def scenario_corpus(h):
    # Every source of the media corpus whose outcome is the source's own:
    # valid ones are published, invalid ones refused. (Its injected read
    # failure is the transient scenario's business here.)
    cases = [c for c in corpus.CASES if not c.fail or c.kind == "invalid"]
    work = os.path.join(h.scratch, "corpus")
    tmp = os.path.join(h.scratch, "tmp")
    os.makedirs(work)
    os.makedirs(tmp)
    # Sources and checks are ffmpeg/ffprobe children: run them side by side.
    pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
    t0 = time.monotonic()
    sources = dict(zip((c.name for c in cases), pool.map(lambda c: corpus.make_source(c, work), cases)))
    log(f"{len(cases)} sources made in {time.monotonic() - t0:.1f} s")
    workers = [h.worker(name, MCLOUD_TRANSCODE_TMP_DIR=tmp) for name in ("w1", "w2")]
    for w in workers:
        w.wait_for("kafka partitions assigned")
    jobs = {}
    t0 = time.monotonic()
    for i, c in enumerate(cases):
        vid, key = h.add_video(sources[c.name])
        # Round the partitions: both workers get a share of the corpus.
        jobs[c.name] = (vid, h.publish_job(vid, key, partition=i % 6, preset=corpus.preset_of(c)))
    h.wait_final([vid for vid, _ in jobs.values()])
    log(f"{len(cases)} jobs final in {time.monotonic() - t0:.1f} s")
    t0 = time.monotonic()
    outcomes = list(pool.map(lambda c: corpus_outcome(h, c, sources[c.name], *jobs[c.name]), cases))
    pool.shutdown()
    for _, line in outcomes:
        log(line)
    log(f"outputs checked in {time.monotonic() - t0:.1f} s")
    failed = [c.name for c, (passed, _) in zip(cases, outcomes) if not passed]
    check(not failed, f"{len(failed)} of {len(cases)} corpus cases failed: {', '.join(failed)}")
    ran = {h.job(job_id)["worker"] for _, job_id in jobs.values()}
    check(ran == {w.instance for w in workers}, f"the corpus ran on {ran}, not on both workers")
    check(not os.listdir(tmp), f"temporary files left: {os.listdir(tmp)}")


# ---- playable while transcoding --------------------------------------------


def get_text(h, key):
    try:
        return h.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    except h.s3.exceptions.NoSuchKey:
        return None


def segments_of(text):
    return [line for line in text.splitlines() if line and not line.startswith("#")]


def playable_row(h, vid):
    rows = h.db.rows(f"SELECT status, playable, IFNULL(playable_prefix, ''), IFNULL(playable_seconds, 0) "
                     f"FROM videos WHERE id = {q(vid)}")
    return dict(zip(("status", "playable", "prefix", "seconds"), rows[0]))


def check_growing(h, prefix, rungs, min_segments):
    """The attempt's master lists every rung; each rung playlist is EVENT,
    without ENDLIST, with min_segments or more segments that all exist."""
    master = get_text(h, prefix + "hls/master.m3u8")
    check(master is not None, f"no master playlist under {prefix} while playable")
    listed = [u.split("/")[0] for u in segments_of(master)]
    check(sorted(listed) == sorted(rungs), f"master lists {listed}, not {rungs}")
    keys = set(list_keys(h.s3, prefix + "hls/"))
    seen = {}
    for r in rungs:
        text = get_text(h, f"{prefix}hls/{r}/index.m3u8")
        check(text is not None, f"rung {r}: no playlist while the master is out")
        check("#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" not in text,
              f"rung {r}: not a growing EVENT playlist:\n{text}")
        segs = segments_of(text)
        check(len(segs) >= min_segments, f"rung {r}: {len(segs)} segments, expected >= {min_segments}")
        for seg in segs + ["init.mp4"]:
            check(f"{prefix}hls/{r}/{seg}" in keys, f"rung {r}: {seg} is listed but not in S3")
        seen[r] = segs
    return seen


def follow_playlists(h, prefix, rungs, seen, until):
    """Reads the rung playlists until until() is true: each read lists at
    least what the previous one did, in the same order (never shrinks).
    Returns the last lists and whether any read was the final VOD text."""
    final = False
    deadline = time.monotonic() + DEADLINE_S
    while not until():
        check(time.monotonic() < deadline, "the playlists did not finish")
        for r in rungs:
            text = get_text(h, f"{prefix}hls/{r}/index.m3u8")
            if text is None:
                continue
            segs = segments_of(text)
            check(segs[:len(seen[r])] == seen[r], f"rung {r} shrank or changed: {seen[r]} -> {segs}")
            if "#EXT-X-ENDLIST" in text:
                check("#EXT-X-PLAYLIST-TYPE:VOD" in text, f"rung {r}: final playlist not VOD:\n{text}")
                final = True
            else:
                check("#EXT-X-PLAYLIST-TYPE:EVENT" in text, f"rung {r}: growing playlist not EVENT")
            seen[r] = segs
        time.sleep(0.1)
    return seen, final


def sha256_tree(root):
    import hashlib
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            path = os.path.join(d, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, root)] = hashlib.sha256(fh.read()).hexdigest()
    return out


def scenario_playable(h):
    clip = os.path.join(h.scratch, "clip.mp4")
    make_clip(clip, 12, "854x480")
    release = os.path.join(h.scratch, "release")
    w = h.worker("w1", MCLOUD_TRANSCODE_TEST_HOLD_AFTER_SEGMENTS="2",
                 MCLOUD_TRANSCODE_TEST_HOLD_RELEASE_FILE=release)
    vid, key = h.add_video(clip)
    job_id = h.publish_job(vid, key)
    prefix = f"videos/{TENANT}/{vid}/attempts/{job_id}-1/"
    rungs = ["360p", "480p"]
    w.wait_for("TEST ONLY: transcode held")
    row = playable_row(h, vid)
    check(row["status"] == "transcoding" and row["playable"] == "1" and row["prefix"] == prefix,
          f"held job: video not transcoding+playable from {prefix}: {row}")
    check(float(row["seconds"]) >= 8, f"playable_seconds {row['seconds']} < 2 segments of 4 s")
    check(h.job(job_id)["status"] == "running", "the held job is not running")
    seen = check_growing(h, prefix, rungs, 2)
    check(not any(k.endswith(".mp4") and "/hls/" not in k for k in list_keys(h.s3, prefix)),
          "progressive MP4s were published before the end")
    log(f"held and playable: {row['seconds']} s, segments { {r: len(s) for r, s in seen.items()} }")
    with open(release, "w"):
        pass
    seen, _ = follow_playlists(h, prefix, rungs, seen, lambda: h.video(vid)["status"] != "transcoding")
    h.wait_final([vid])
    check_published(h, vid, job_id, duration(clip), rungs)
    for r in rungs:
        text = get_text(h, f"{prefix}hls/{r}/index.m3u8")
        check(text.rstrip().endswith("#EXT-X-ENDLIST") and "#EXT-X-PLAYLIST-TYPE:VOD" in text,
              f"rung {r}: the final playlist is not VOD with ENDLIST:\n{text}")
        check(segments_of(text)[:len(seen[r])] == seen[r], f"rung {r}: final list drops segments")
    # The same bytes as a run that publishes only at the end.
    got, want = os.path.join(h.scratch, "got"), os.path.join(h.scratch, "want")
    h.download(prefix, got)
    tool = os.path.join(os.path.dirname(os.path.abspath(h.worker_bin)), "mcloud-transcode-file")
    run([tool, "--threads", "1", "--tmp", h.scratch, clip, want])
    a, b = sha256_tree(got), sha256_tree(want)
    check(sorted(a) == sorted(b), f"different outputs: {sorted(set(a) ^ set(b))}")
    diff = [k for k in a if a[k] != b[k]]
    check(not diff, f"outputs differ from the non-progressive run: {diff}")
    log(f"{len(a)} outputs byte-identical to the non-progressive run")


def scenario_playable_retry(h):
    clip = os.path.join(h.scratch, "clip.mp4")
    make_clip(clip, 12, "854x480")
    never = os.path.join(h.scratch, "never-released")
    a = h.worker("w1", MCLOUD_TRANSCODE_TEST_HOLD_AFTER_SEGMENTS="1",
                 MCLOUD_TRANSCODE_TEST_HOLD_RELEASE_FILE=never)
    vid, key = h.add_video(clip)
    job_id = h.publish_job(vid, key)
    first = f"videos/{TENANT}/{vid}/attempts/{job_id}-1/"
    second = f"videos/{TENANT}/{vid}/attempts/{job_id}-2/"
    rungs = ["360p", "480p"]
    a.wait_for("TEST ONLY: transcode held")
    check(playable_row(h, vid)["prefix"] == first, "attempt 1 is not the playable one")
    seen1 = check_growing(h, first, rungs, 1)
    a.kill()
    h.workers.remove(a)
    b = h.worker("w2")
    seen2 = {r: [] for r in rungs}
    prefixes = set()

    def step():
        row = playable_row(h, vid)
        prefixes.add(row["prefix"])
        # attempt 1 stays exactly as it was (never shrinks) until it is deleted
        for r in rungs:
            text = get_text(h, f"{first}hls/{r}/index.m3u8")
            check(text is None or segments_of(text) == seen1[r], f"attempt 1's {r} playlist changed")
        return row["status"] != "transcoding"

    seen2, _ = follow_playlists(h, second, rungs, seen2, step)
    h.wait_final([vid])
    check_published(h, vid, job_id, duration(clip), rungs, attempt=2)
    check(playable_row(h, vid)["prefix"] == second, "the ready video does not play attempt 2")
    check(not list_keys(h.s3, first), "attempt 1's objects were not deleted")
    check(job_id in b.started_jobs(), "the second worker did not run the job")
    log(f"playable prefixes seen: {sorted(prefixes)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", required=True)
    ap.add_argument("scenario", choices=("outcomes", "kill", "sigterm", "sigterm_held", "transient", "rebalance", "corpus",
                                         "playable", "playable_retry"))
    args = ap.parse_args()
    for tool in ("ffmpeg", "ffprobe", "kcat", "mariadb"):
        if not shutil.which(tool):
            raise SystemExit(f"worker_test needs {tool} (scripts/bootstrap.sh installs it)")
    h = Harness(args.worker)
    ok = False
    try:
        globals()[f"scenario_{args.scenario}"](h)
        ok = True
    except Failure as e:
        log(f"FAILED: {e}")
    finally:
        try:
            h.close(ok)
        except Failure as e:
            log(f"FAILED at stop: {e}")
            ok = False
    print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
