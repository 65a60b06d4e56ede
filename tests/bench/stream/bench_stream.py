"""bench_stream.py — mcloud-stream against nginx serving the same bytes from
disk with sendfile, in one run, with a direct S3 GET as the peer of a cache
miss.

The run stores a synthetic ready video: a --big-mib (1024) and a --small-mib
(64) random object (rungs "gib1" and "mib64") under a prefix of its own in
S3, a `videos` row (tenant 'local', status 'ready', published_prefix) with
`renditions` rows, as the stream contract allows, and --rounds more copies
of the small object ("missNN") for the cache misses. The same bytes are
written to disk for a private nginx (Debian's; worker_processes auto,
sendfile on, tcp_nopush on, keepalive, access log off) on a free port. It
starts its own mcloud-stream from the build tree on another free port with
its own cache directory, fetches both rungs through it once (their sha256
checked against the source: this is also the cache warm-up) and compares a
few random ranges of both servers byte for byte. Then, in --rounds rounds
with the servers in alternating order:

  a. ranges: wrk (-t2 -c64, --seconds each) with random_range.lua, one
     random 1 MiB range per request over the small object (aligned to 1 MiB
     by default, --any-offset for any offset), from cache: req/s, p50/p99
     latency, the server's and wrk's CPU time per request;
  b. sequential: one GET of the whole big object with curl -o /dev/null
     (one connection), from cache: throughput and time to first byte;
  c. miss: a GET of a missNN object mcloud-stream has never seen (a fresh
     key each round: a real miss, S3 fetch and cache fill) against a GET of
     the same object straight from S3 with a presigned URL: time to first
     byte and total time.

Peak RSS (VmHWM) of mcloud-stream and of nginx's workers is reported as
information. The report is the median of each figure and the median of the
per-round ratios, as Markdown, with the load average before every run in
the log and its range in the table: the machine is shared.

Everything the run creates is removed at the end, also after a failure or
SIGINT/SIGTERM: both servers, the objects under its prefix, its MySQL rows,
the files and the cache directory.

usage (stack up, env loaded, `build` configured RelWithDebInfo and built):
  eval "$(scripts/stack.sh env)"
  $MCLOUD_HOME/cache/venv/bin/python tests/bench/stream/bench_stream.py --build build
"""

import argparse
import datetime
import hashlib
import http.client
import json
import os
import platform
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import LIVE, log, proc_status, stop_servers_on_signal  # noqa: E402  (tests/bench/benchlib.py)

MiB = 1024 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))
LUA = os.path.join(HERE, "random_range.lua")
PREFIX = "bench-stream/"
CLK_TCK = os.sysconf("SC_CLK_TCK")



def load1():
    return os.getloadavg()[0]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- processes ------------------------------------------------------------------


def cpu_seconds(pid):
    """utime + stime of one process (all its threads), or 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class Server:
    """A server process of the run; its pids() are the processes that serve
    (nginx: the workers; mcloud-stream: itself)."""

    def __init__(self, name, argv, env, port, logdir, ready_path):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(logdir, f"{name}.log"), "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log)
        LIVE.add(self)
        try:
            self._wait_ready(ready_path)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, path):
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}); see {self.log.name}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", path)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{self.name} did not answer GET {path} within 60 s; see {self.log.name}")
            time.sleep(0.2)

    def pids(self):
        return children(self.proc.pid) if self.name == "nginx" else [self.proc.pid]

    def cpu_seconds(self):
        return sum(cpu_seconds(p) for p in self.pids())

    def peak_rss_kib(self):
        """mcloud-stream: its VmHWM; nginx: the sum of its workers' (the
        master only forks them)."""
        return sum(proc_status(p, "VmHWM") for p in self.pids())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()   # nginx: fast shutdown of master and workers
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        LIVE.discard(self)
        self.log.close()


NGINX_SH = os.path.join(HERE, "..", "..", "support", "nginx.sh")


def start_nginx(workdir, root, logdir):
    """Debian's nginx with the tests' private configuration
    (tests/support/nginx.sh: sendfile on, tcp_nopush on, keep-alive without a
    request limit), worker_processes auto and no access log."""
    exe = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(exe, os.X_OK):
        sys.exit("bench_stream: nginx not found (scripts/bootstrap.sh installs Debian's nginx)")
    port = free_port()
    nginx_dir = os.path.join(workdir, "nginx")
    subprocess.run(["bash", NGINX_SH, "conf", root, str(port), nginx_dir], check=True,
                   env=dict(os.environ, NGINX_WORKERS="auto", NGINX_EXTRA="access_log off;"))
    argv = [exe, "-p", nginx_dir, "-c", os.path.join(nginx_dir, "nginx.conf"),
            "-e", os.path.join(nginx_dir, "error.log"), "-g", "daemon off;"]
    return Server("nginx", argv, os.environ.copy(), port, logdir, "/mib64.mp4")


def start_mcloud(args, cache_dir, logdir):
    port = free_port()
    env = dict(os.environ, MCLOUD_STREAM_PORT=str(port),
               MCLOUD_STREAM_PUBLIC_URL=f"http://127.0.0.1:{port}",
               MCLOUD_STREAM_CACHE_DIR=cache_dir,
               MCLOUD_STREAM_CACHE_MAX_MB=str(args.cache_mb),
               MCLOUD_LOG_LEVEL=os.environ.get("BENCH_LOG_LEVEL", "warn"))
    return Server("mcloud-stream", [os.path.join(args.build, "stream", "mcloud-stream")], env, port, logdir,
                  "/healthz")


# ---- the fixture -------------------------------------------------------------------

class Fixture:
    """The synthetic ready video: objects in S3, rows in MySQL, the same
    bytes on disk for nginx."""

    def __init__(self, args, workdir):
        import boto3
        from botocore.config import Config
        self.s3 = boto3.client("s3", endpoint_url=os.environ["MCLOUD_S3_ENDPOINT"],
                               region_name=os.environ.get("MCLOUD_S3_REGION", "us-east-1"),
                               aws_access_key_id=os.environ["MCLOUD_S3_ACCESS_KEY"],
                               aws_secret_access_key=os.environ["MCLOUD_S3_SECRET_KEY"],
                               config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
        self.bucket = os.environ.get("MCLOUD_S3_BUCKET", "mcloud")
        self.video = str(uuid.uuid4())
        self.prefix = f"{PREFIX}{self.video}/"
        self.root = os.path.join(workdir, "www")
        self.sizes = {"gib1": args.big_mib * MiB, "mib64": args.small_mib * MiB}
        self.misses = [f"miss{i + 1:02d}" for i in range(args.rounds)]
        self.sha256 = {}
        self.stored = False

    def path(self, rung):
        return f"{rung}.mp4"

    def key(self, rung):
        return self.prefix + self.path(rung)

    def create(self):
        from boto3.s3.transfer import TransferConfig
        os.makedirs(self.root)
        self.stored = True
        for rung, size in self.sizes.items():
            file = os.path.join(self.root, self.path(rung))
            h = hashlib.sha256()
            with open(file, "wb") as f:
                for _ in range(size // (8 * MiB)):
                    block = os.urandom(8 * MiB)
                    h.update(block)
                    f.write(block)
            self.sha256[rung] = h.hexdigest()
            log(f"PUT s3://{self.bucket}/{self.key(rung)} ({size // MiB} MiB)")
            self.s3.upload_file(file, self.bucket, self.key(rung), ExtraArgs={"ContentType": "video/mp4"},
                                Config=TransferConfig(multipart_chunksize=64 * MiB, max_concurrency=4))
        for rung in self.misses:
            self.s3.copy_object(Bucket=self.bucket, Key=self.key(rung), ContentType="video/mp4",
                                MetadataDirective="REPLACE",
                                CopySource={"Bucket": self.bucket, "Key": self.key("mib64")})
        rows = ",".join(f"('{self.video}', '{rung}', 'mp4', 1280, 720, 3000000, '{self.key(rung)}', "
                        f"{self.sizes.get(rung, self.sizes['mib64'])})"
                        for rung in list(self.sizes) + self.misses)
        mysql(f"INSERT INTO videos (id, tenant_id, title, status, published_prefix) VALUES "
              f"('{self.video}', 'local', 'bench-stream', 'ready', '{self.prefix}');"
              f"INSERT INTO renditions (video_id, name, kind, width, height, bitrate, object_key, size_bytes) "
              f"VALUES {rows};")

    def presigned(self, rung):
        return self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": self.key(rung)},
                                              ExpiresIn=7200)

    def remove(self):
        if not self.stored:
            return
        for fn in (self._remove_objects, self._remove_rows):
            try:
                fn()
            except Exception as e:
                log(f"warning: clean-up step {fn.__name__} failed (is the stack up?): {e}")

    def _remove_objects(self):
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": keys})
        for page in self.s3.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket,
                                                                              Prefix=self.prefix):
            for up in page.get("Uploads", []):
                self.s3.abort_multipart_upload(Bucket=self.bucket, Key=up["Key"], UploadId=up["UploadId"])

    def _remove_rows(self):
        mysql(f"DELETE FROM videos WHERE id = '{self.video}';")   # renditions: ON DELETE CASCADE


def mysql(sql):
    host, port = os.environ.get("MCLOUD_MYSQL_MASTER", "127.0.0.1:13306").rsplit(":", 1)
    r = subprocess.run(["mariadb", "-h", host, "-P", port, "-u", os.environ.get("MCLOUD_MYSQL_USER", "mcloud"),
                        os.environ.get("MCLOUD_MYSQL_DATABASE", "mcloud"), "-e", sql],
                       env=dict(os.environ, MYSQL_PWD=os.environ.get("MCLOUD_MYSQL_PASSWORD", "")),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"mariadb: {r.stderr.strip()}")


def signed_base(args, video):
    """The video's signed base URL (…/v/<video>/<cred>/) from `mcloud play --local`,
    the command line's own signer."""
    r = subprocess.run([os.path.join(args.build, "cli", "mcloud"), "play", video, "--json", "--local", "--ttl", "7200"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"mcloud play {video} --json: {r.stderr.strip()}")
    page = json.loads(r.stdout)["page"]
    return urllib.parse.urlsplit(page).path   # /v/<video>/<cred>/


# ---- checks ---------------------------------------------------------------------------

def get(base, path, headers=None):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    c.request("GET", path, headers=headers or {})
    return c.getresponse()


def sha256_of(base, path):
    r = get(base, path)
    h = hashlib.sha256()
    n = 0
    while True:
        block = r.read(8 * MiB)
        if not block:
            break
        h.update(block)
        n += len(block)
    if r.status != 200:
        raise RuntimeError(f"GET {base}{path}: {r.status}")
    return h.hexdigest(), n


def same_ranges(servers, paths, size, count=8):
    """A few random ranges, byte for byte the same from both servers."""
    for _ in range(count):
        first = random.randrange(0, size - MiB)
        hdr = {"Range": f"bytes={first}-{first + MiB - 1}"}
        bodies = []
        for srv in servers:
            r = get(srv.base, paths[srv.name], hdr)
            body = r.read()
            if r.status != 206 or len(body) != MiB:
                raise RuntimeError(f"{srv.name}: Range {hdr['Range']}: {r.status}, {len(body)} bytes")
            bodies.append(body)
        if bodies[0] != bodies[1]:
            raise RuntimeError(f"the servers answer Range {hdr['Range']} with different bytes")


# ---- the measurements ----------------------------------------------------------------

def run_wrk(args, srv, path, size):
    cpu0 = srv.cpu_seconds()
    client0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    argv = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.conns), "-d", f"{args.seconds}s", "--latency",
            "-s", LUA, srv.base + path, "--", str(size), str(MiB), "any" if args.any_offset else "aligned"]
    p = subprocess.run(argv, capture_output=True, text=True)
    cpu = srv.cpu_seconds() - cpu0
    client1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (client1.ru_utime - client0.ru_utime) + (client1.ru_stime - client0.ru_stime)
    lines = [line for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or not lines:
        raise RuntimeError(f"wrk failed ({p.returncode}): {p.stderr.strip()} {p.stdout[-500:]}")
    w = json.loads(lines[-1])
    per_request = w["bytes"] / max(1, w["requests"])
    if w["non_2xx_3xx"] or w["socket_errors"] or not MiB <= per_request < MiB + 4096:
        raise RuntimeError(f"{srv.name}: wrk saw {w['non_2xx_3xx']} non-2xx answers, {w['socket_errors']} "
                           f"socket errors, {per_request:.0f} bytes per answer (expected 1 MiB + headers)")
    seconds = w["duration_us"] / 1e6
    return {"req_s": w["requests"] / seconds, "mib_s": w["bytes"] / MiB / seconds,
            "p50_ms": w["p50_us"] / 1000, "p99_ms": w["p99_us"] / 1000, "max_ms": w["max_us"] / 1000,
            "requests": w["requests"], "cpu_us_per_req": 1e6 * cpu / max(1, w["requests"]),
            "wrk_cpu_us_per_req": 1e6 * client_cpu / max(1, w["requests"]), "header_bytes": per_request - MiB}


def run_curl(url, expect_size):
    p = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                        "%{http_code} %{size_download} %{time_starttransfer} %{time_total}", url],
                       capture_output=True, text=True)
    fields = p.stdout.split()
    if p.returncode != 0 or len(fields) != 4 or fields[0] != "200" or int(fields[1]) != expect_size:
        raise RuntimeError(f"curl {url}: exit {p.returncode}, {p.stdout!r} {p.stderr.strip()}")
    return {"ttfb_ms": 1000 * float(fields[2]), "seconds": float(fields[3]),
            "mib_s": expect_size / MiB / float(fields[3])}


def run_sequential(srv, path, size):
    cpu0 = srv.cpu_seconds()
    r = run_curl(srv.base + path, size)
    r["cpu_s"] = srv.cpu_seconds() - cpu0
    return r


def ratio(runs, key, a, b):
    """Median over the rounds of a's figure / b's figure."""
    return statistics.median(x[key] / y[key] for x, y in zip(runs[a], runs[b]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--any-offset", action="store_true", help="ranges at any offset, not 1 MiB-aligned")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--small-mib", type=int, default=64)
    ap.add_argument("--cache-mb", type=int, default=4096, help="mcloud-stream's stream.cache_max_mb")
    ap.add_argument("--only", default="ranges,sequential,miss", help="comma list of scenarios")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    if not 1 <= args.rounds <= 99:
        sys.exit("bench_stream: --rounds is 1..99")
    stop_servers_on_signal("bench_stream")
    for tool in ("wrk", "curl", "mariadb"):
        if not shutil.which(tool):
            sys.exit(f"bench_stream: {tool} not found (scripts/bootstrap.sh installs it)")
    scenarios = args.only.split(",")
    workdir = tempfile.mkdtemp(prefix="mcloud-bench-stream-")
    logdir = os.path.join(workdir, "logs")
    os.makedirs(logdir)
    fixture = Fixture(args, workdir)
    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
               "rounds": args.rounds, "seconds": args.seconds, "conns": args.conns,
               "any_offset": args.any_offset, "big": fixture.sizes["gib1"], "small": fixture.sizes["mib64"],
               "load_before": os.getloadavg(), "nginx": nginx_version(), "runs": {}}
    ok = False
    mcloud = nginx = None
    try:
        fixture.create()
        nginx = start_nginx(workdir, fixture.root, logdir)
        mcloud = start_mcloud(args, os.path.join(workdir, "cache"), logdir)
        base = signed_base(args, fixture.video)
        paths = {"mcloud-stream": {r: base + fixture.path(r) for r in fixture.sizes},
                 "nginx": {r: "/" + fixture.path(r) for r in fixture.sizes}}
        log(f"video {fixture.video}; nginx on {nginx.port}, mcloud-stream on {mcloud.port}; warming the cache")
        for rung, size in fixture.sizes.items():
            digest, n = sha256_of(mcloud.base, paths["mcloud-stream"][rung])
            if digest != fixture.sha256[rung] or n != size:
                raise RuntimeError(f"mcloud-stream served {rung} with sha256 {digest} ({n} bytes), "
                                   f"expected {fixture.sha256[rung]} ({size} bytes)")
        same_ranges([mcloud, nginx], {s: p["mib64"] for s, p in paths.items()}, fixture.sizes["mib64"])
        servers = [mcloud, nginx]
        runs = results["runs"]
        for rnd in range(args.rounds):
            order = servers if rnd % 2 == 0 else servers[::-1]
            if "ranges" in scenarios:
                for srv in order:
                    la = load1()
                    r = run_wrk(args, srv, paths[srv.name]["mib64"], fixture.sizes["mib64"])
                    r["load"] = la
                    runs.setdefault("ranges", {}).setdefault(srv.name, []).append(r)
                    log(f"round {rnd + 1} ranges {srv.name}: {r['req_s']:.0f} req/s, p99 {r['p99_ms']:.1f} ms, "
                        f"{r['cpu_us_per_req']:.0f} µs server CPU/request, {r['wrk_cpu_us_per_req']:.0f} µs wrk CPU/request, "
                        f"load {la:.2f}")
            if "sequential" in scenarios:
                for srv in order:
                    la = load1()
                    r = run_sequential(srv, paths[srv.name]["gib1"], fixture.sizes["gib1"])
                    r["load"] = la
                    runs.setdefault("sequential", {}).setdefault(srv.name, []).append(r)
                    log(f"round {rnd + 1} sequential {srv.name}: {r['mib_s']:.0f} MiB/s, TTFB {r['ttfb_ms']:.2f} ms, "
                        f"CPU {r['cpu_s']:.2f} s, load {la:.2f}")
            if "miss" in scenarios:
                rung = fixture.misses[rnd]
                urls = {"mcloud-stream": mcloud.base + base + fixture.path(rung), "s3": fixture.presigned(rung)}
                for name in (["mcloud-stream", "s3"] if rnd % 2 == 0 else ["s3", "mcloud-stream"]):
                    la = load1()
                    r = run_curl(urls[name], fixture.sizes["mib64"])
                    r["load"] = la
                    runs.setdefault("miss", {}).setdefault(name, []).append(r)
                    log(f"round {rnd + 1} miss {name}: TTFB {r['ttfb_ms']:.2f} ms, total {r['seconds'] * 1000:.0f} ms, "
                        f"load {la:.2f}")
        results["peak_rss_kib"] = {"mcloud-stream": mcloud.peak_rss_kib(), "nginx": nginx.peak_rss_kib(),
                                   "nginx_workers": len(nginx.pids())}
        ok = True
    finally:
        for srv in (mcloud, nginx):
            if srv:
                srv.stop()
        fixture.remove()
        if ok and not os.environ.get("KEEP_LOGS"):
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            shutil.rmtree(fixture.root, ignore_errors=True)
            shutil.rmtree(os.path.join(workdir, "cache"), ignore_errors=True)
            log(f"server logs in {logdir}")
    results["load_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(markdown(results))


def nginx_version():
    p = subprocess.run(["nginx", "-v"], capture_output=True, text=True)
    return p.stderr.strip().split("/")[-1] if p.returncode == 0 else "?"


def loads(*lists):
    xs = [r["load"] for runs in lists for r in runs]
    return f"{min(xs):.1f}–{max(xs):.1f}"


def markdown(R):
    runs = R["runs"]
    med = lambda xs, k: statistics.median(x[k] for x in xs)
    out = ["| scenario | figure | mcloud-stream | peer | mcloud / peer | load (1 min) |", "|---|---|---|---|---|---|"]
    if "ranges" in runs:
        m, n = runs["ranges"]["mcloud-stream"], runs["ranges"]["nginx"]
        what = f"1 MiB random ranges{' (any offset)' if R['any_offset'] else ''}, {R['conns']} connections, " \
               f"from cache (peer: nginx {R['nginx']})"
        q = ratio(runs["ranges"], "req_s", "mcloud-stream", "nginx")
        out += [f"| {what} | req/s | {med(m, 'req_s'):.0f} | {med(n, 'req_s'):.0f} | **{q:.2f}** "
                f"(target ≥ 1.0) | {loads(m, n)} |",
                f"| | p50 latency | {med(m, 'p50_ms'):.1f} ms | {med(n, 'p50_ms'):.1f} ms "
                f"| {ratio(runs['ranges'], 'p50_ms', 'mcloud-stream', 'nginx'):.2f} | |",
                f"| | p99 latency | {med(m, 'p99_ms'):.1f} ms | {med(n, 'p99_ms'):.1f} ms "
                f"| {ratio(runs['ranges'], 'p99_ms', 'mcloud-stream', 'nginx'):.2f} | |",
                f"| | server CPU per request | {med(m, 'cpu_us_per_req'):.0f} µs | {med(n, 'cpu_us_per_req'):.0f} µs "
                f"| {ratio(runs['ranges'], 'cpu_us_per_req', 'mcloud-stream', 'nginx'):.2f} | |",
                f"| | wrk's CPU per request | {med(m, 'wrk_cpu_us_per_req'):.0f} µs | {med(n, 'wrk_cpu_us_per_req'):.0f} µs "
                f"| {ratio(runs['ranges'], 'wrk_cpu_us_per_req', 'mcloud-stream', 'nginx'):.2f} | |",
                f"| | response header bytes | {med(m, 'header_bytes'):.0f} | {med(n, 'header_bytes'):.0f} | | |"]
    if "sequential" in runs:
        m, n = runs["sequential"]["mcloud-stream"], runs["sequential"]["nginx"]
        what = f"sequential GET of {R['big'] // MiB} MiB, 1 connection, from cache (peer: nginx)"
        out += [f"| {what} | throughput | {med(m, 'mib_s'):.0f} MiB/s | {med(n, 'mib_s'):.0f} MiB/s "
                f"| **{ratio(runs['sequential'], 'mib_s', 'mcloud-stream', 'nginx'):.2f}** | {loads(m, n)} |",
                f"| | time to first byte | {med(m, 'ttfb_ms'):.2f} ms | {med(n, 'ttfb_ms'):.2f} ms "
                f"| {ratio(runs['sequential'], 'ttfb_ms', 'mcloud-stream', 'nginx'):.2f} | |",
                f"| | server CPU | {med(m, 'cpu_s'):.2f} s | {med(n, 'cpu_s'):.2f} s "
                f"| {ratio(runs['sequential'], 'cpu_s', 'mcloud-stream', 'nginx'):.2f} | |"]
    if "miss" in runs:
        m, s = runs["miss"]["mcloud-stream"], runs["miss"]["s3"]
        what = f"cache miss, GET of a fresh {R['small'] // MiB} MiB object (peer: direct S3 GET, presigned)"
        out += [f"| {what} | time to first byte | {med(m, 'ttfb_ms'):.2f} ms | {med(s, 'ttfb_ms'):.2f} ms "
                f"| **{ratio(runs['miss'], 'ttfb_ms', 'mcloud-stream', 's3'):.2f}** | {loads(m, s)} |",
                f"| | total time | {med(m, 'seconds') * 1000:.0f} ms | {med(s, 'seconds') * 1000:.0f} ms "
                f"| {ratio(runs['miss'], 'seconds', 'mcloud-stream', 's3'):.2f} | |"]
    if "peak_rss_kib" in R:
        p = R["peak_rss_kib"]
        out += [f"| whole run | peak RSS (VmHWM; nginx: sum of its {p['nginx_workers']} workers) "
                f"| {p['mcloud-stream'] / 1024:.1f} MiB | {p['nginx'] / 1024:.1f} MiB "
                f"| {p['mcloud-stream'] / max(1, p['nginx']):.2f} | |"]
    la, lb = R["load_before"], R["load_after"]
    return "\n".join(out + [
        "", f"medians of {R['rounds']} alternating rounds (ratios: median of the per-round ratios; wrk runs of "
            f"{R['seconds']} s); load average before: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}, after: {lb[0]:.2f}; "
            f"{platform.machine()}, {os.cpu_count()} CPUs; {R['date']}"])


if __name__ == "__main__":
    main()
