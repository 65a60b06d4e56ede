"""chaos.py — the fault suite (issue 13 §3): a load of short videos through
the running stack (scripts/stack.sh) while faults are injected one after
another, then a checker proving nothing acknowledged was lost, and a report.

  load.py     the videos and the tus-js-client uploads (some interrupted and resumed)
  faults.py   the scheduler: each fault waits for work in flight, is injected,
              its recovery timed, what it killed started again
  check.py    the checker: acknowledged uploads ready, decoding, no duplicates,
              rows on every MariaDB server, no orphan S3 object
  stackctl.py stack status, SQL, Redis through the Sentinels, S3

The suite FAILS when a fault hit no work in flight, a fault did not
recover, the checker found an anomaly, or the stack could not be put back.
Whatever happens the stack is left as found: stopped processes continued,
killed servers started, the original Redis and MySQL masters restored, the
run's clients and second worker stopped, its rows and objects deleted.

usage (stack up, env loaded, as tests/chaos/run.sh does):
  python tests/chaos/chaos.py --build build [--videos 100] [--rounds 2] [--report FILE]"""

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import stackctl as sc
from check import check, orphans
from faults import Scheduler, Worker2
from load import SECONDS, Load, Monitor
from stackctl import log

TOOLS = {"iptables": "apt-get install iptables", "ffmpeg": "apt-get install ffmpeg", "ffprobe": "apt-get install ffmpeg", "node": "scripts/bootstrap.sh",
         "mariadb": "apt-get install mariadb-client", "redis-cli": "apt-get install redis-tools",
         "curl": "apt-get install curl"}
NEEDED = ["sentinel1", "sentinel2", "sentinel3", "redis", "redis-replica", "mysql-master", "mysql-replica",
          "mysql-replica2", "kafka", "s3", "upload", "transcode", "stream", "api", "dbmon", "dbmon2"]


def preconditions(build):
    for t, how in TOOLS.items():
        if not shutil.which(t):
            sys.exit(f"chaos: {t} is missing ({how})")
    if not os.path.isdir(os.path.join(sc.ROOT, "tests", "e2e", "upload", "node_modules", "tus-js-client")):
        sys.exit("chaos: tus-js-client is not installed (bash tests/e2e/upload/install.sh)")
    for b in ("upload/mcloud-token", "transcode/mcloud-transcode", "cli/mcloud"):
        if not os.access(os.path.join(build, b), os.X_OK):
            sys.exit(f"chaos: {build}/{b} is not built (cmake --build {build})")
    for v in ("MCLOUD_REDIS_SENTINEL", "MCLOUD_MYSQL_ADMIN_USER", "MCLOUD_S3_ENDPOINT", "MCLOUD_UPLOAD_URL"):
        if not os.environ.get(v):
            sys.exit(f'chaos: {v} is not set: eval "$(scripts/stack.sh env)"')
    st = sc.status()
    down = [c for c in NEEDED if st.get(c, ("down",))[0] != "up"]
    if down:
        sys.exit(f"chaos: the stack is not whole (down: {' '.join(down)}): scripts/stack.sh up")


def settle(load, mon, timeout_s):
    """Waits until every acknowledged video is ready or failed."""
    def done():
        acked = load.acknowledged()
        return acked and mon.ready >= len(acked) and len(mon.ids()) == len(acked)
    return sc.wait_until(done, timeout_s, 1)


def report_text(args, recs, acked, uploads, anomalies, orphan_keys, stray, decoded, problems, elapsed, verdict):
    L = [f"# mcloud fault suite — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
         f"videos: {len(uploads)} uploaded ({sum(u.interrupted for u in uploads)} interrupted by the suite and "
         f"resumed, {sum(u.runs > 1 for u in uploads)} resumed in all), {len(acked)} acknowledged and checked, "
         f"{decoded} MP4 renditions decoded; {args.clients} tus clients, {args.rounds} round(s) of faults; "
         f"{elapsed:.0f} s; load average now {sc.loadavg()}",
         "",
         "| fault | uploads / jobs in flight | hit | recovery (ms) | detail | load avg |",
         "| --- | --- | --- | --- | --- | --- |"]
    for r in recs:
        extra = {k: v for k, v in r.items() if k not in ("fault", "at_ms", "uploads_in_flight", "jobs_in_flight",
                                                          "hit_work", "recovered", "recovery_ms", "load")}
        L.append(f"| {r['fault']} | {r['uploads_in_flight']} / {r['jobs_in_flight']} | "
                 f"{'yes' if r['hit_work'] else 'NO'} | {r['recovery_ms'] if r['recovered'] else 'NOT RECOVERED'} | "
                 f"{json.dumps(extra) if extra else ''} | {r['load']} |")
    L.append("")
    L.append(f"anomalies ({len(anomalies)}):")
    L += [f"  - {a}" for a in anomalies] or ["  none"]
    L.append(f"creations never acknowledged to their client (a fault cut the answer; left active for the "
             f"sweeper, deleted with the run): {len(stray)}")
    L.append(f"orphan S3 objects ({len(orphan_keys)}):")
    L += [f"  - {k}" for k in orphan_keys[:20]] or ["  none"]
    if problems:
        L.append("stack not restored: " + "; ".join(problems))
    L.append(f"verdict: {verdict}")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.environ.get("MCLOUD_BUILD_DIR", "build"))
    ap.add_argument("--videos", type=int, default=100, help="videos to upload at least")
    ap.add_argument("--clients", type=int, default=3, help="tus clients at once")
    ap.add_argument("--backlog", type=int, default=6, help="acknowledged videos waiting for a worker before uploads pause")
    ap.add_argument("--chunk", type=int, default=128 * 1024, help="PATCH size in bytes")
    ap.add_argument("--rounds", type=int, default=1, help="times each fault is injected")
    ap.add_argument("--only", help="comma-separated fault keys (upload,transcode,transcode2,stream,api,dbmon,"
                                   "mysql,mysql2,mysql-partition,monitor-partition,redis,redis-partition,kafka,minio,sigstop; "
                                   "'none' for no fault)")
    ap.add_argument("--settle", type=int, default=600, help="seconds to wait for the last videos to be ready")
    ap.add_argument("--report", help="where to keep the report (default: BUILD/chaos-report.md)")
    ap.add_argument("--keep", action="store_true", help="keep the run's videos (rows, objects) for inspection")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    report = args.report or os.path.join(args.build, "chaos-report.md")
    preconditions(args.build)
    only = None if not args.only else set(args.only.split(","))
    session_ms = int(os.environ.get("MCLOUD_TRANSCODE_SESSION_TIMEOUT_MS", "10000"))

    work = tempfile.mkdtemp(prefix="mcloud-chaos-")
    token = subprocess.run([os.path.join(args.build, "upload", "mcloud-token"), "--tenant", "local", "--ttl", "14400"],
                           check=True, capture_output=True, text=True).stdout.strip()
    t_start = time.time()
    load = Load(work, os.environ["MCLOUD_UPLOAD_URL"], token, args.videos, args.clients, args.backlog, args.chunk)
    mon = Monitor(load)
    w2 = Worker2(args.build, work, int(os.environ.get("MCLOUD_CHAOS_WORKER2_PORT",
                                                      int(os.environ.get("HELPER_PORT_BASE", "18190")) + 1)))
    sched = Scheduler(load, mon, w2)
    sched.snapshot()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("chaos: terminated"))
    anomalies, orphan_keys, problems, decoded, stray = [], [], [], 0, []
    try:
        sc.sql("CREATE DATABASE IF NOT EXISTS mcloud_chaos; CREATE TABLE IF NOT EXISTS mcloud_chaos.probe "
               "(id BIGINT AUTO_INCREMENT PRIMARY KEY, at BIGINT NOT NULL)")
        if not w2.start():
            sys.exit(f"chaos: the second transcode worker did not become ready (see {work}/worker2.log)")
        log(f"load: {args.videos} videos, {args.clients} clients, backlog {args.backlog}, "
            f"{args.chunk} B PATCHes; load average {sc.loadavg()}")
        mon.thread.start()
        load.start()
        if only != {"none"} and not sched.run(args.rounds, session_ms, only):
            load.kill_clients()     # the platform is down: the uploads left cannot finish
        load.schedule_done.set()
        load.thread.join(1800)
        log(f"load done: {len(load.acknowledged())}/{load.started()} acknowledged; waiting for the transcodes")
        if not settle(load, mon, args.settle):
            log(f"warning: not every acknowledged video settled in {args.settle} s")
        acked = load.acknowledged()
        anomalies, decoded = check(acked, SECONDS)
        anomalies += [f"upload {u.idx} ({u.video}) never completed: the platform did not recover for it"
                      for u in load.uploads if u.state != "done"]
        if len(acked) < args.videos:
            anomalies.append(f"only {len(acked)} of {args.videos} videos were acknowledged")
        orphan_keys = orphans([u.video for u in acked], [], t_start)
        stray = stray_creations(load, t_start)
    finally:
        load.kill_clients()
        mon.stop.set()
        w2.stop()
        problems = sched.restore(args.build)
        if not args.keep:
            cleanup(load, stray)
        try:
            sc.sql("DROP DATABASE IF EXISTS mcloud_chaos")
        except RuntimeError as e:
            log(f"warning: {e}")
        shutil.rmtree(work, ignore_errors=True)

    recs = sched.records
    fails = [f"fault '{r['fault']}' hit no work in flight" for r in recs if not r["hit_work"]]
    fails += [f"fault '{r['fault']}' did not recover ({r.get('error', '')})" for r in recs if not r["recovered"]]
    if only != {"none"} and not recs:
        fails.append("no fault was injected")
    fails += anomalies + [f"orphan S3 object {k}" for k in orphan_keys] + problems
    verdict = "PASS" if not fails else f"FAIL ({len(fails)} problems)"
    text = report_text(args, recs, load.acknowledged(), load.uploads, anomalies, orphan_keys, stray, decoded, problems,
                       time.time() - t_start, verdict)
    with open(report, "w") as f:
        f.write(text)
        f.write("\n<!-- raw -->\n" + json.dumps(recs, indent=1) + "\n")
    print(text)
    print(f"report kept in {report}")
    for f in fails:
        print(f"FAIL - {f}")
    return 0 if not fails else 1


def stray_creations(load, since):
    """Uploads the platform created during the run whose creation its client
    never saw acknowledged (a fault cut the answer; the client created
    another): (upload id, video id) pairs, left active for the sweeper to
    expire. Not a loss — reported, and deleted with the run's data."""
    known = {u.url.rsplit("/", 1)[1] for u in load.uploads if u.url}
    rows = sc.try_sql(f"SELECT id, IFNULL(video_id, '') FROM uploads WHERE status = 'active' AND "
                      f"created_at >= FROM_UNIXTIME({int(since)}) AND metadata LIKE '%Y2xpZW50LWtpbGwuYmlu%'") or []
    return [(r[0], r[1]) for r in rows if r[0] not in known]


def cleanup(load, stray):
    """The run's rows and objects (bench_upload's Cleaner: uploads, outbox,
    videos with their jobs and renditions; staging, sources, outputs)."""
    from bench_upload import Cleaner
    c = Cleaner()
    created = [(u.url.rsplit("/", 1)[1], u.video) for u in load.uploads if u.url] + stray
    for _, v in created:
        if v:
            c.safely(c.prefix, f"videos/local/{v}/")
    c.safely(c.mcloud, created)


if __name__ == "__main__":
    sys.exit(main())
