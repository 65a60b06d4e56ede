#!/usr/bin/env python3
"""bench.py — the transcoding engine against the ffmpeg CLI on the same ladder.

Generates a 1080p clip with motion and noise (testsrc2 + temporal noise, 30 s
by default, stereo audio), then makes the "default" preset's 4-rung ladder
(1080p, 720p, 480p, 360p) from it twice:

  - mcloud-transcode-file (progressive MP4 per rung, plus the HLS packaging
    and thumbnails it always writes);
  - the ffmpeg CLI with identical settings: one decode, one filter graph with
    the same fps/split/scale/format chain, the same x264 options per rung
    (preset, profile, CRF, maxrate/bufsize, fixed GOP, no scene cut, forced
    IDR keyframes at the segment boundaries), AAC 128k stereo, faststart MP4.

Reports wall time, CPU time and the ratio, and per-rung PSNR against the
source scaled to the rung (bicubic) for both, as Markdown for
docs/BENCHMARKS.md. Not a ctest test; run it by hand on a quiet machine:

  tests/bench/transcode/bench.py --transcoder build/transcode/mcloud-transcode-file
"""
import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

# The "default" preset of transcode/ladder.c for a 1920x1080 source.
RUNGS = [  # name, width, height, crf, maxrate kbit/s, bufsize kbit
    ("1080p", 1920, 1080, 22, 6000, 12000),
    ("720p", 1280, 720, 22, 3500, 7000),
    ("480p", 854, 480, 23, 1500, 3000),
    ("360p", 640, 360, 23, 800, 1600),
]
X264_PRESET, PROFILE, SEGMENT_S, FPS = "veryfast", "high", 4, 30


def sh(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if p.returncode != 0:
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stderr.decode(errors='replace')[-3000:]}")
    return p


def make_source(path, seconds):
    sh(["ffmpeg", "-nostdin", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate={FPS}:duration={seconds},noise=alls=8:allf=t+u",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-filter:a", "aformat=channel_layouts=stereo",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "192k", path])


def cli_command(source, out_dir, threads):
    branches = len(RUNGS)
    graph = f"[0:v]fps=fps={FPS}/1,split={branches}" + "".join(f"[b{i}]" for i in range(branches))
    for i, (_, w, h, *_rest) in enumerate(RUNGS):
        graph += f";[b{i}]scale=w={w}:h={h}:flags=bicubic,format=yuv420p,setsar=1[v{i}]"
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", source, "-filter_complex", graph]
    for i, (name, _w, _h, crf, maxrate, bufsize) in enumerate(RUNGS):
        cmd += ["-map", f"[v{i}]", "-map", "0:a:0",
                "-c:v", "libx264", "-preset", X264_PRESET, "-profile:v", PROFILE, "-crf", str(crf),
                "-maxrate", f"{maxrate}k", "-bufsize", f"{bufsize}k",
                "-g", str(SEGMENT_S * FPS), "-keyint_min", str(SEGMENT_S * FPS),
                "-forced-idr", "1", "-x264-params", "scenecut=0",
                "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_S})", "-threads", str(threads),
                "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
                "-movflags", "+faststart", os.path.join(out_dir, f"{name}.mp4")]
    return cmd


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    sh(cmd)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def psnr(rung_path, source, w, h):
    p = sh(["ffmpeg", "-nostdin", "-v", "info", "-i", rung_path, "-i", source, "-filter_complex",
            f"[1:v]scale=w={w}:h={h}:flags=bicubic[ref];[0:v][ref]psnr", "-f", "null", "-"])
    m = re.search(rb"PSNR y:[0-9.]+ u:[0-9.]+ v:[0-9.]+ average:([0-9.]+)", p.stderr)
    if not m:
        sys.exit(f"no PSNR for {rung_path}")
    return float(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcoder", required=True)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=1, help="alternate runs of each (best wall time kept)")
    ap.add_argument("--threads", type=int, default=0, help="x264 threads per rung, both sides (0: auto)")
    ap.add_argument("--work", help="working directory (kept)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="mcloud-bench-")
    os.makedirs(work, exist_ok=True)
    source = os.path.join(work, "source.mp4")
    if not os.path.exists(source):
        print(f"generating a {a.seconds} s 1080p source ...", flush=True)
        make_source(source, a.seconds)

    ours_dir, cli_dir = os.path.join(work, "mcloud"), os.path.join(work, "ffmpeg")
    ours_cmd = [a.transcoder, "--preset", "default", "--threads", str(a.threads), "--log-level", "warn",
                source, ours_dir]
    best = {"mcloud": None, "ffmpeg": None}
    for r in range(a.rounds):
        for name, out, cmd in (("mcloud", ours_dir, ours_cmd), ("ffmpeg", cli_dir, cli_command(source, cli_dir, a.threads))):
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            wall, cpu = timed(cmd)
            print(f"round {r + 1}: {name}: {wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
            if best[name] is None or wall < best[name][0]:
                best[name] = (wall, cpu)

    rows = []
    for name, w, h, *_ in RUNGS:
        ours, cli = os.path.join(ours_dir, f"{name}.mp4"), os.path.join(cli_dir, f"{name}.mp4")
        rows.append((name, w, h, psnr(ours, source, w, h), psnr(cli, source, w, h),
                     os.path.getsize(ours) * 8 / a.seconds / 1000, os.path.getsize(cli) * 8 / a.seconds / 1000))

    (ow, oc), (fw, fc) = best["mcloud"], best["ffmpeg"]
    cpu_info = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                              stdout=subprocess.PIPE).stdout.decode().strip()
    print()
    print(f"Source: {a.seconds} s, 1920x1080 {FPS} fps testsrc2 + temporal noise, H.264 CRF 20 (~12 Mb/s, a phone upload), AAC stereo. "
          f"Machine: {os.cpu_count()} CPUs ({cpu_info}); x264 threads per rung: "
          f"{a.threads or 'auto'} on both sides; best of {a.rounds} round(s).")
    print()
    print("| | wall time | CPU time |")
    print("| --- | ---: | ---: |")
    print(f"| mcloud-transcode-file (MP4 + HLS + thumbnails) | {ow:.1f} s | {oc:.1f} s |")
    print(f"| ffmpeg CLI (MP4) | {fw:.1f} s | {fc:.1f} s |")
    print(f"| **ratio mcloud / ffmpeg** | **{ow / fw:.2f}x** | {oc / fc:.2f}x |")
    print()
    print("| rung | PSNR mcloud | PSNR ffmpeg | difference | bit rate mcloud | bit rate ffmpeg |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, w, h, po, pf, bo, bf in rows:
        print(f"| {name} ({w}x{h}) | {po:.2f} dB | {pf:.2f} dB | {po - pf:+.2f} dB | {bo:.0f} kb/s | {bf:.0f} kb/s |")


if __name__ == "__main__":
    main()
