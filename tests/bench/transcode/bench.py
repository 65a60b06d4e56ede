#!/usr/bin/env python3
"""bench.py — the transcoding engine against the ffmpeg CLI on the same ladder.

Generates a 1080p clip with motion and noise (testsrc2 + temporal noise, 30 s
by default, stereo audio), then makes the "default" preset's 4-rung ladder
(1080p, 720p, 480p, 360p) from it with:

  - mcloud-transcode-file: per rung a progressive faststart MP4 and HLS with
    fMP4 segments, plus the master playlist and five JPEG thumbnails;
  - the ffmpeg CLI doing the same work with identical settings: one decode,
    one filter graph with the same fps/split/scale/format chain plus the same
    thumbnail branch (select at the same times, scale to 720p full range,
    MJPEG at q 3), the same x264 options per rung (preset, profile, CRF,
    maxrate/bufsize, fixed GOP, no scene cut, forced IDR keyframes at the
    segment boundaries, global headers, threads), AAC 128k stereo, and each
    rung's packets written by the tee muxer into a faststart MP4 and an HLS
    fMP4 playlist with the same hls muxer options;
  - with --lean-cli, also the CLI writing the MP4s only (no HLS, no
    thumbnails): the least work the CLI can do for the same ladder.

The x264 settings string each encoder writes into its stream (SEI) is
compared rung by rung between the engine and the CLI: the run stops if they
differ, so the comparison cannot silently drift apart.

Runs alternate (mcloud, CLI, ...) for --rounds rounds; the report gives every
run, the median wall and CPU times, their ratio, and per-rung PSNR against
the source scaled to the rung (bicubic) for both, as Markdown for
docs/BENCHMARKS.md. Not a ctest test; run it by hand:

  tests/bench/transcode/bench.py --transcoder build/transcode/mcloud-transcode-file --rounds 5
"""
import argparse
import os
import re
import resource
import shutil
import statistics
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
THUMB_W, THUMB_H, POSTER_AT, THUMB_COUNT = 1280, 720, 0.1, 4
HLS_OPTIONS = ["hls_time=4.000", "hls_playlist_type=vod", "hls_list_size=0", "hls_segment_type=fmp4",
               "hls_fmp4_init_filename=init.mp4", "hls_flags=independent_segments", "start_number=1"]


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


def thumb_times(duration):
    """Poster and thumbnail positions, as mc_ladder_thumbnails computes them."""
    return sorted([POSTER_AT * duration] + [duration * (i + 1) / (THUMB_COUNT + 1) for i in range(THUMB_COUNT)])


def probe_duration(path):
    p = sh(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path])
    return float(p.stdout.decode().strip())


def cli_command(source, out_dir, threads, equivalent, duration):
    """The ffmpeg CLI making the same ladder. equivalent: MP4 + HLS + thumbnails
    like the engine; otherwise the MP4s only."""
    branches = len(RUNGS) + (1 if equivalent else 0)
    graph = f"[0:v]fps=fps={FPS}/1,split={branches}" + "".join(f"[b{i}]" for i in range(branches))
    for i, (_, w, h, *_rest) in enumerate(RUNGS):
        graph += f";[b{i}]scale=w={w}:h={h}:flags=bicubic,format=yuv420p,setsar=1[v{i}]"
    if equivalent:
        select = "+".join(f"gte(t,{t:.6f})*not(gte(prev_t,{t:.6f}))" for t in thumb_times(duration))
        graph += (f";[b{len(RUNGS)}]select='{select}',scale=w={THUMB_W}:h={THUMB_H}:flags=bicubic:"
                  f"out_range=full,format=yuv420p,setsar=1[thumbs]")
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", source, "-filter_complex", graph]
    for i, (name, _w, _h, crf, maxrate, bufsize) in enumerate(RUNGS):
        cmd += ["-map", f"[v{i}]", "-map", "0:a:0",
                "-c:v", "libx264", "-preset", X264_PRESET, "-profile:v", PROFILE, "-crf", str(crf),
                "-maxrate", f"{maxrate}k", "-bufsize", f"{bufsize}k",
                "-g", str(SEGMENT_S * FPS), "-keyint_min", str(SEGMENT_S * FPS),
                "-forced-idr", "1", "-x264-params", "scenecut=0",
                "-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_S})", "-threads", str(threads),
                "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-ar", "48000",
                "-flags", "+global_header"]
        mp4 = os.path.join(out_dir, f"{name}.mp4")
        if equivalent:
            hls = os.path.join(out_dir, "hls", name)
            os.makedirs(hls, exist_ok=True)
            hls_opts = ":".join(HLS_OPTIONS + [f"hls_segment_filename={hls}/seg_%05d.m4s"])
            cmd += ["-f", "tee", f"[f=mp4:movflags=+faststart]{mp4}|[f=hls:{hls_opts}]{hls}/index.m3u8"]
        else:
            cmd += ["-movflags", "+faststart", mp4]
    if equivalent:
        os.makedirs(os.path.join(out_dir, "thumbs"), exist_ok=True)
        cmd += ["-map", "[thumbs]", "-c:v", "mjpeg", "-q:v", "3", "-fps_mode", "passthrough",
                os.path.join(out_dir, "thumbs", "thumb_%02d.jpg")]
    return cmd


def x264_settings(path):
    """The 'x264 - core ... options: ...' text the encoder wrote into the stream."""
    with open(path, "rb") as f:
        m = re.search(rb"x264 - core [^\x00]*?options: ([^\x00]+)", f.read())
    return m.group(1).decode() if m else None


def timed(cmd):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    sh(cmd)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, load


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
    ap.add_argument("--rounds", type=int, default=1, help="alternating runs of each (medians reported)")
    ap.add_argument("--threads", type=int, default=0, help="x264 threads per rung, both sides (0: auto)")
    ap.add_argument("--lean-cli", action="store_true", help="also time the CLI writing the MP4s only")
    ap.add_argument("--work", help="working directory (kept)")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="mcloud-bench-")
    os.makedirs(work, exist_ok=True)
    source = os.path.join(work, "source.mp4")
    if not os.path.exists(source):
        print(f"generating a {a.seconds} s 1080p source ...", flush=True)
        make_source(source, a.seconds)
    duration = probe_duration(source)

    dirs = {"mcloud": os.path.join(work, "mcloud"), "ffmpeg": os.path.join(work, "ffmpeg"),
            "ffmpeg-mp4": os.path.join(work, "ffmpeg-mp4")}
    contenders = ["mcloud", "ffmpeg"] + (["ffmpeg-mp4"] if a.lean_cli else [])

    def command(name):
        if name == "mcloud":
            return [a.transcoder, "--preset", "default", "--threads", str(a.threads), "--log-level", "warn",
                    source, dirs[name]]
        return cli_command(source, dirs[name], a.threads, name == "ffmpeg", duration)

    runs = {name: [] for name in contenders}
    for r in range(a.rounds):
        for name in contenders:
            shutil.rmtree(dirs[name], ignore_errors=True)
            os.makedirs(dirs[name])
            wall, cpu, load = timed(command(name))
            print(f"round {r + 1}: {name}: {wall:.1f} s wall, {cpu:.1f} s CPU, load average {load:.1f} before",
                  flush=True)
            runs[name].append((wall, cpu, load))

    for name, *_ in RUNGS:
        settings = {c: x264_settings(os.path.join(dirs[c], f"{name}.mp4")) for c in contenders}
        if None in settings.values() or len(set(settings.values())) != 1:
            sys.exit(f"{name}: the x264 settings differ:\n" + "\n".join(f"{c}: {v}" for c, v in settings.items()))
    print("x264 settings identical on every rung:", x264_settings(os.path.join(dirs["mcloud"], "1080p.mp4")))

    rows = []
    for name, w, h, *_ in RUNGS:
        ours, cli = os.path.join(dirs["mcloud"], f"{name}.mp4"), os.path.join(dirs["ffmpeg"], f"{name}.mp4")
        rows.append((name, w, h, psnr(ours, source, w, h), psnr(cli, source, w, h),
                     os.path.getsize(ours) * 8 / duration / 1000, os.path.getsize(cli) * 8 / duration / 1000))

    med = {name: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for name, v in runs.items()}
    cpu_info = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                              stdout=subprocess.PIPE).stdout.decode().strip()
    labels = {"mcloud": "mcloud-transcode-file (MP4 + HLS + thumbnails)",
              "ffmpeg": "ffmpeg CLI (MP4 + HLS via tee + thumbnails)",
              "ffmpeg-mp4": "ffmpeg CLI, MP4 only"}
    print()
    print(f"Source: {duration:.2f} s, 1920x1080 {FPS} fps testsrc2 + temporal noise, H.264 CRF 20, AAC stereo. "
          f"Machine: {os.cpu_count()} CPUs ({cpu_info}); x264 threads per rung: "
          f"{a.threads or 'auto'} on both sides; median of {a.rounds} alternating round(s).")
    print()
    print("| | runs (wall s) | median wall | median CPU | wall ratio mcloud / this | CPU ratio |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for name in contenders:
        w, c = med[name]
        print(f"| {labels[name]} | {', '.join(f'{x[0]:.1f}' for x in runs[name])} | {w:.1f} s | {c:.1f} s | "
              f"{med['mcloud'][0] / w:.2f}x | {med['mcloud'][1] / c:.2f}x |")
    print()
    print("| rung | PSNR mcloud | PSNR ffmpeg | difference | bit rate mcloud | bit rate ffmpeg |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, w, h, po, pf, bo, bf in rows:
        print(f"| {name} ({w}x{h}) | {po:.2f} dB | {pf:.2f} dB | {po - pf:+.2f} dB | {bo:.0f} kb/s | {bf:.0f} kb/s |")


if __name__ == "__main__":
    main()
