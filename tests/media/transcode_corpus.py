#!/usr/bin/env python3
"""transcode_corpus.py — the transcoding engine against a media corpus made at
test time with the ffmpeg CLI.

Every source the worker must handle is generated small and short (H.264,
HEVC, VP9, MPEG-2, MJPEG; 4:3, 21:9, odd 853x479, anamorphic, portrait by
rotation metadata, variable frame rate, no audio, audio only, two audio
tracks, 10-bit, read through a caller's AVIOContext) together with the
inputs it must refuse (truncated, a text file named .mp4, no audio or video
stream) and an input whose reads fail (transient, not the source's fault). mcloud-transcode-file runs on
each, and ffprobe/ffmpeg check what it wrote:

  - every rung: the expected size, H.264 8-bit 4:2:0, AAC stereo when the
    source has audio, duration equal to the source's within 0.1 s, moov
    before mdat, keyframes exactly at the segment boundaries and at the same
    timestamps in every rung;
  - HLS: the master playlist's BANDWIDTH / AVERAGE-BANDWIDTH recomputed from
    the segment files, RESOLUTION, FRAME-RATE and CODECS (avc1 profile and
    level as ffprobe reads them); every segment starts with a keyframe; every
    variant decodes without an error (ffmpeg -i master.m3u8 -map 0:p:N);
  - the top rung's first frame matches the source as ffmpeg shows it (upright,
    display aspect) and the thumbnails decode, in the same orientation;
  - refused inputs fail with the expected reason; cancelling (SIGTERM) stops
    the run and leaves no partial output; temporary files are always removed.

usage: transcode_corpus.py --transcoder PATH [--work DIR] [--only a,b] [--keep]
       transcode_corpus.py --transcoder PATH --long   (the 2-hour source: memory bound)
Python 3 standard library only. Also imported as a module: the worker's
integration test (tests/integration/transcode_worker/worker_test.py, scenario
corpus) runs the same CASES through mcloud-transcode and checks what it
published with check_outputs.
"""
import argparse
import json
import math
import os
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

SEGMENT_S = 2.0
MOBILE = ["--preset", "mobile", "--segment", "2"]
DEFAULT = ["--preset", "default", "--segment", "2"]


def lavfi_video(size, rate, seconds, pattern="testsrc2"):
    return ["-f", "lavfi", "-i", f"{pattern}=size={size}:rate={rate}:duration={seconds}"]


def lavfi_sine(freq, rate, seconds):
    return ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}"]


X264 = ["-c:v", "libx264", "-preset", "ultrafast"]
AAC = ["-c:a", "aac", "-b:a", "64k"]


class Case:
    def __init__(self, name, file, make, args=MOBILE, rungs=(), audio=True, fail=None, kind="invalid"):
        self.name, self.file, self.make = name, file, make
        self.args = args              # "{half}" stands for half the source's size in bytes
        self.rungs = list(rungs)      # expected (width, height), tallest first
        self.audio = audio            # the outputs carry audio
        self.fail = fail              # expected failure reason (substring), or None
        self.kind = kind              # and its mc_err kind


def make_truncated(work, path):
    full = os.path.join(work, "truncated_full.mp4")
    ffmpeg(lavfi_video("320x240", 30, 6) + lavfi_sine(440, 48000, 6) + X264 + AAC +
           ["-movflags", "+faststart", full])
    data = open(full, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])


def make_rotated(work, path):
    """A landscape recording flagged to be shown rotated by 90 degrees, as phones do."""
    plain = os.path.join(work, "portrait_plain.mp4")
    ffmpeg(lavfi_video("640x360", 30, 4) + lavfi_sine(440, 48000, 4) + X264 + AAC + [plain])
    ffmpeg(["-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", path])


def make_text(work, path):
    with open(path, "w") as f:
        f.write("This is a shopping list, not a video.\n" * 40)


def make_subtitles_only(work, path):
    srt = os.path.join(work, "subs.srt")
    with open(srt, "w") as f:
        f.write("1\n00:00:00,000 --> 00:00:02,000\nhello\n\n2\n00:00:02,000 --> 00:00:04,000\nworld\n")
    ffmpeg(["-i", srt, "-c:s", "srt", path])


CASES = [
    Case("h264_4x3", "h264_4x3.mp4",
         lavfi_video("640x480", 30, 5) + lavfi_sine(440, 44100, 5) + X264 + AAC,
         rungs=[(640, 480), (480, 360), (320, 240)]),
    Case("hevc", "hevc.mp4",
         lavfi_video("640x360", 25, 4) + lavfi_sine(440, 48000, 4) +
         ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error",
          "-tag:v", "hvc1"] + AAC,
         rungs=[(640, 360), (426, 240)]),
    Case("vp9", "vp9.webm",
         lavfi_video("480x270", 30, 4) + lavfi_sine(440, 48000, 4) +
         ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "300k",
          "-c:a", "libopus"],
         rungs=[(480, 270), (426, 240)]),
    Case("mpeg2_anamorphic", "mpeg2.mpg",
         lavfi_video("720x480", 30, 4) + lavfi_sine(440, 48000, 4) +
         ["-c:v", "mpeg2video", "-b:v", "2M", "-aspect", "16:9", "-c:a", "mp2"],
         rungs=[(852, 480), (640, 360), (426, 240)]),
    Case("mjpeg", "mjpeg.avi",
         lavfi_video("320x240", 25, 4) + lavfi_sine(440, 22050, 4) +
         ["-c:v", "mjpeg", "-q:v", "5", "-c:a", "pcm_s16le"],
         rungs=[(320, 240)]),
    Case("wide_21x9", "wide.mkv",
         lavfi_video("840x360", 30, 4) + lavfi_sine(440, 48000, 4) + X264 + AAC,
         rungs=[(840, 360), (560, 240)]),
    Case("odd_853x479", "odd.mp4",
         lavfi_video("853x479", 30, 4) + lavfi_sine(440, 48000, 4) + X264 +
         ["-pix_fmt", "yuv444p"] + AAC,
         args=DEFAULT, rungs=[(852, 478), (642, 360)]),
    Case("portrait_rotated", "portrait.mp4", make_rotated, rungs=[(360, 640), (240, 426)]),
    Case("variable_frame_rate", "vfr.mkv",
         lavfi_video("320x240", 30, 5) + lavfi_sine(440, 48000, 5) + X264 + AAC +
         ["-vf", "select='lt(t,2)+not(mod(n,3))'", "-vsync", "vfr"],
         rungs=[(320, 240)]),
    Case("no_audio", "silent.mp4", lavfi_video("320x240", 30, 4) + X264,
         rungs=[(320, 240)], audio=False),
    Case("audio_only", "audio.m4a", lavfi_sine(440, 44100, 5) + AAC, rungs=[]),
    # the second track is silent: the outputs must carry the first one's tone
    Case("two_audio_tracks", "two_audio.mkv",
         lavfi_video("320x240", 30, 4) + lavfi_sine(440, 48000, 4) +
         ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo", "-t", "4",
          "-map", "0:v", "-map", "1:a", "-map", "2:a"] + X264 + AAC,
         rungs=[(320, 240)]),
    Case("ten_bit", "ten_bit.mp4",
         lavfi_video("640x360", 30, 4) + lavfi_sine(440, 48000, 4) + X264 +
         ["-pix_fmt", "yuv420p10le"] + AAC,
         rungs=[(640, 360), (426, 240)]),
    # the worker reads sources through its own AVIOContext (S3 ranged GETs)
    Case("h264_via_avio", "via_avio.mp4",
         lavfi_video("640x360", 30, 4) + lavfi_sine(440, 48000, 4) + X264 + AAC + ["-movflags", "+faststart"],
         args=MOBILE + ["--via-avio"], rungs=[(640, 360), (426, 240)]),
    # ... whose reads can fail mid-way: transient, not the source's fault
    Case("input_read_error", "read_error.mp4",
         lavfi_video("640x360", 30, 4) + lavfi_sine(440, 48000, 4) + X264 + AAC + ["-movflags", "+faststart"],
         args=MOBILE + ["--via-avio", "--avio-fail-at", "{half}"],
         fail="reading the input failed at", kind="unavailable"),
    Case("truncated", "truncated.mp4", make_truncated, fail="truncated"),
    Case("text_named_mp4", "notes.mp4", make_text, fail="not a media file"),
    Case("subtitles_only", "subtitles.mkv", make_subtitles_only, fail="no video or audio stream"),
]


# ---- tools ----

class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def ffmpeg(args):
    p = run(["ffmpeg", "-nostdin", "-v", "error", "-y"] + args)
    if p.returncode != 0:
        raise Failure("ffmpeg " + " ".join(args) + ": " + p.stderr.decode(errors="replace"))


def ffprobe(path, *args, data=None):
    p = run(["ffprobe", "-v", "error", "-of", "json"] + list(args) + [path], input=data)
    if p.returncode != 0:
        raise Failure(f"ffprobe {path}: {p.stderr.decode(errors='replace')}")
    return json.loads(p.stdout)


def duration(path):
    return float(ffprobe(path, "-show_entries", "format=duration")["format"]["duration"])


def streams(path):
    return ffprobe(path, "-show_streams")["streams"]


def top_level_boxes(path):
    boxes = []
    with open(path, "rb") as f:
        while True:
            head = f.read(8)
            if len(head) < 8:
                return boxes
            size, kind = struct.unpack(">I4s", head)
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
                f.seek(size - 16, 1)
            elif size == 0:
                boxes.append(kind.decode())
                return boxes
            else:
                f.seek(size - 8, 1)
            boxes.append(kind.decode())


def video_packets(path):
    """(pts_time, is_keyframe) of every video packet, in presentation order."""
    doc = ffprobe(path, "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags")
    return sorted((float(p["pts_time"]), "K" in p["flags"]) for p in doc["packets"])


def first_video_packet_is_key(init, segment):
    data = open(init, "rb").read() + open(segment, "rb").read()
    doc = ffprobe("pipe:0", "-select_streams", "v:0", "-show_entries", "packet=flags",
                  "-read_intervals", "%+#1", data=data)
    return bool(doc["packets"]) and "K" in doc["packets"][0]["flags"]


def mean_volume_db(path):
    p = run(["ffmpeg", "-nostdin", "-v", "info", "-i", path, "-map", "0:a", "-af", "volumedetect",
             "-f", "null", "-"])
    m = re.search(rb"mean_volume: (-?[0-9.inf]+) dB", p.stderr)
    check(m, f"{path}: no volume measured")
    return float(m.group(1))


def frame_rate(stream):
    num, den = stream["r_frame_rate"].split("/")
    return int(num) / int(den)


# ---- HLS ----

def parse_attributes(text):
    return {k: v.strip('"') for k, v in re.findall(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)', text)}


def parse_master(path):
    lines = open(path).read().splitlines()
    check(lines[0] == "#EXTM3U", f"{path}: not a playlist")
    variants = []
    for i, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:"):
            variants.append((parse_attributes(line.split(":", 1)[1]), lines[i + 1]))
    return variants


def parse_media(path):
    lines = open(path).read().splitlines()
    check(lines[0] == "#EXTM3U", f"{path}: not a playlist")
    check("#EXT-X-ENDLIST" in lines, f"{path}: no EXT-X-ENDLIST")
    target = int(next(l for l in lines if l.startswith("#EXT-X-TARGETDURATION:")).split(":")[1])
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', "\n".join(lines)).group(1)
    segments, pending = [], None
    for line in lines:
        if line.startswith("#EXTINF:"):
            pending = float(line[8:].split(",")[0])
        elif line and not line.startswith("#"):
            segments.append((line, pending))
    return target, init, segments


def expected_rates(segments, sizes, target):
    """BANDWIDTH per RFC 8216bis (peak over runs of 0.5..1.5 target durations), AVERAGE-BANDWIDTH."""
    total_bits = sum(sizes) * 8
    total_s = sum(d for _, d in segments)
    peak = 0.0
    for i in range(len(segments)):
        bits = s = 0.0
        for j in range(i, len(segments)):
            bits += sizes[j] * 8
            s += segments[j][1]
            if s > 1.5 * target:
                break
            if s >= 0.5 * target:
                peak = max(peak, bits / s)
    if peak == 0:
        peak = total_bits / total_s
    return math.ceil(peak), math.ceil(total_bits / total_s)


AVC_PROFILES = {"Constrained Baseline": 0x42, "Baseline": 0x42, "Main": 0x4D, "High": 0x64}


def check_hls(out, case, result, source_s):
    master = os.path.join(out, "hls", "master.m3u8")
    variants = parse_master(master)
    check(len(variants) == len(result["renditions"]), "one variant per rendition")
    for (attrs, uri), rend in zip(variants, result["renditions"]):
        playlist = os.path.join(out, "hls", uri)
        target, init, segments = parse_media(playlist)
        base = os.path.dirname(playlist)
        sizes = [os.path.getsize(os.path.join(base, name)) for name, _ in segments]
        peak, average = expected_rates(segments, sizes, target)
        check(abs(int(attrs["BANDWIDTH"]) - peak) <= 1, f"{uri}: BANDWIDTH {attrs['BANDWIDTH']} != {peak}")
        check(abs(int(attrs["AVERAGE-BANDWIDTH"]) - average) <= 1,
              f"{uri}: AVERAGE-BANDWIDTH {attrs['AVERAGE-BANDWIDTH']} != {average}")
        hls_s = sum(d for _, d in segments)
        check(abs(hls_s - source_s) <= 0.1 + 1 / 10, f"{uri}: HLS lasts {hls_s:.3f} s, source {source_s:.3f} s")
        codecs = attrs["CODECS"].split(",")
        check(("mp4a.40.2" in codecs) == case.audio, f"{uri}: CODECS {attrs['CODECS']}")
        if case.rungs:
            mp4 = os.path.join(out, rend["file"])
            v = [s for s in streams(mp4) if s["codec_type"] == "video"][0]
            avc = f"avc1.{AVC_PROFILES[v['profile']]:02x}"
            check(codecs[0].startswith(avc) and int(codecs[0][-2:], 16) == v["level"],
                  f"{uri}: CODECS {codecs[0]} but the stream is {v['profile']} level {v['level']}")
            check(attrs["RESOLUTION"] == f"{v['width']}x{v['height']}", f"{uri}: RESOLUTION {attrs['RESOLUTION']}")
            check(abs(float(attrs["FRAME-RATE"]) - frame_rate(v)) < 0.001, f"{uri}: FRAME-RATE {attrs['FRAME-RATE']}")
            for name, _ in segments:
                check(first_video_packet_is_key(os.path.join(base, init), os.path.join(base, name)),
                      f"{uri}: {name} does not start with a keyframe")
        else:
            check("RESOLUTION" not in attrs, f"{uri}: audio-only variant with a RESOLUTION")
    for n in range(len(variants)):
        p = run(["ffmpeg", "-nostdin", "-v", "error", "-i", master, "-map", f"0:p:{n}", "-f", "null", "-"])
        check(p.returncode == 0 and not p.stderr.strip(),
              f"variant {n} does not decode cleanly: {p.stderr.decode(errors='replace')[:500]}")


# ---- progressive MP4 ----

def expected_keyframes(last_frame_s, fps, segment_s):
    """The first frame at or after each segment boundary, up to the last frame."""
    times, k = [], 0
    while True:
        frame = math.ceil(k * segment_s * fps - 1e-6)
        if frame / fps > last_frame_s + 1e-3:
            return times
        times.append(frame / fps)
        k += 1


def psnr_first_frame(ours, reference_cmd_input, w, h):
    """PSNR of our first frame against the CLI's (autorotated) first frame scaled to w x h."""
    p = run(["ffmpeg", "-nostdin", "-v", "info", "-i", ours] + reference_cmd_input +
            ["-filter_complex", f"[1:v]scale={w}:{h}[ref];[0:v][ref]psnr", "-frames:v", "1", "-f", "null", "-"])
    m = re.search(rb"PSNR .*average:([0-9.inf]+)", p.stderr)
    check(m, f"no PSNR from ffmpeg: {p.stderr[-500:]}")
    return float(m.group(1))


def check_rungs(out, case, result, source_s, segment_s):
    check([(r["width"], r["height"]) for r in result["renditions"]] == case.rungs,
          f"rungs {[(r['width'], r['height']) for r in result['renditions']]}, expected {case.rungs}")
    keyframes = None
    for rend in result["renditions"]:
        mp4 = os.path.join(out, rend["file"])
        boxes = top_level_boxes(mp4)
        check("moov" in boxes and boxes.index("moov") < boxes.index("mdat"), f"{mp4}: boxes {boxes}")
        d = duration(mp4)
        check(abs(d - source_s) <= 0.1, f"{mp4}: lasts {d:.3f} s, source {source_s:.3f} s")
        ss = streams(mp4)
        video = [s for s in ss if s["codec_type"] == "video"]
        audio = [s for s in ss if s["codec_type"] == "audio"]
        check(len(video) == 1, f"{mp4}: {len(video)} video streams")
        v = video[0]
        check((v["codec_name"], v["pix_fmt"]) == ("h264", "yuv420p"), f"{mp4}: {v['codec_name']} {v['pix_fmt']}")
        check((v["width"], v["height"]) == (rend["width"], rend["height"]), f"{mp4}: {v['width']}x{v['height']}")
        check("side_data_list" not in v, f"{mp4}: carries side data (rotation?) {v.get('side_data_list')}")
        if case.audio:
            check(len(audio) == 1 and audio[0]["codec_name"] == "aac" and audio[0]["channels"] == 2,
                  f"{mp4}: audio {[(a['codec_name'], a['channels']) for a in audio]}")
            check(mean_volume_db(mp4) > -40, f"{mp4}: the audio is silent")
        else:
            check(not audio, f"{mp4}: has audio")
        packets = video_packets(mp4)
        kf = [t for t, key in packets if key]
        want = expected_keyframes(packets[-1][0], frame_rate(v), segment_s)
        check(len(kf) == len(want) and all(abs(a - b) < 1e-3 for a, b in zip(kf, want)),
              f"{mp4}: keyframes {kf}, expected {want}")
        if keyframes is not None:
            check(kf == keyframes, f"{mp4}: keyframes differ between rungs")
        keyframes = kf


def check_audio_only(out, result, source_s):
    check([r["name"] for r in result["renditions"]] == ["audio"], f"renditions {result['renditions']}")
    m4a = os.path.join(out, "audio.m4a")
    boxes = top_level_boxes(m4a)
    check(boxes.index("moov") < boxes.index("mdat"), f"{m4a}: boxes {boxes}")
    ss = streams(m4a)
    check([(s["codec_type"], s["codec_name"], s["channels"]) for s in ss] == [("audio", "aac", 2)],
          f"{m4a}: streams {ss}")
    check(abs(duration(m4a) - source_s) <= 0.1, f"{m4a}: duration")
    check(not result["thumbnails"] and not os.path.exists(os.path.join(out, "thumbs")), "thumbnails of audio")


def check_thumbnails(out, case, result):
    check(result["thumbnails"][0] == "thumbs/poster.jpg" and len(result["thumbnails"]) == 5,
          f"thumbnails {result['thumbnails']}")
    w, h = case.rungs[0]
    for name in result["thumbnails"]:
        s = streams(os.path.join(out, name))[0]
        check(s["codec_name"] == "mjpeg" and (s["width"] > s["height"]) == (w > h),
              f"{name}: {s['codec_name']} {s['width']}x{s['height']}")


# ---- running ----

SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:")


def transcode(transcoder, source, out, tmp, args):
    p = run([transcoder, "--tmp", tmp] + args + [source, out])
    report = SANITIZER_REPORT.search(p.stderr.decode(errors="replace"))
    check(not report, "sanitizer report: " + p.stderr.decode(errors="replace")[-3000:])
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        raise Failure(f"exit {p.returncode}, stdout {p.stdout[:300]!r}, stderr {p.stderr[-2000:]!r}")
    return p.returncode, doc, p.stderr.decode(errors="replace")


def leftovers(out, tmp):
    left = [os.path.join(d, f) for d, _, fs in os.walk(out) for f in fs if f.endswith(".part")]
    return left + [os.path.join(tmp, f) for f in os.listdir(tmp)]


def make_source(case, work):
    """Writes the case's source file into work; returns its path."""
    source = os.path.join(work, case.file)
    if callable(case.make):
        case.make(work, source)
    else:
        ffmpeg(case.make + [source])
    return source


def preset_of(case):
    return case.args[case.args.index("--preset") + 1]


def check_outputs(case, source, out, result, segment_s=SEGMENT_S):
    """Every check of a valid case's outputs in out, described by result (the
    transcoder's JSON document: renditions with name, file, width, height,
    bandwidth; thumbnails); returns a one-line summary."""
    source_s = duration(source)
    if case.rungs:
        check_rungs(out, case, result, source_s, segment_s)
        check_thumbnails(out, case, result)
        w, h = case.rungs[0]
        psnr = psnr_first_frame(os.path.join(out, result["renditions"][0]["file"]), ["-i", source], w, h)
        check(psnr > 20, f"first frame differs from the source shown upright (PSNR {psnr:.1f} dB)")
    else:
        check_audio_only(out, result, source_s)
    check_hls(out, case, result, source_s)
    return ", ".join(f"{r['name']} {r['bandwidth'] // 1000} kb/s" for r in result["renditions"])


def run_case(case, transcoder, work):
    source = make_source(case, work)
    out, tmp = os.path.join(work, case.name), os.path.join(work, case.name + ".tmp")
    os.makedirs(tmp)
    args = [a.replace("{half}", str(os.path.getsize(source) // 2)) for a in case.args]
    rc, doc, log = transcode(transcoder, source, out, tmp, args)
    check(not leftovers(out, tmp), f"temporary or partial files left: {leftovers(out, tmp)}")
    if case.fail:
        check(rc == 1 and "error" in doc, f"expected a failure, got exit {rc}: {doc}")
        check(doc["error"]["kind"] == case.kind and case.fail in doc["error"]["message"],
              f"reason {doc['error']}, expected {case.kind} '{case.fail}'")
        return doc["error"]["message"]
    check(rc == 0, f"exit {rc}: {doc} {log[-2000:]}")
    return check_outputs(case, source, out, doc)


def run_cancel(transcoder, work):
    """SIGTERM mid-run: the run stops, says so, and leaves nothing partial behind."""
    source = os.path.join(work, "cancel.mp4")
    ffmpeg(lavfi_video("640x360", 30, 120) + X264 + [source])
    out, tmp = os.path.join(work, "cancel"), os.path.join(work, "cancel.tmp")
    os.makedirs(tmp)
    p = subprocess.Popen([transcoder, "--tmp", tmp] + MOBILE + [source, out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    for line in p.stderr:  # wait until it is well under way
        if b'"progress' in line and not b"progress 0.0%" in line:
            break
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=60)
    check(not SANITIZER_REPORT.search(stderr.decode(errors="replace")), "sanitizer report: " + stderr.decode()[-3000:])
    doc = json.loads(stdout)
    check(p.returncode == 1 and doc["error"]["message"] == "transcode cancelled", f"exit {p.returncode}: {doc}")
    check(not leftovers(out, tmp), f"partial files left: {leftovers(out, tmp)}")
    check(not os.path.exists(os.path.join(out, "hls", "master.m3u8")), "master playlist of a cancelled run")
    return "stopped, nothing partial left"


def peak_rss_mb(cmd):
    """Runs cmd as a child of a fresh helper so ru_maxrss is cmd's alone."""
    code = ("import resource,subprocess,sys\n"
            "p=subprocess.run(sys.argv[1:],stdout=subprocess.PIPE,stderr=subprocess.DEVNULL)\n"
            "print(p.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.stdout.flush(); sys.stdout.buffer.write(p.stdout)\n")
    p = run([sys.executable, "-c", code] + cmd)
    head, _, rest = p.stdout.partition(b"\n")
    rc, kb = head.split()
    return int(rc), int(kb) / 1024, json.loads(rest)


def run_long(transcoder, work):
    """A 2-hour source must transcode in bounded memory: the peak RSS of the
    2-hour run stays within a small margin of a 2-minute run of the same
    content (the MP4 sample tables are the only thing that grows)."""
    results = {}
    for name, seconds in (("short", 120), ("long", 7200)):
        source = os.path.join(work, f"{name}.mp4")
        ffmpeg(lavfi_video("160x90", 5, seconds) + lavfi_sine(440, 8000, seconds) +
               X264 + ["-g", "50", "-c:a", "aac", "-b:a", "16k", source])
        out, tmp = os.path.join(work, name), os.path.join(work, name + ".tmp")
        os.makedirs(tmp)
        t0 = time.monotonic()
        rc, rss, doc = peak_rss_mb([transcoder, "--tmp", tmp] + DEFAULT[:2] + [source, out])
        elapsed = time.monotonic() - t0
        check(rc == 0, f"{name}: exit {rc}: {doc}")
        check(abs(duration(os.path.join(out, "90p.mp4")) - duration(source)) <= 0.1, f"{name}: duration")
        results[name] = rss
        print(f"  {name} ({seconds} s source): {elapsed:.0f} s, peak RSS {rss:.0f} MB", flush=True)
    growth = results["long"] - results["short"]
    check(growth < 64, f"peak RSS grew by {growth:.0f} MB from a 2-minute to a 2-hour source")
    return f"peak RSS {results['short']:.0f} MB (2 min) vs {results['long']:.0f} MB (2 h)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--transcoder", required=True)
    ap.add_argument("--work", help="working directory (default: a new temporary one)")
    ap.add_argument("--only", help="comma-separated case names")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--long", action="store_true", help="run the 2-hour memory-bound case instead")
    a = ap.parse_args()
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (scripts/bootstrap.sh installs it)")
    work = a.work or tempfile.mkdtemp(prefix="mcloud-corpus-")
    os.makedirs(work, exist_ok=True)
    if a.long:
        todo = [("long_source", lambda: run_long(a.transcoder, work))]
    else:
        only = set(a.only.split(",")) if a.only else None
        todo = [(c.name, lambda c=c: run_case(c, a.transcoder, work)) for c in CASES
                if not only or c.name in only]
        if not only or "cancel" in only:
            todo.append(("cancel", lambda: run_cancel(a.transcoder, work)))
    failed = []
    for name, fn in todo:
        t0 = time.monotonic()
        try:
            detail = fn()
            print(f"ok   {name} ({time.monotonic() - t0:.1f} s): {detail}", flush=True)
        except (Failure, subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError) as e:
            failed.append(name)
            print(f"FAIL {name} ({time.monotonic() - t0:.1f} s): {type(e).__name__}: {e}", flush=True)
    if not a.keep and not a.work:
        shutil.rmtree(work, ignore_errors=True)
    if failed:
        sys.exit(f"{len(failed)} of {len(todo)} cases failed: {', '.join(failed)}")
    print(f"all {len(todo)} cases passed")


if __name__ == "__main__":
    main()
