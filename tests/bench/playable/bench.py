#!/usr/bin/env python3
"""bench.py — how soon a video plays while it transcodes (issue 14, §1).

Measures, for sources made here with the ffmpeg CLI (testsrc2 + sine; a
30 s and a 10-minute 720p clip, and a 30 s 1080p clip):

  engine   mcloud-transcode-file --progressive into a local directory:
           from the start of the process to the first video frame decoded
           by the ffmpeg CLI reading hls/master.m3u8 (the master is written
           once every rung has its first segment), then the run is cancelled.
  cli      1080p only: the ffmpeg CLI making the same 4-rung ladder with the
           same settings (tests/bench/transcode/bench.py's command: one
           decode, split/scale, x264 per rung, MP4 + HLS fMP4 through tee,
           thumbnails): from its start until every rung has finished its
           first segment (seg_00002.m4s opened), then it is killed.
  stack    with --stack: the running platform (the stack's mcloud-upload,
           mcloud-transcode, mcloud-stream; this tree's `mcloud`): from
           `mcloud upload` returning (upload complete) to the first frame
           decoded by the ffmpeg CLI from the HLS master URL `mcloud play`
           signs (`play --local`, polled until the video is playable while it transcodes); each run then waits
           for the video to be ready so runs do not overlap.

Each figure is the p50 of --runs runs; every run is printed with the
1-minute load average before it. The machine is shared: the load average is
part of the figure. Not a ctest test; run it by hand:

  tests/bench/playable/bench.py --transcoder build/transcode/mcloud-transcode-file --runs 3 [--stack | --stack-only]
"""
import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "transcode"))
import bench as ladder_bench  # noqa: E402  (the ffmpeg CLI ladder of the engine benchmark)

POLL_S = 0.05
GIVE_UP_S = 600  # a hang guard, not a bound


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def make_source(path, seconds, size):
    if os.path.exists(path):
        return
    sh(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-shortest", path])


def first_frame(url):
    """True when the ffmpeg CLI decodes a first video frame from url."""
    p = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", url, "-map", "0:v:0", "-frames:v", "1",
                        "-f", "null", "-"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return p.returncode == 0


def wait_for(what, cond, proc=None):
    deadline = time.monotonic() + GIVE_UP_S
    while not cond():
        if proc is not None and proc.poll() is not None:
            sys.exit(f"{what}: the process exited ({proc.returncode}) first")
        if time.monotonic() > deadline:
            sys.exit(f"{what}: not reached in {GIVE_UP_S} s")
        time.sleep(POLL_S)


def engine_run(tool, source, work):
    out = tempfile.mkdtemp(dir=work)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    p = subprocess.Popen([tool, "--progressive", source, out], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    master = os.path.join(out, "hls", "master.m3u8")
    wait_for("engine master", lambda: os.path.exists(master), p)
    t_master = time.monotonic() - t0
    wait_for("engine first frame", lambda: first_frame(master), p)
    t_frame = time.monotonic() - t0
    p.send_signal(signal.SIGINT)
    p.wait()
    shutil.rmtree(out, ignore_errors=True)
    return {"master_s": t_master, "first_frame_s": t_frame, "load": load}


def cli_run(source, work, duration):
    out = tempfile.mkdtemp(dir=work)
    cmd = ladder_bench.cli_command(source, out, 0, True, duration)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    segs = [os.path.join(out, "hls", r[0], "seg_00002.m4s") for r in ladder_bench.RUNGS]
    wait_for("cli first segment", lambda: all(os.path.exists(s) for s in segs), p)
    t = time.monotonic() - t0
    p.kill()
    p.wait()
    shutil.rmtree(out, ignore_errors=True)
    return {"first_segment_s": t, "load": load}


def stack_run(mcloud, source):
    load = os.getloadavg()[0]
    vid = sh([mcloud, "upload", source]).stdout.decode().split()[-1]
    t0 = time.monotonic()  # upload complete: the command returned
    url = None

    def playable():
        nonlocal url
        p = subprocess.run([mcloud, "play", vid, "--json", "--local"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        if p.returncode != 0:
            return False
        url = json.loads(p.stdout)["hls"]
        base = os.environ.get("MCLOUD_STREAM_URL")
        if base:  # the stack's mcloud-stream, whatever stream.public_url says
            url = base + url[url.index("/v/"):]
        return True

    wait_for("stack playable", playable)
    t_playable = time.monotonic() - t0
    wait_for("stack first frame", lambda: first_frame(url))
    t_frame = time.monotonic() - t0
    sh([mcloud, "wait", vid])
    return {"playable_s": t_playable, "first_frame_s": t_frame, "load": load, "video": vid}


def p50(runs, key):
    return statistics.median(r[key] for r in runs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--transcoder", required=True)
    ap.add_argument("--mcloud", default="build/cli/mcloud")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--work", default=None)
    ap.add_argument("--stack", action="store_true")
    ap.add_argument("--stack-only", action="store_true", help="only the stack runs (implies --stack)")
    args = ap.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="bench-playable-")
    os.makedirs(work, exist_ok=True)
    sources = {"720p 30 s": (30, "1280x720"), "720p 10 min": (600, "1280x720"), "1080p 30 s": (30, "1920x1080")}
    paths = {}
    for name, (secs, size) in sources.items():
        paths[name] = os.path.join(work, f"src-{size}-{secs}.mp4")
        print(f"# making {name} source", flush=True)
        make_source(paths[name], secs, size)
    if args.stack_only:
        args.stack = True
        sources = {"720p 30 s": sources["720p 30 s"]}
    results = {}
    for name in ([] if args.stack_only else sources):
        runs = [engine_run(args.transcoder, paths[name], work) for _ in range(args.runs)]
        for r in runs:
            print(f"engine {name}: master {r['master_s']:.2f} s, first frame {r['first_frame_s']:.2f} s, "
                  f"load {r['load']:.1f}", flush=True)
        results[name] = runs
    cli = [] if args.stack_only else [cli_run(paths["1080p 30 s"], work, 30) for _ in range(args.runs)]
    for r in cli:
        print(f"ffmpeg CLI 1080p 30 s: first segment of every rung {r['first_segment_s']:.2f} s, load {r['load']:.1f}",
              flush=True)
    stack = []
    if args.stack:
        for _ in range(args.runs):
            r = stack_run(args.mcloud, paths["720p 30 s"])
            print(f"stack 720p 30 s: playable {r['playable_s']:.2f} s, first frame {r['first_frame_s']:.2f} s "
                  f"after upload complete, load {r['load']:.1f}", flush=True)
            stack.append(r)
    print("\n| measurement | p50 | runs (load avg) |\n|---|---|---|")
    for name, runs in results.items():
        print(f"| engine {name}: first frame from the master | {p50(runs, 'first_frame_s'):.2f} s | "
              + ", ".join(f"{r['first_frame_s']:.2f} ({r['load']:.1f})" for r in runs) + " |")
    if not args.stack_only:
        a, b = p50(results["720p 10 min"], "first_frame_s"), p50(results["720p 30 s"], "first_frame_s")
        print(f"| 10 min / 30 s (720p) | {a / b:.2f}x | |")
        c = p50(cli, "first_segment_s")
        print(f"| ffmpeg CLI 1080p 30 s: first segment of every rung | {c:.2f} s | "
              + ", ".join(f"{r['first_segment_s']:.2f} ({r['load']:.1f})" for r in cli) + " |")
        print(f"| engine 1080p first frame / CLI first segment | "
              f"{p50(results['1080p 30 s'], 'first_frame_s') / c:.2f}x | |")
    if stack:
        print(f"| stack 720p 30 s: upload complete -> first frame | {p50(stack, 'first_frame_s'):.2f} s | "
              + ", ".join(f"{r['first_frame_s']:.2f} ({r['load']:.1f})" for r in stack) + " |")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
