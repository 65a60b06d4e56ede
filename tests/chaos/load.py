"""load.py — the fault suite's load: short generated videos (ffmpeg CLI,
2 s 320x240, each distinct) uploaded by several tus-js-client processes at
once (tests/e2e/upload/lib/client.js, as an SDK user runs it) in small
PATCHes. Every third upload's client is SIGKILLed after its first
acknowledged PATCH and a new process resumes it from tus-js-client's URL
storage; a client that fails (a fault hit it) is resumed the same way.
An upload is acknowledged when its client printed DONE (the last 204).

New uploads start only while fewer than `backlog` acknowledged videos wait
for their transcode, so the workers stay busy without an endless queue;
the load goes on until it has made `count` videos and the scheduler is done
(so every fault meets work in flight), with one client once past `count`."""

import hashlib
import os
import subprocess
import threading
import time

from stackctl import ROOT, log, now_ms, try_sql

CLIENT = os.path.join(ROOT, "tests", "e2e", "upload", "lib", "client.js")
SECONDS = 2.0


def make_video(path, i):
    """A distinct 2 s 320x240 H.264/AAC MP4 (~1 MB: several PATCHes)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y",
                    "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25,hue=h={(i * 37) % 360}",
                    "-f", "lavfi", "-i", f"sine=frequency={200 + (i % 50) * 20}:sample_rate=48000",
                    "-t", str(SECONDS), "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "4M",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", path], check=True, timeout=120)
    with open(path, "rb") as f:
        data = f.read()
    return len(data), hashlib.sha256(data).hexdigest()


class Upload:
    def __init__(self, idx, path, size, sha256):
        self.idx, self.path, self.size, self.sha256 = idx, path, size, sha256
        self.store = path + ".tus.json"
        self.url = self.video = None
        self.state = "pending"        # pending, active, done, abandoned
        self.acked = 0                # last acknowledged offset
        self.runs = 0                 # client processes started
        self.interrupt = idx % 3 == 1  # SIGKILL the first client after a PATCH
        self.interrupted = False
        self.proc = None
        self.done_ms = None


class Load:
    def __init__(self, work, endpoint, token, count, clients, backlog, chunk):
        self.work, self.endpoint, self.token = work, endpoint, token
        self.count, self.clients, self.backlog, self.chunk = count, clients, backlog, chunk
        self.uploads = []
        self.events = []              # (ms, kind) of platform progress: ack, done
        self.lock = threading.Lock()
        self.schedule_done = threading.Event()
        self.stop = threading.Event()
        self.waiting = 0              # acknowledged videos not ready yet (from the monitor)
        self.thread = None

    # ---- what the scheduler reads ------------------------------------------
    def in_flight(self):
        """Uploads mid-way: a client process alive, the upload created and
        not all bytes acknowledged."""
        with self.lock:
            return [u for u in self.uploads if u.proc and u.proc.poll() is None and u.url and u.acked < u.size]

    def progress_after(self, t_ms, kinds=("ack", "done")):
        with self.lock:
            return next((t for t, k in self.events if t > t_ms and k in kinds), None)

    def acknowledged(self):
        with self.lock:
            return [u for u in self.uploads if u.state == "done"]

    def started(self):
        with self.lock:
            return len(self.uploads)

    # ---- the clients ----------------------------------------------------------
    def _event(self, kind):
        with self.lock:
            self.events.append((now_ms(), kind))

    def _run_client(self, u, mode):
        env = dict(os.environ, MCLOUD_TUS_CHUNK_BYTES=str(self.chunk))
        if mode == "start":          # a new upload: nothing of a failed creation is kept
            u.url = u.video = None
        u.runs += 1
        with open(os.path.join(self.work, f"client{u.idx}.log"), "a") as errf:
            p = subprocess.Popen(["node", CLIENT, mode, u.path, self.endpoint, self.token, u.store],
                                 stdout=subprocess.PIPE, stderr=errf, text=True, env=env,
                                 cwd=os.path.dirname(CLIENT))
        u.proc = p
        for line in p.stdout:
            tag, _, val = line.strip().partition(" ")
            if tag == "URL":
                u.url = val
            elif tag == "VIDEO":
                u.video = val   # the upload's; a failed creation's answer may name one dropped since
            elif tag == "ACK":
                u.acked = max(u.acked, int(val))
                self._event("ack")
                if u.interrupt and not u.interrupted and u.acked < u.size:
                    u.interrupted = True
                    p.kill()
            elif tag == "DONE":
                u.done_ms = now_ms()
                self._event("done")
            elif tag == "ERROR":
                log(f"upload {u.idx}: client error: {val}")
        p.wait()
        return u.done_ms is not None

    def _upload(self, u):
        mode = "start"
        deadline = time.monotonic() + 300
        while not self.stop.is_set():
            if self._run_client(u, mode):
                u.state = "done"
                return
            if time.monotonic() > deadline or u.runs > 40:
                break
            # no upload created yet: start again; else resume the stored URL
            mode = "resume" if u.url else "start"
            time.sleep(0.5 if u.interrupted and u.runs == 1 else 2)
        u.state = "abandoned"
        log(f"upload {u.idx} ({u.video}) abandoned after {u.runs} client runs")

    def _main(self):
        threads = []
        i = 0
        while not self.stop.is_set():
            if i >= self.count and self.schedule_done.is_set():
                break
            active = sum(1 for t in threads if t.is_alive())
            # past the asked count, one client keeps work in flight for the faults left
            clients = self.clients if i < self.count else 1
            if active >= clients or self.waiting >= self.backlog:
                time.sleep(0.2)
                continue
            path = os.path.join(self.work, f"v{i:04d}.mp4")
            size, sha = make_video(path, i)
            u = Upload(i, path, size, sha)
            with self.lock:
                self.uploads.append(u)
            t = threading.Thread(target=self._upload, args=(u,), daemon=True)
            t.start()
            threads.append(t)
            i += 1
        for t in threads:
            t.join()

    def start(self):
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def kill_clients(self):
        self.stop.set()
        with self.lock:
            for u in self.uploads:
                if u.proc and u.proc.poll() is None:
                    u.proc.kill()


class Monitor:
    """Every half second: the run's videos not ready yet (the load's backlog)
    and the running jobs with their workers (instance = host-pid)."""

    def __init__(self, load):
        self.load = load
        self.running = []             # [(video, worker)]
        self.ready_events = []        # ms at which the ready count grew
        self.ready = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._main, daemon=True)

    def ids(self):
        return [u.video for u in self.load.acknowledged() if u.video]

    def _main(self):
        while not self.stop.is_set():
            vids = self.ids()
            if vids:
                q = ",".join(f"'{v}'" for v in vids)
                rows = try_sql(f"SELECT v.id, v.status, IFNULL(j.worker,'') FROM videos v LEFT JOIN jobs j "
                               f"ON j.video_id = v.id AND j.status = 'running' WHERE v.id IN ({q})")
                if rows is not None:
                    ready = sum(1 for r in rows if r[1] in ("ready", "failed"))
                    self.load.waiting = len(vids) - ready
                    self.running = [(r[0], r[2]) for r in rows if r[2]]
                    if ready > self.ready:
                        self.ready_events.append(now_ms())
                    self.ready = ready
            time.sleep(0.5)

    def ready_after(self, t_ms):
        return next((t for t in list(self.ready_events) if t > t_ms), None)

