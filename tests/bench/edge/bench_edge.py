"""bench_edge.py BUILD_DIR [--seconds N] — what the edge costs: 64 KiB Range
GETs of one video by wrk (-t2 -c32) straight to an mcloud-stream instance
(the limit: the instance itself) and through mcloud-edge's nginx, alternated
twice, the ratio of the two; and mcloud-edge's own CPU share and peak RSS
while it watches (a round a second: registry, /readyz probe, nginx.conf).
The load average is printed beside every figure. Uses the classes of
tests/integration/edge (a private Redis, the stack's MySQL and S3); stops
everything it started.

    eval "$(scripts/stack.sh env)"
    ~/.mcloud/cache/venv/bin/python tests/bench/edge/bench_edge.py build
"""

import argparse
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "edge"))
sys.path.insert(0, os.path.join(HERE, ".."))
import edge_test as et  # noqa: E402
import streamtest as st  # noqa: E402  (on the path through edge_test)
from benchlib import log, proc_status  # noqa: E402

RANGE = "bytes=0-65535"


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(url, seconds):
    p = subprocess.run(["wrk", "-t2", "-c32", f"-d{seconds}s", "-H", f"Range: {RANGE}", url],
                       capture_output=True, text=True)
    m = re.search(r"Requests/sec:\s+([0-9.]+)", p.stdout)
    if p.returncode != 0 or not m or "Non-2xx" in p.stdout or "Socket errors" in p.stdout:
        raise RuntimeError(f"wrk failed or saw errors: {p.stdout[-800:]} {p.stderr[-400:]}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    ap.add_argument("--seconds", type=int, default=5)
    args = ap.parse_args()
    h = st.Harness("bench-edge", args.build_dir)
    stops = []
    ok = False
    try:
        redis = et.RedisServer(h.scratch)
        stops.append(redis.stop)
        video = st.Video(h, title="edge bench")
        video.put("720p.mp4", os.urandom(1 << 20), "video/mp4")
        video.insert([("720p", 1280, 720, 1_000_000)])
        target = f"/v/{video.id}/{st.sign_cred(video.id)}/720p.mp4"
        s = h.daemon("stream", MCLOUD_REDIS=redis.addr,
                     MCLOUD_REGISTRY_PUBLISH="true")  # private Redis: the edge must find it
        edge = et.Edge(os.path.join(args.build_dir, "edge", "mcloud-edge"), h.scratch, redis.addr)
        stops.insert(0, edge.stop)
        et.wait_for("the instance in the edge", lambda: edge.backends("stream") == {et.hostport(s.url)})
        wrk(s.url + target, 1)  # the disk cache holds the object from here on
        rows = []
        for rnd in range(2):
            for name, base in (("direct", s.url), ("edge", edge.public("stream"))):
                la = loadavg()
                rows.append((name, rnd, wrk(base + target, args.seconds), la))
                log(f"{name} round {rnd + 1}: {rows[-1][2]:.0f} req/s (load {la:.1f})")
        idle = 10.0
        cpu0, la = cpu_seconds(edge.proc.pid), loadavg()
        time.sleep(idle)
        share = (cpu_seconds(edge.proc.pid) - cpu0) / idle
        rss = proc_status(edge.proc.pid, "VmHWM")
        direct = sum(r[2] for r in rows if r[0] == "direct") / 2
        via = sum(r[2] for r in rows if r[0] == "edge") / 2
        print("| figure | value | load average (1 min) |")
        print("| --- | --- | --- |")
        for name, rnd, rps, la_ in rows:
            print(f"| 64 KiB Range GETs, {name}, round {rnd + 1} | {rps:.0f} req/s | {la_:.1f} |")
        print(f"| through the edge / direct (mean of 2) | {via / direct:.2f} | |")
        print(f"| mcloud-edge at rest, share of one core | {100 * share:.2f} % | {la:.1f} |")
        print(f"| mcloud-edge peak RSS (VmHWM) | {rss / 1024:.1f} MiB | {la:.1f} |")
        ok = True
    finally:
        for stop in stops:
            problem = stop()
            if problem:
                log(problem)
                ok = False
        for err in h.close(ok):
            log(err)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
