"""bench_upload.py — mcloud-upload against tusd (S3 store), same run, same MinIO,
with a direct S3 multipart upload of the same bytes as the limit.

Scenarios (sizes can be shrunk for a smoke run):
  a. one upload of --big-mib (1024) in --patch-mib (8) PATCHes, in sequence
  b. --conc (32) concurrent uploads of --each-mib (64), --patch-mib PATCHes

For each server: throughput (bytes / wall time from the first POST to the last
204), p50/p99 PATCH latency (the final PATCH included: it completes the
multipart upload), the server's peak RSS (VmHWM of /proc/<pid>/status: every
page it touched, the shared libraries' included), its peak private memory
(anonymous memory sampled every 20 ms, summed over the server and its
live descendants, mcloud-upload's probe server and its probe children, as
Pss_Anon so pages a fork shares count once; the server's own RssAnon is in
the JSON as peak_own_anon_mib) and its
CPU time (utime + stime plus the reaped children's, of the server and its
live descendants). Each server
is started fresh for each scenario and repetition, so the peaks are the
scenario's. The client is the same small http.client loop for both servers
(one kept-alive connection per upload, one thread per upload, bodies sliced
from a random 64 MiB block in memory). The limit is mcloud-bench-s3 (our C
S3 client, tests/bench/s3/) uploading the same sizes in the same part size
directly to S3, as many processes at once as there are uploads.

The machine is shared, so each scenario is repeated --reps times (default 3)
with mcloud, tusd and direct in a rotating order, and the report gives the
median of each figure and the median of the per-repetition ratios.

tusd is built once from the Go module proxy into $MCLOUD_HOME/cache/bin
(pinned version below) and run with its S3 store on the stack's MinIO, its
defaults otherwise.

Everything the run creates is removed at the end, also after a failure or
SIGINT/SIGTERM: the server processes, the objects and unfinished multipart
uploads (tusd-bench/, bench-upload/, and mcloud's sources/ and uploads/
keys of the bench's uploads) and mcloud's MySQL rows of those uploads.

usage (stack up, env loaded, `build` configured RelWithDebInfo and built):
  eval "$(scripts/stack.sh env)"
  $MCLOUD_HOME/cache/venv/bin/python tests/bench/upload/bench_upload.py --build build
"""

import argparse
import concurrent.futures
import datetime
import http.client
import json
import os
import platform
import random
import resource
import shutil
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import LIVE, log, proc_status, stop_servers_on_signal  # noqa: E402  (tests/bench/benchlib.py)

MiB = 1024 * 1024
TUSD_MODULE = "github.com/tus/tusd/v2"
TUSD_VERSION = "v2.10.1"
TUSD_PREFIX = "tusd-bench/"
DIRECT_PREFIX = "bench-upload/"
CLK_TCK = os.sysconf("SC_CLK_TCK")



# ---- tusd -------------------------------------------------------------------

def install_tusd(home):
    """tusd TUSD_VERSION, built from the Go module proxy once and cached, as
    scripts/bootstrap.sh does for MinIO."""
    bindir = os.path.join(home, "cache", "bin")
    exe = os.path.join(bindir, f"tusd-{TUSD_VERSION}")
    if os.access(exe, os.X_OK) and subprocess.run([exe, "-version"], capture_output=True).returncode == 0:
        return exe
    if not shutil.which("go"):
        sys.exit("bench_upload: go not found (Go is expected under /usr/local/go); cannot build tusd")
    os.makedirs(bindir, exist_ok=True)
    log_file = os.path.join(home, "cache", "tusd-build.log")
    log(f"building tusd {TUSD_VERSION} from the Go module proxy (once) into {exe}; log: {log_file}")
    # `go install pkg@version` also asks the proxy for the module's version
    # list (deprecation check), which the proxy here may refuse; requiring
    # the pinned version from a throwaway module builds the same thing.
    with tempfile.TemporaryDirectory() as mod, open(log_file, "w") as out:
        for argv in (["go", "mod", "init", "mcloud.local/tusdbuild"],
                     ["go", "get", f"{TUSD_MODULE}/cmd/tusd@{TUSD_VERSION}"],
                     ["go", "build", "-trimpath", "-o", exe + ".tmp", f"{TUSD_MODULE}/cmd/tusd"]):
            if subprocess.run(argv, cwd=mod, stdout=out, stderr=subprocess.STDOUT).returncode != 0:
                sys.exit(f"bench_upload: `{' '.join(argv)}` failed; see {log_file}")
    os.replace(exe + ".tmp", exe)
    return exe


# ---- servers ------------------------------------------------------------------


def pss_anon_kib(pid):
    """Pss_Anon of /proc/<pid>/smaps_rollup (kB), or 0."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(self, name, argv, env, port, logdir):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(logdir, f"{name}.log"), "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log)
        LIVE.add(self)
        self.peak_anon_kib = 0
        self.peak_own_anon_kib = 0
        self._sampling = threading.Event()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _wait_ready(self):
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.log.name}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("OPTIONS", "/files/", headers={"Tus-Resumable": "1.0.0"})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status in (200, 204):
                    return
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{self.name} did not answer OPTIONS /files/ within 60 s")
            time.sleep(0.2)

    def _sample(self):
        while not self._sampling.wait(0.02):
            own = proc_status(self.proc.pid, "RssAnon")
            self.peak_own_anon_kib = max(self.peak_own_anon_kib, own)
            # forked children share their parent's pages until written:
            # summing Pss_Anon (each shared page split between its sharers)
            # counts every page once
            anon = sum(pss_anon_kib(pid) for pid in self.processes())
            self.peak_anon_kib = max(self.peak_anon_kib, anon)

    def processes(self):
        """The server and its live descendants (mcloud-upload's probe server
        and the probe children it forks): their memory and CPU are the
        server's too."""
        out, todo = [], [self.proc.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        todo.extend(int(x) for x in f.read().split())
            except OSError:
                pass  # ended meanwhile
        return out

    def peak_rss_kib(self):
        return proc_status(self.proc.pid, "VmHWM")

    def own_cpu_seconds(self):
        """utime + stime of the server process alone (no children)."""
        try:
            with open(f"/proc/{self.proc.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return sum(int(x) for x in fields[11:13]) / CLK_TCK

    def cpu_seconds(self):
        # utime, stime, and cutime, cstime (the children it reaped), of the
        # server and of its live descendants (mcloud's probe server, whose
        # own reaped probe children are in its cutime)
        total = 0
        for pid in self.processes():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(x) for x in fields[11:15])
        return total / CLK_TCK

    def stop(self):
        self._sampling.set()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        LIVE.discard(self)
        self.log.close()


def start_mcloud(args, port, logdir):
    env = dict(os.environ, MCLOUD_UPLOAD_PORT=str(port),
               MCLOUD_UPLOAD_PUBLIC_URL=f"http://127.0.0.1:{port}",
               MCLOUD_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "warn"))
    return Server("mcloud-upload", [os.path.join(args.build, "upload", "mcloud-upload")], env, port, logdir)


def start_tusd(args, exe, port, logdir):
    env = dict(os.environ,
               AWS_ACCESS_KEY_ID=os.environ["MCLOUD_S3_ACCESS_KEY"],
               AWS_SECRET_ACCESS_KEY=os.environ["MCLOUD_S3_SECRET_KEY"],
               AWS_REGION=os.environ.get("MCLOUD_S3_REGION", "us-east-1"))
    argv = [exe, "-host", "127.0.0.1", "-port", str(port), "-base-path", "/files/",
            "-s3-bucket", os.environ.get("MCLOUD_S3_BUCKET", "mcloud"),
            "-s3-endpoint", os.environ["MCLOUD_S3_ENDPOINT"],
            "-s3-object-prefix", TUSD_PREFIX, "-verbose=false"] + shlex.split(args.tusd_args)
    return Server("tusd", argv, env, port, logdir)


# ---- the tus client -------------------------------------------------------------

class Payload:
    """Bodies sliced from one random block (different bytes in every part)."""

    def __init__(self, size=64 * MiB):
        self.block = memoryview(random.randbytes(size))
        self.size = size

    def slice(self, offset, n):
        at = offset % self.size
        if at + n <= self.size:
            return self.block[at:at + n]
        return bytes(self.block[at:]) + bytes(self.block[:n - (self.size - at)])


class Created:
    """What the servers were asked to create, for the clean-up."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mcloud = []        # (upload id, video id)

    def add(self, upload_id, video_id):
        with self.lock:
            self.mcloud.append((upload_id, video_id))


def send(c, method, path, body, headers, what):
    """One request; the server's own answer when it closed the connection
    before taking the whole body."""
    try:
        c.request(method, path, body=body, headers=headers)
    except (BrokenPipeError, ConnectionResetError) as e:
        try:
            r = c.getresponse()
            detail = f"{r.status} {r.read()[:300]!r}"
        except Exception:
            detail = "no response"
        raise RuntimeError(f"{what}: the server closed the connection ({e}); it answered: {detail}")
    r = c.getresponse()
    return r, r.read()


def tus_upload(base, token, length, patch, payload, seed, created, is_mcloud):
    """One upload over one kept-alive connection: POST then PATCHes.
    Returns the PATCH latencies in seconds."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    hdr = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    r, body = send(c, "POST", "/files/", None, dict(hdr, **{
        "Upload-Length": str(length), "Content-Length": "0", "Upload-Metadata": "filename YmVuY2guYmlu"}),
        f"POST {base}/files/")
    if r.status != 201:
        raise RuntimeError(f"POST {base}/files/: {r.status} {body[:300]!r}")
    loc = urllib.parse.urlsplit(r.getheader("Location")).path
    if is_mcloud:
        created.add(loc.rsplit("/", 1)[1], r.getheader("Mcloud-Video-Id"))
    lat = []
    off = 0
    while off < length:
        n = min(patch, length - off)
        t0 = time.perf_counter()
        r, body = send(c, "PATCH", loc, payload.slice(seed * 7919 * MiB + off, n), dict(hdr, **{
            "Upload-Offset": str(off), "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(n)}), f"PATCH {loc} at {off}")
        lat.append(time.perf_counter() - t0)
        if r.status != 204 or int(r.getheader("Upload-Offset") or -1) != off + n:
            raise RuntimeError(f"PATCH {loc} at {off}: {r.status} offset {r.getheader('Upload-Offset')} "
                               f"{body[:300]!r}")
        off += n
    c.close()
    return lat


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def run_server(srv, token, count, size, patch, payload, created, is_mcloud):
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as ex:
        futs = [ex.submit(tus_upload, srv.base, token, size, patch, payload, i, created, is_mcloud)
                for i in range(count)]
        lats = [f.result() for f in futs]
    wall = time.perf_counter() - t0
    lat = sorted(x for one in lats for x in one)
    return {"seconds": wall, "mib_s": count * size / MiB / wall, "patches": len(lat),
            "p50_ms": 1000 * pct(lat, 50), "p99_ms": 1000 * pct(lat, 99),
            "peak_rss_mib": srv.peak_rss_kib() / 1024, "peak_anon_mib": srv.peak_anon_kib / 1024,
            "peak_own_anon_mib": srv.peak_own_anon_kib / 1024,
            "cpu_s": srv.cpu_seconds(), "cpu_own_s": srv.own_cpu_seconds()}


def run_direct(args, count, size, patch, tag):
    driver = os.path.join(args.build, "tests", "bench", "mcloud-bench-s3")
    keys = [f"{DIRECT_PREFIX}{tag}-{os.getpid()}-{i}" for i in range(count)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    procs = [subprocess.Popen([driver, "upload", k, str(size), str(patch)], stdout=subprocess.PIPE) for k in keys]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if any(p.returncode != 0 for p in procs):
        raise RuntimeError("mcloud-bench-s3 upload failed (its message is above)")
    return {"seconds": wall, "mib_s": count * size / MiB / wall,
            "driver_seconds": max(json.loads(o)["seconds"] for o in outs),
            "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)}


# ---- clean-up of what the run stored ----------------------------------------------

class Cleaner:
    def __init__(self):
        import boto3
        from botocore.config import Config
        self.s3 = boto3.client("s3", endpoint_url=os.environ["MCLOUD_S3_ENDPOINT"],
                               region_name=os.environ.get("MCLOUD_S3_REGION", "us-east-1"),
                               aws_access_key_id=os.environ["MCLOUD_S3_ACCESS_KEY"],
                               aws_secret_access_key=os.environ["MCLOUD_S3_SECRET_KEY"],
                               config=Config(s3={"addressing_style": "path"}))
        self.bucket = os.environ.get("MCLOUD_S3_BUCKET", "mcloud")

    def safely(self, fn, arg):
        """A clean-up step that must not hide the error that ended the run."""
        try:
            fn(arg)
        except Exception as e:
            log(f"warning: clean-up step {fn.__name__} failed (is the stack up?): {e}")

    def prefix(self, prefix):
        """Deletes the objects and aborts the multipart uploads under prefix;
        returns how many of each."""
        objects = uploads = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
                objects += len(keys)
        for page in self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=prefix):
            for up in page.get("Uploads", []):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])
                uploads += 1
        return objects, uploads

    def mcloud(self, created):
        """mcloud-upload's objects of the bench's uploads, then their rows."""
        for upload_id, video_id in created:
            self.prefix(f"uploads/{upload_id}/")
            if video_id:
                self.prefix(f"sources/local/{video_id}/")
        ids = [u for u, _ in created]
        videos = [v for _, v in created if v]
        if not ids:
            return
        q = lambda xs: ",".join("'" + x.replace("'", "") + "'" for x in xs)
        sql = f"DELETE FROM uploads WHERE id IN ({q(ids)});"
        if videos:
            sql += (f"DELETE FROM outbox WHERE msg_key IN ({q(videos)});"
                    f"DELETE FROM videos WHERE id IN ({q(videos)});")
        host, port = os.environ.get("MCLOUD_MYSQL_MASTER", "127.0.0.1:13306").rsplit(":", 1)
        r = subprocess.run(["mariadb", "-h", host, "-P", port, "-u", os.environ.get("MCLOUD_MYSQL_USER", "mcloud"),
                            os.environ.get("MCLOUD_MYSQL_DATABASE", "mcloud"), "-e", sql],
                           env=dict(os.environ, MYSQL_PWD=os.environ.get("MCLOUD_MYSQL_PASSWORD", "")),
                           capture_output=True, text=True)
        if r.returncode != 0:
            log(f"warning: could not delete the bench's MySQL rows: {r.stderr.strip()}")


# ---- main -----------------------------------------------------------------------

def one_run(name, args, tusd, token, count, size, patch, payload, created, logdir, cleaner, tag):
    if name == "direct":
        try:
            return run_direct(args, count, size, patch, tag)
        finally:
            cleaner.safely(cleaner.prefix, DIRECT_PREFIX)
    port = args.port_mcloud if name == "mcloud" else args.port_tusd
    srv = start_mcloud(args, port, logdir) if name == "mcloud" else start_tusd(args, tusd, port, logdir)
    try:
        return run_server(srv, token, count, size, patch, payload, created, name == "mcloud")
    finally:
        srv.stop()
        if name == "mcloud":
            with created.lock:
                done, created.mcloud = created.mcloud, []
            cleaner.safely(cleaner.mcloud, done)
        else:
            cleaner.safely(cleaner.prefix, TUSD_PREFIX)


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def summarize(res, names):
    """Medians per server and medians of the per-repetition ratios."""
    out = {n: {k: median_of(res["runs"][n], k) for k in res["runs"][n][0]} for n in names}
    reps = len(res["runs"][names[0]])
    if {"mcloud", "tusd", "direct"} <= set(names):
        m, t, d = (res["runs"][n] for n in ("mcloud", "tusd", "direct"))
        out["ratios"] = {
            "throughput_vs_tusd": statistics.median(m[i]["mib_s"] / t[i]["mib_s"] for i in range(reps)),
            "peak_rss_vs_tusd": statistics.median(m[i]["peak_rss_mib"] / t[i]["peak_rss_mib"] for i in range(reps)),
            "peak_anon_vs_tusd": statistics.median(m[i]["peak_anon_mib"] / t[i]["peak_anon_mib"] for i in range(reps)),
            "time_vs_direct": statistics.median(m[i]["seconds"] / d[i]["seconds"] for i in range(reps)),
            "tusd_time_vs_direct": statistics.median(t[i]["seconds"] / d[i]["seconds"] for i in range(reps)),
            "cpu_vs_tusd": statistics.median(m[i]["cpu_s"] / t[i]["cpu_s"] for i in range(reps)),
        }
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--each-mib", type=int, default=64)
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--patch-mib", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--port-mcloud", type=int, default=18190)
    ap.add_argument("--port-tusd", type=int, default=18191)
    ap.add_argument("--only", choices=["a", "b"], default=None)
    ap.add_argument("--servers", default="mcloud,tusd,direct", help="comma list (a smoke run may omit some)")
    ap.add_argument("--tusd-args", default="", help="extra tusd flags, e.g. -s3-disable-content-hashes")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    stop_servers_on_signal("bench_upload")
    home = os.environ["MCLOUD_HOME"]
    names = args.servers.split(",")
    tusd = install_tusd(home) if "tusd" in names else None
    token = subprocess.run([os.path.join(args.build, "upload", "mcloud-token"), "--tenant", "local",
                            "--ttl", "7200"], check=True, capture_output=True, text=True).stdout.strip()
    payload = Payload()
    patch = args.patch_mib * MiB
    scenarios = [("a", 1, args.big_mib * MiB), ("b", args.conc, args.each_mib * MiB)]
    if args.only:
        scenarios = [s for s in scenarios if s[0] == args.only]
    logdir = tempfile.mkdtemp(prefix="mcloud-bench-upload-")
    cleaner = Cleaner()
    created = Created()
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
               "tusd": TUSD_VERSION, "reps": args.reps, "load_before": os.getloadavg(), "scenarios": {}}
    ok = False
    try:
        for tag, count, size in scenarios:
            res = {"count": count, "size": size, "patch": patch, "runs": {n: [] for n in names}}
            results["scenarios"][tag] = res
            log(f"scenario {tag}: {count} x {size // MiB} MiB in {args.patch_mib} MiB PATCHes, {args.reps} repetitions")
            for rep in range(args.reps):
                order = names[rep % len(names):] + names[:rep % len(names)]
                for name in order:
                    r = one_run(name, args, tusd, token, count, size, patch, payload, created, logdir,
                                cleaner, tag)
                    r["load"] = os.getloadavg()[0]
                    res["runs"][name].append(r)
                    extra = (f", p99 PATCH {r['p99_ms']:.0f} ms, peak RSS {r['peak_rss_mib']:.0f} MiB"
                             f" (private {r['peak_anon_mib']:.1f} MiB, the server process alone"
                             f" {r['peak_own_anon_mib']:.1f})" if name != "direct" else "")
                    own = f" (the server process alone {r['cpu_own_s']:.1f})" if name != "direct" else ""
                    log(f"  rep {rep + 1} {name}: {r['mib_s']:.0f} MiB/s, {r['seconds']:.1f} s, "
                        f"CPU {r['cpu_s']:.1f} s{own}{extra}, load {r['load']:.1f}")
            res["median"] = summarize(res, names)
        ok = True
    finally:
        with created.lock:
            left, created.mcloud = created.mcloud, []
        cleaner.safely(cleaner.mcloud, left)
        for p in (TUSD_PREFIX, DIRECT_PREFIX):
            cleaner.safely(cleaner.prefix, p)
        if ok and not os.environ.get("KEEP_LOGS"):
            shutil.rmtree(logdir, ignore_errors=True)
        else:
            log(f"server logs in {logdir}")
    results["load_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(markdown(results, names))


def markdown(R, names):
    label_of = {"mcloud": "mcloud-upload", "tusd": f"tusd {R['tusd']}", "direct": "direct S3 multipart (limit)"}
    rows = ["| scenario | server | throughput | time | p50 PATCH | p99 PATCH | peak RSS | peak private | CPU |",
            "|---|---|---|---|---|---|---|---|---|"]
    ratios = ["| scenario | time mcloud / direct (target ≤ 1.15) | time tusd / direct "
              "| CPU mcloud / tusd (target ≤ 1) | peak private mcloud / tusd (target ≤ 1) "
              "| peak RSS mcloud / tusd | throughput mcloud / tusd |",
              "|---|---|---|---|---|---|---|"]
    for tag, s in R["scenarios"].items():
        if "median" not in s:
            continue
        label = f"{tag}: {s['count']} x {s['size'] // MiB} MiB"
        for name in names:
            r = s["median"][name]
            if name == "direct":
                rows.append(f"| {label} | {label_of[name]} | {r['mib_s']:.0f} MiB/s | {r['seconds']:.1f} s "
                            f"| — | — | — | — | {r['cpu_s']:.1f} s |")
            else:
                rows.append(f"| {label} | {label_of[name]} | {r['mib_s']:.0f} MiB/s | {r['seconds']:.1f} s "
                            f"| {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | {r['peak_rss_mib']:.1f} MiB "
                            f"| {r['peak_anon_mib']:.1f} MiB | {r['cpu_s']:.1f} s |")
        q = s["median"].get("ratios")
        if q:
            ratios.append(f"| {label} | {q['time_vs_direct']:.2f} | {q['tusd_time_vs_direct']:.2f} "
                          f"| {q['cpu_vs_tusd']:.2f} | {q['peak_anon_vs_tusd']:.2f} | {q['peak_rss_vs_tusd']:.2f} "
                          f"| {q['throughput_vs_tusd']:.2f} |")
    la = R["load_before"]
    return "\n".join(rows + [""] + ratios + [
        "", f"medians of {R['reps']} repetitions; load average before: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}, "
            f"after: {R['load_after'][0]:.2f}; {platform.machine()}, {os.cpu_count()} CPUs"])


if __name__ == "__main__":
    main()
