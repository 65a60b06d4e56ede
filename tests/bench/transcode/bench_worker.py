#!/usr/bin/env python3
"""bench_worker.py — the transcode worker as users run it, against the ffmpeg CLI (issue 14, §3).

Contenders, in alternating rounds on the same source (bench.py's 1080p
testsrc2 + temporal noise clip, 20 s by default) and the same ladder (the
"default" preset: 1080p/720p/480p/360p, MP4 + HLS + thumbnails):

  worker   the stack's mcloud-transcode (one worker, the one in
           $MCLOUD_STACK/run/transcode.pid): the source is uploaded with this
           tree's `mcloud upload` through the stack's mcloud-upload, which
           stores it in S3 (MinIO) and publishes the job on Kafka (its
           outbox); the worker consumes it, reads the source with ranged GETs,
           writes every output to S3 (progressive HLS as users run it) and
           publishes the job in MySQL. Timed from the job's publication
           (outbox.published_at) to its completion (jobs row set 'done'), both
           MySQL timestamps; the upload itself is not counted.
  cli      bench.py's "equivalent" ffmpeg command: the same graph, x264
           options, tee'd MP4 + HLS and thumbnails, reading and writing local
           files.
  file-qN  with --transcoder: mcloud-transcode-file (the same engine on local
           files) with --queue-frames N, for each N of --queue-frames: splits
           the worker/CLI ratio into engine vs S3 + Kafka, and shows whether a
           deeper rung queue (decoding further ahead of the slowest rung)
           changes anything.

During every run the process's threads are sampled every --sample-ms from
/proc/<pid>/task/* (the engine names its threads: tc-main, tc-decode,
tc-filter, x264-<rung>, rung-<rung>; transcode/engine.h): time on a CPU and
time waiting for one (schedstat), with the machine's idle CPU from
/proc/stat. On a busy machine "runnable threads" (running or waiting for a
CPU) is what the process would use on a quiet one: while it stays at or
above the number of CPUs, a thread blocked on a queue costs no wall time.
The report gives the medians, the 1-minute load average before every run,
the ratio to the CLI, the CPU by thread group, a timeline (cores per group
in tenths of the run) of the median run of each contender, and how long the
decoding thread waited for room in each rung's queue and each rung waited
for frames (the engine's counters: the
worker's mcloud_transcode_queue_{full,empty}_seconds_total, the file tool's
JSON).

Needs the stack (scripts/stack.sh up; eval "$(scripts/stack.sh env)") with
the worker built from this tree. Not a ctest test; run it by hand:

  tests/bench/transcode/bench_worker.py --rounds 3 [--transcoder build/transcode/mcloud-transcode-file --queue-frames 8,64]
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, ".."))
import bench as ladder  # noqa: E402  (source generation and the CLI's command)
import benchlib  # noqa: E402

GIVE_UP_S = 1800  # a hang guard, not a bound
BUCKETS = 10
SAMPLE_S = 0.1


def fail(msg):
    sys.exit(f"bench_worker: {msg}")


def mysql(sql):
    host, port = os.environ["MCLOUD_MYSQL_MASTER"].rsplit(":", 1)
    r = subprocess.run(["mariadb", "-N", "-B", "-h", host, "-P", port, "-u", os.environ["MCLOUD_MYSQL_USER"],
                        os.environ["MCLOUD_MYSQL_DATABASE"], "-e", sql],
                       env=dict(os.environ, MYSQL_PWD=os.environ["MCLOUD_MYSQL_PASSWORD"]),
                       capture_output=True, text=True)
    if r.returncode != 0:
        fail(f"mariadb: {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines()]


def worker_pid(build):
    """The stack's one worker, and a check that it runs this tree's current build."""
    stack = os.environ.get("MCLOUD_STACK")
    if not stack:
        fail("MCLOUD_STACK is not set: source your stack's env, scripts/stack.sh up, "
             "eval \"$(scripts/stack.sh env)\"")
    try:
        pid = int(open(os.path.join(stack, "run", "transcode.pid")).read())
        exe = os.readlink(f"/proc/{pid}/exe")
    except (OSError, ValueError):
        fail(f"no mcloud-transcode running for {stack}: scripts/stack.sh up")
    want = os.path.realpath(os.path.join(build, "transcode", "mcloud-transcode"))
    if exe != want:
        fail(f"the stack's worker runs {exe}, not {want} (rebuilt since?): scripts/stack.sh restart transcode")
    return pid


def scrape(url, which):
    """mcloud_transcode_queue_<which>_seconds_total by rung from the worker's
    /metrics; which == "job": the sum of mcloud_transcode_job_seconds (the
    time from taking a claimed job to the engine's end, S3 I/O included)."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    if which == "job":
        m = re.search(r"^mcloud_transcode_job_seconds_sum (\S+)$", text, re.M)
        return float(m.group(1)) if m else 0.0
    out = {}
    for m in re.finditer(r'^mcloud_transcode_queue_%s_seconds_total\{rung="([^"]+)"\} (\S+)$' % which, text, re.M):
        out[m.group(1)] = float(m.group(2))
    return out


def group_of(name):
    """Thread name -> group: the engine's names as they are, the rest by kind."""
    if re.match(r"(tc-|x264-|rung-)", name):
        return name
    return "other"


def summarize(samples):
    """CPU and run-queue seconds by group, a timeline (BUCKETS tenths of the
    span where the engine's threads ran; all of it when there are none) of
    the cores each group used and of the process's demand (threads running
    or waiting for a CPU), and the machine's idle cores over that span."""
    iv = benchlib.thread_groups(samples, group_of)
    engine = [i for i, x in enumerate(iv) if any(g != "other" and c > 0 for g, c in x[2].items())]
    if engine:
        iv = iv[engine[0]:engine[-1] + 1]
    t0, t1 = iv[0][0], iv[-1][1]
    span = max(t1 - t0, 1e-9)
    width = span / BUCKETS
    totals, waits, idle = {}, {}, 0.0
    timeline = [{"cpu": {}, "demand": 0.0, "idle": 0.0} for _ in range(BUCKETS)]
    for a, _b, cpu, rq, idle_s in iv:
        tl = timeline[min(int((a - t0) / width), BUCKETS - 1)]
        for g, c in cpu.items():
            totals[g] = totals.get(g, 0.0) + c
            tl["cpu"][g] = tl["cpu"].get(g, 0.0) + c / width
        for g, w in rq.items():
            waits[g] = waits.get(g, 0.0) + w
        tl["demand"] += (sum(cpu.values()) + sum(rq.values())) / width
        tl["idle"] += idle_s / width
        idle += idle_s
    return {"span_s": span, "cpu": totals, "runqueue": waits, "idle_cores": idle / span, "timeline": timeline}


def timed_process(cmd):
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    sampler = benchlib.ThreadSampler(p.pid, SAMPLE_S).start()
    out, err = p.communicate(timeout=GIVE_UP_S)
    wall = time.monotonic() - t0
    samples = sampler.stop()
    if p.returncode != 0:
        fail(f"failed ({p.returncode}): {' '.join(cmd)}\n{err.decode(errors='replace')[-3000:]}")
    return {"wall": wall, "load": load, "threads": summarize(samples), "stdout": out}


def run_cli(source, out, duration):
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    return timed_process(ladder.cli_command(source, out, 0, True, duration))


def run_file(tool, source, out, frames):
    shutil.rmtree(out, ignore_errors=True)
    r = timed_process([tool, "--preset", "default", "--log-level", "warn", "--queue-frames", str(frames),
                       "--tmp", os.path.dirname(out), source, out])
    res = json.loads(r["stdout"])
    r["queue_full_s"] = {v["name"]: v["queue_full_s"] for v in res["renditions"]}
    r["queue_empty_s"] = {v["name"]: v["queue_empty_s"] for v in res["renditions"]}
    return r


def run_worker(a, pid, source):
    mcloud = os.path.join(a.build, "cli", "mcloud")
    url = os.environ["MCLOUD_TRANSCODE_URL"]
    before = {w: scrape(url, w) for w in ("full", "empty", "job")}
    load = os.getloadavg()[0]
    sampler = benchlib.ThreadSampler(pid, SAMPLE_S).start()
    up = subprocess.run([mcloud, "upload", source], capture_output=True, text=True)
    if up.returncode != 0:
        sampler.stop()
        fail(f"mcloud upload: {up.stderr.strip()[-2000:]}")
    video = up.stdout.split()[-1]
    t_uploaded = time.monotonic()
    w = subprocess.run([mcloud, "wait", video], capture_output=True, text=True, timeout=GIVE_UP_S)
    t_ready = time.monotonic()
    samples = sampler.stop()
    if w.returncode != 0:
        fail(f"mcloud wait {video}: {w.stderr.strip()[-2000:]}")
    after = {w: scrape(url, w) for w in ("full", "empty", "job")}
    rows = mysql(
        "SELECT TIMESTAMPDIFF(MICROSECOND, o.created_at, o.published_at), "
        "TIMESTAMPDIFF(MICROSECOND, o.published_at, j.created_at), "
        "TIMESTAMPDIFF(MICROSECOND, o.published_at, j.heartbeat_at), j.attempt, j.worker "
        "FROM outbox o JOIN jobs j ON j.video_id = o.msg_key "
        f"WHERE o.msg_key = '{video}' AND o.topic = 'mcloud.transcode.jobs' AND j.status = 'done' "
        "ORDER BY o.id LIMIT 1")
    if len(rows) != 1 or "NULL" in rows[0]:
        fail(f"video {video}: no published job that is done in MySQL ({rows})")
    outbox_s, claim_s, done_s = (int(x) / 1e6 for x in rows[0][:3])
    threads = summarize(samples)
    if not any(g.startswith("x264-") and c > 0 for g, c in threads["cpu"].items()):
        fail(f"video {video}: the job did not run in the stack's worker (pid {pid}; worker {rows[0][4]}): "
             "is another worker consuming the same jobs topic?")
    if rows[0][3] != "1":
        fail(f"video {video}: the job took {rows[0][3]} attempts; a retried run is not a measurement")
    return {"wall": done_s, "load": load, "video": video, "outbox_s": outbox_s, "claim_s": claim_s,
            "cli_wall": t_ready - t_uploaded, "threads": threads, "engine_s": after["job"] - before["job"],
            "queue_full_s": {k: v - before["full"].get(k, 0.0) for k, v in after["full"].items()},
            "queue_empty_s": {k: v - before["empty"].get(k, 0.0) for k, v in after["empty"].items()}}


def median_run(runs):
    walls = sorted(runs, key=lambda r: r["wall"])
    return walls[(len(walls) - 1) // 2]


def print_report(a, duration, runs, names, labels):
    cli_med = statistics.median(r["wall"] for r in runs["cli"])
    print()
    print(f"Source: {duration:.2f} s 1920x1080 {ladder.FPS} fps testsrc2 + temporal noise, H.264 CRF 20, AAC; "
          f"ladder: the default preset (4 rungs, MP4 + HLS + thumbnails). Machine: {os.cpu_count()} CPUs. "
          f"Median of {a.rounds} alternating round(s); load = 1-minute load average before the run.")
    print()
    print("| contender | runs: wall s (load) | median wall | median CPU | wall / CLI |")
    print("| --- | --- | ---: | ---: | ---: |")
    for n in names:
        rs = runs[n]
        med = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(sum(r["threads"]["cpu"].values()) for r in rs)
        listed = ", ".join("%.1f (%.1f)" % (r["wall"], r["load"]) for r in rs)
        ratio = "—" if n == "cli" else "**%.3fx**" % (med / cli_med)
        print(f"| {labels[n]} | {listed} | {med:.1f} s | {cpu:.1f} s | {ratio} |")
    if runs.get("worker"):
        print()
        print("Worker runs, from MySQL: upload complete -> job published (outbox) / published -> claimed by "
              "the worker / published -> done; of that, the worker's engine time (mcloud_transcode_job_seconds: "
              "source open, engine, S3 writes) and the rest (Kafka delivery, claim, publish transaction); and "
              "`mcloud upload` returning -> `mcloud wait` returning:")
        print()
        print("| run | outbox -> published | published -> claimed | published -> done | engine | rest | "
              "upload returned -> ready (client) | video |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        for i, r in enumerate(runs["worker"]):
            print(f"| {i + 1} | {r['outbox_s']:.2f} s | {r['claim_s']:.2f} s | {r['wall']:.2f} s | "
                  f"{r['engine_s']:.2f} s | {r['wall'] - r['engine_s']:.2f} s | {r['cli_wall']:.2f} s | "
                  f"{r['video']} |")
    print()
    print("The engine's queue counters, seconds per run by rung: the decoding thread waiting for room in the "
          "rung's queue (full) / the rung's thread waiting for a frame (empty; it starved):")
    print()
    for n in names:
        for i, r in enumerate(runs[n]):
            if "queue_full_s" in r:
                q = ", ".join(f"{k} {v:.2f} / {r.get('queue_empty_s', {}).get(k, float('nan')):.2f}"
                              for k, v in r["queue_full_s"].items())
                print(f"- {labels[n]}, run {i + 1} ({r['wall']:.1f} s wall): {q}")
    for n in names:
        r = median_run(runs[n])
        th = r["threads"]
        groups = sorted(th["cpu"], key=lambda g: -th["cpu"][g])
        print()
        print(f"{labels[n]}, median run ({r['wall']:.1f} s wall; threads sampled over {th['span_s']:.1f} s; "
              f"machine idle on average {th['idle_cores']:.2f} of {os.cpu_count()} cores): CPU by thread "
              f"group, then cores used by each group in tenths of the run")
        print()
        print("| group | CPU s | share | waiting for a CPU s | "
              + " | ".join(f"{(k + 1) * 10}%" for k in range(BUCKETS)) + " |")
        print("| --- | ---: | ---: | ---: |" + " ---: |" * BUCKETS)
        total = sum(th["cpu"].values()) or 1e-9
        for g in groups:
            cells = " | ".join(f"{tl['cpu'].get(g, 0.0):.2f}" for tl in th["timeline"])
            print(f"| {g} | {th['cpu'][g]:.1f} | {100 * th['cpu'][g] / total:.0f}% | "
                  f"{th['runqueue'].get(g, 0.0):.1f} | {cells} |")
        cells = " | ".join(f"{sum(tl['cpu'].values()):.2f}" for tl in th["timeline"])
        print(f"| **all threads** | {total:.1f} | 100% | {sum(th['runqueue'].values()):.1f} | {cells} |")
        cells = " | ".join(f"{tl['demand']:.2f}" for tl in th["timeline"])
        print(f"| **runnable threads** (running or waiting for a CPU) | | | | {cells} |")
        cells = " | ".join(f"{tl['idle']:.2f}" for tl in th["timeline"])
        print(f"| machine idle (cores) | | | | {cells} |")
        if "tc-main" in th["cpu"]:
            run, rq = th["cpu"]["tc-main"], th["runqueue"].get("tc-main", 0.0)
            q = sum(r.get("queue_full_s", {}).values())
            print()
            print(f"tc-main (demux, decode hand-off, filters, audio) over the {th['span_s']:.1f} s: on a CPU "
                  f"{run:.1f} s, waiting for a CPU {rq:.1f} s, blocked {th['span_s'] - run - rq:.1f} s, of which "
                  f"{q:.1f} s on full rung queues (the engine's counter).")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.environ.get("MCLOUD_BUILD_DIR") or os.path.join(HERE, "..", "..", "..", "build"),
                    help="the build tree (its cli/mcloud; the worker must run from it); default $MCLOUD_BUILD_DIR, "
                         "else the repository's build/")
    ap.add_argument("--seconds", type=int, default=20, help="source length")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--transcoder", help="also mcloud-transcode-file on local files (the engine alone)")
    ap.add_argument("--queue-frames", default="8", help="with --transcoder: comma-separated rung queue depths")
    ap.add_argument("--no-worker", action="store_true", help="skip the worker (no stack needed)")
    ap.add_argument("--sample-ms", type=int, default=100)
    ap.add_argument("--work", help="working directory (kept; the source is reused)")
    a = ap.parse_args()
    benchlib.stop_servers_on_signal("bench_worker")
    pid = None if a.no_worker else worker_pid(a.build)
    for tool in ("ffmpeg", "ffprobe", "mariadb"):
        if not shutil.which(tool):
            fail(f"{tool} not found: scripts/bootstrap.sh (Debian: apt-get install ffmpeg mariadb-client)")
    work = a.work or tempfile.mkdtemp(prefix="mcloud-bench-worker-")
    os.makedirs(work, exist_ok=True)
    source = os.path.join(work, f"source-{a.seconds}s.mp4")
    if not os.path.exists(source):
        benchlib.log(f"generating a {a.seconds} s 1080p source")
        ladder.make_source(source, a.seconds)
    duration = ladder.probe_duration(source)
    global SAMPLE_S
    SAMPLE_S = a.sample_ms / 1000

    names = ([] if a.no_worker else ["worker"]) + ["cli"]
    labels = {"worker": "mcloud-transcode worker (S3 in, S3 out, via Kafka)",
              "cli": "ffmpeg CLI, equivalent (local files)"}
    frames = [int(x) for x in a.queue_frames.split(",")] if a.transcoder else []
    for f in frames:
        names.append(f"file-q{f}")
        labels[f"file-q{f}"] = f"mcloud-transcode-file, queues of {f} (local files)"
    runs = {n: [] for n in names}
    for rnd in range(a.rounds):
        for n in names:
            if n == "worker":
                r = run_worker(a, pid, source)
            elif n == "cli":
                r = run_cli(source, os.path.join(work, "cli"), duration)
            else:
                r = run_file(a.transcoder, source, os.path.join(work, n), int(n[len("file-q"):]))
            extra = f", queue waits {r['queue_full_s']}" if "queue_full_s" in r else ""
            benchlib.log(f"round {rnd + 1}: {n}: {r['wall']:.1f} s, load average {r['load']:.1f} before{extra}")
            runs[n].append(r)
            with open(os.path.join(work, "runs.json"), "w") as f:   # after every run: an interrupted bench keeps them
                json.dump({n: [{k: v for k, v in r.items() if k != "stdout"} for r in rs]
                           for n, rs in runs.items()}, f)
    print_report(a, duration, runs, names, labels)


if __name__ == "__main__":
    main()
