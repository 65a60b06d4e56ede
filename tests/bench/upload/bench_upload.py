"""bench_upload.py — mcloud-upload against tusd (S3 store), same run, same MinIO,
with a direct S3 multipart upload of the same bytes as the limit.

Scenarios (sizes can be shrunk for a smoke run):
  a. one upload of --big-mib (1024) in --patch-mib (8) PATCHes, in sequence
  b. --conc (32) concurrent uploads of --each-mib (64), --patch-mib PATCHes

For each server: throughput (bytes / wall time from the first POST to the last
204), p50/p99 PATCH latency (the final PATCH included: it completes the
multipart upload), and the server's peak RSS (VmHWM of /proc/<pid>/status;
each server is started fresh for each scenario, so the peak is the
scenario's). The client is the same small http.client loop for both servers
(one kept-alive connection per upload, one thread per upload, bodies sliced
from a random 64 MiB block in memory). The limit is mcloud-bench-s3 (our C
S3 client, tests/bench/s3/) uploading the same sizes in the same part size
directly to S3, as many processes at once as there are uploads.

tusd is built once from the Go module proxy into $MCLOUD_HOME/cache/bin
(pinned version below) and run with its S3 store on the stack's MinIO, its
defaults otherwise.

usage (stack up, env loaded, build done):
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
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

MiB = 1024 * 1024
TUSD_VERSION = "v2.10.1"
TUSD_PREFIX = "tusd-bench/"


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


# ---- tusd -------------------------------------------------------------------

def install_tusd(home):
    """tusd TUSD_VERSION, built from the Go module proxy once and cached."""
    bindir = os.path.join(home, "cache", "bin")
    exe = os.path.join(bindir, f"tusd-{TUSD_VERSION}")
    if os.access(exe, os.X_OK):
        return exe
    os.makedirs(bindir, exist_ok=True)
    log(f"building tusd {TUSD_VERSION} (once) into {exe}")
    # `go install pkg@version` also asks the proxy for the module's version
    # list (deprecation check), which the proxy here may refuse; requiring
    # the pinned version from a throwaway module builds the same thing.
    with tempfile.TemporaryDirectory() as mod:
        run = lambda *a: subprocess.run(a, cwd=mod, check=True, stdout=subprocess.DEVNULL)
        run("go", "mod", "init", "mcloud.local/tusdbuild")
        run("go", "get", f"github.com/tus/tusd/v2/cmd/tusd@{TUSD_VERSION}")
        run("go", "build", "-trimpath", "-o", exe + ".tmp", "github.com/tus/tusd/v2/cmd/tusd")
    os.replace(exe + ".tmp", exe)
    return exe


# ---- servers ------------------------------------------------------------------

class Server:
    def __init__(self, name, argv, env, port, logdir):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.log = open(os.path.join(logdir, f"{name}.log"), "ab")
        self.proc = subprocess.Popen(argv, env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 60
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited ({self.proc.returncode}); see {self.log.name}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("OPTIONS", "/files/", headers={"Tus-Resumable": "1.0.0"})
                r = c.getresponse()
                r.read()
                c.close()
                if r.status in (200, 204):
                    break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f"{name} did not answer OPTIONS /files/ within 60 s")
            time.sleep(0.2)

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_mcloud(args, port, logdir):
    env = dict(os.environ, MCLOUD_UPLOAD_PORT=str(port),
               MCLOUD_UPLOAD_PUBLIC_URL=f"http://127.0.0.1:{port}", MCLOUD_LOG_LEVEL="warn")
    return Server("mcloud-upload", [os.path.join(args.build, "upload", "mcloud-upload")], env, port, logdir)


def start_tusd(args, exe, port, logdir):
    env = dict(os.environ,
               AWS_ACCESS_KEY_ID=os.environ["MCLOUD_S3_ACCESS_KEY"],
               AWS_SECRET_ACCESS_KEY=os.environ["MCLOUD_S3_SECRET_KEY"],
               AWS_REGION=os.environ.get("MCLOUD_S3_REGION", "us-east-1"))
    argv = [exe, "-host", "127.0.0.1", "-port", str(port), "-base-path", "/files/",
            "-s3-bucket", os.environ.get("MCLOUD_S3_BUCKET", "mcloud"),
            "-s3-endpoint", os.environ["MCLOUD_S3_ENDPOINT"],
            "-s3-object-prefix", TUSD_PREFIX, "-verbose=false"]
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


def tus_upload(base, token, length, patch, payload, seed):
    """One upload over one kept-alive connection: POST then PATCHes.
    Returns (PATCH latencies in seconds, video id or None, location path)."""
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    hdr = {"Tus-Resumable": "1.0.0", "Authorization": f"Bearer {token}"}
    c.request("POST", "/files/", headers=dict(hdr, **{"Upload-Length": str(length), "Content-Length": "0",
                                                        "Upload-Metadata": "filename YmVuY2guYmlu"}))
    r = c.getresponse()
    r.read()
    if r.status != 201:
        raise RuntimeError(f"POST {base}/files/: {r.status}")
    loc = urllib.parse.urlsplit(r.getheader("Location")).path
    vid = r.getheader("Mcloud-Video-Id")
    lat = []
    off = 0
    while off < length:
        n = min(patch, length - off)
        body = payload.slice(seed * 7919 * MiB + off, n)
        t0 = time.perf_counter()
        c.request("PATCH", loc, body=body, headers=dict(hdr, **{
            "Upload-Offset": str(off), "Content-Type": "application/offset+octet-stream",
            "Content-Length": str(n)}))
        r = c.getresponse()
        r.read()
        lat.append(time.perf_counter() - t0)
        if r.status != 204 or int(r.getheader("Upload-Offset")) != off + n:
            raise RuntimeError(f"PATCH {loc} at {off}: {r.status} offset {r.getheader('Upload-Offset')}")
        off += n
    c.close()
    return lat, vid, loc


def run_tus(base, token, count, size, patch, payload):
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as ex:
        futs = [ex.submit(tus_upload, base, token, size, patch, payload, i) for i in range(count)]
        results = [f.result() for f in futs]
    wall = time.perf_counter() - t0
    lat = sorted(x for r in results for x in r[0])
    return {"seconds": wall, "bytes": count * size, "patches": len(lat),
            "p50_ms": 1000 * pct(lat, 50), "p99_ms": 1000 * pct(lat, 99),
            "videos": [r[1] for r in results if r[1]]}


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def run_direct(args, count, size, patch, tag):
    driver = os.path.join(args.build, "tests", "bench", "mcloud-bench-s3")
    keys = [f"bench-upload/{tag}-{os.getpid()}-{i}" for i in range(count)]
    t0 = time.perf_counter()
    procs = [subprocess.Popen([driver, "upload", k, str(size), str(patch)], stdout=subprocess.PIPE) for k in keys]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t0
    for p in procs:
        if p.returncode != 0:
            raise RuntimeError(f"mcloud-bench-s3 upload failed ({p.returncode})")
    for k in keys:
        subprocess.run([driver, "delete", k], check=True, stdout=subprocess.DEVNULL)
    inner = max(json.loads(o)["seconds"] for o in outs)
    return {"seconds": wall, "driver_seconds": inner, "bytes": count * size}


# ---- clean-up of what the servers stored ----------------------------------------

def delete_prefix(prefix):
    import boto3
    from botocore.config import Config
    s3 = boto3.client("s3", endpoint_url=os.environ["MCLOUD_S3_ENDPOINT"],
                      region_name=os.environ.get("MCLOUD_S3_REGION", "us-east-1"),
                      aws_access_key_id=os.environ["MCLOUD_S3_ACCESS_KEY"],
                      aws_secret_access_key=os.environ["MCLOUD_S3_SECRET_KEY"],
                      config=Config(s3={"addressing_style": "path"}))
    bucket = os.environ.get("MCLOUD_S3_BUCKET", "mcloud")
    n = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objs = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if objs:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objs})
            n += len(objs)
    return n


# ---- main -----------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--big-mib", type=int, default=1024)
    ap.add_argument("--each-mib", type=int, default=64)
    ap.add_argument("--conc", type=int, default=32)
    ap.add_argument("--patch-mib", type=int, default=8)
    ap.add_argument("--port-mcloud", type=int, default=18190)
    ap.add_argument("--port-tusd", type=int, default=18191)
    ap.add_argument("--only", choices=["a", "b"], default=None)
    ap.add_argument("--servers", default="mcloud,tusd", help="comma list (a smoke run may omit one)")
    ap.add_argument("--json", help="also write the raw results here")
    args = ap.parse_args()
    home = os.environ["MCLOUD_HOME"]
    tusd = install_tusd(home)
    token = subprocess.run([os.path.join(args.build, "upload", "mcloud-token"), "--tenant", "local",
                            "--ttl", "7200"], check=True, capture_output=True, text=True).stdout.strip()
    payload = Payload()
    patch = args.patch_mib * MiB
    scenarios = [("a", 1, args.big_mib * MiB), ("b", args.conc, args.each_mib * MiB)]
    if args.only:
        scenarios = [s for s in scenarios if s[0] == args.only]
    logdir = tempfile.mkdtemp(prefix="mcloud-bench-upload-")
    results = {"date": datetime.date.today().isoformat(), "tusd": TUSD_VERSION,
               "load_before": os.getloadavg(), "scenarios": {}}
    try:
        for tag, count, size in scenarios:
            res = {"count": count, "size": size, "patch": patch}
            log(f"scenario {tag}: {count} x {size // MiB} MiB in {args.patch_mib} MiB PATCHes")
            for name in args.servers.split(","):
                srv = (start_mcloud(args, args.port_mcloud, logdir) if name == "mcloud"
                       else start_tusd(args, tusd, args.port_tusd, logdir))
                try:
                    r = run_tus(srv.base, token, count, size, patch, payload)
                    r["peak_rss_kib"] = srv.peak_rss_kib()
                finally:
                    srv.stop()
                r["mib_s"] = r["bytes"] / MiB / r["seconds"]
                log(f"  {name}: {r['mib_s']:.0f} MiB/s, p99 PATCH {r['p99_ms']:.0f} ms, "
                    f"peak RSS {r['peak_rss_kib'] / 1024:.0f} MiB")
                if name == "mcloud":
                    for v in r.pop("videos"):
                        delete_prefix(f"sources/local/{v}/")
                else:
                    r.pop("videos")
                    log(f"  tusd stored {delete_prefix(TUSD_PREFIX)} objects under {TUSD_PREFIX} (deleted)")
                res[name] = r
            d = run_direct(args, count, size, patch, tag)
            d["mib_s"] = d["bytes"] / MiB / d["seconds"]
            log(f"  direct S3: {d['mib_s']:.0f} MiB/s")
            res["direct"] = d
            results["scenarios"][tag] = res
    finally:
        shutil.rmtree(logdir, ignore_errors=True) if not os.environ.get("KEEP_LOGS") else log(f"logs in {logdir}")
    results["load_after"] = os.getloadavg()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(markdown(results))


def markdown(R):
    rows = ["| scenario | server | throughput | p50 PATCH | p99 PATCH | peak RSS | time |",
            "|---|---|---|---|---|---|---|"]
    ratios = ["| scenario | throughput mcloud / tusd (target ≥ 2) | peak RSS mcloud / tusd (target ≤ 0.25) "
              "| time mcloud / direct S3 (target ≤ 1.15) |", "|---|---|---|---|"]
    for tag, s in R["scenarios"].items():
        label = f"{tag}: {s['count']} x {s['size'] // MiB} MiB"
        for name in ("mcloud", "tusd"):
            if name not in s:
                continue
            r = s[name]
            rows.append(f"| {label} | {'mcloud-upload' if name == 'mcloud' else 'tusd ' + R['tusd']} | "
                        f"{r['mib_s']:.0f} MiB/s | {r['p50_ms']:.0f} ms | {r['p99_ms']:.0f} ms | "
                        f"{r['peak_rss_kib'] / 1024:.1f} MiB | {r['seconds']:.1f} s |")
        d = s["direct"]
        rows.append(f"| {label} | direct S3 multipart (limit) | {d['mib_s']:.0f} MiB/s | — | — | — | {d['seconds']:.1f} s |")
        if "mcloud" not in s or "tusd" not in s:
            continue
        m, t = s["mcloud"], s["tusd"]
        ratios.append(f"| {label} | {m['mib_s'] / t['mib_s']:.2f} | {m['peak_rss_kib'] / t['peak_rss_kib']:.2f} | "
                      f"{m['seconds'] / d['seconds']:.2f} |")
    la = R["load_before"]
    return "\n".join(rows + [""] + ratios + ["", f"load average before: {la[0]:.2f} {la[1]:.2f} {la[2]:.2f}; "
                                            f"after: {R['load_after'][0]:.2f}; {platform.node() and 'host'} "
                                            f"{platform.machine()}, {os.cpu_count()} CPUs"])


if __name__ == "__main__":
    main()
