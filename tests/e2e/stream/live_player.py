"""live_player.py BUILD_DIR [--retry] — a video plays in a real browser
while it transcodes (issue 14), with no race: the test's own mcloud-transcode
worker holds the job (the TEST-ONLY transcode.test_hold_after_segments)
once every rung has published 2 segments, so playback provably starts while
the job runs.

Isolated like the worker test (tests/integration/transcode_worker): its own
MariaDB database, Kafka topics and group, S3 keys; its own mcloud-stream on
a free port. The browser side is test_player_live.js (playwright-core and
Debian's chromium): it opens the page of the held video, checks it says
"still processing", plays past 2 s, then creates the release file and plays
on across the EVENT -> VOD switch to the end of the video.

--retry: the worker holding the job is SIGKILLed once the browser plays; a
second worker retries the job under attempt 2 and finishes it. The browser
must keep going (hls.js restarts from the master) and reach the end, and no
playlist it read may shrink.

Needs: boto3 (the stack's venv), ffmpeg, kcat, mariadb, node + the
tests/e2e/stream npm packages, /usr/bin/chromium."""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "transcode_worker"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "stream"))
import worker_test as wt  # noqa: E402  (the worker test's harness)
import streamtest as st  # noqa: E402  (the stream tests' daemon)

SAMPLE_SECONDS = 12


def log(msg):
    print(f"[live_player] {msg}", flush=True)


def main():
    build = os.path.abspath(sys.argv[1])
    retry = "--retry" in sys.argv[2:]
    worker_bin = os.path.join(build, "transcode", "mcloud-transcode")
    stream_bin = os.path.join(build, "stream", "mcloud-stream")
    mcloud_bin = os.path.join(build, "cli", "mcloud")
    for f in (worker_bin, stream_bin, mcloud_bin, "/usr/bin/chromium"):
        if not os.path.exists(f):
            raise SystemExit(f"{f} not found (cmake --build; scripts/bootstrap.sh installs chromium)")
    h = wt.Harness(worker_bin)
    daemon, node, ok = None, None, False
    try:
        clip = os.path.join(h.scratch, "clip.mp4")
        wt.make_clip(clip, SAMPLE_SECONDS, "854x480")
        release = os.path.join(h.scratch, "release")
        playing = os.path.join(h.scratch, "playing")
        hold = {"MCLOUD_TRANSCODE_TEST_HOLD_AFTER_SEGMENTS": "2",
                "MCLOUD_TRANSCODE_TEST_HOLD_RELEASE_FILE": release if not retry else release + ".never"}
        first = h.worker("w1", **hold)
        daemon = st.StreamDaemon(stream_bin, h.scratch, MCLOUD_MYSQL_DATABASE=h.db.name,
                                 MCLOUD_STREAM_VIDEO_TTL_MS="200")
        vid, key = h.add_video(clip)
        job_id = h.publish_job(vid, key)
        first.wait_for("TEST ONLY: transcode held")
        row = wt.playable_row(h, vid)
        wt.check(row["status"] == "transcoding" and row["playable"] == "1",
                 f"the held video is not transcoding and playable: {row}")
        env = {**daemon.env, "MCLOUD_MYSQL_DATABASE": h.db.name}
        urls = subprocess.run([mcloud_bin, "play", vid, "--json", "--local"], env=env, check=True,
                              capture_output=True, text=True).stdout
        node = subprocess.Popen(["node", os.path.join(HERE, "test_player_live.js"), urls, release, playing,
                                 str(SAMPLE_SECONDS), "retry" if retry else "release"], cwd=HERE)
        if retry:
            deadline = time.monotonic() + wt.DEADLINE_S
            while not os.path.exists(playing):
                wt.check(time.monotonic() < deadline and node.poll() is None, "the browser never played")
                time.sleep(0.2)
            wt.check(h.job(job_id)["status"] == "running", "the job ended before the kill")
            first.kill()
            h.workers.remove(first)
            log("browser plays attempt 1: its worker killed; a second worker retries")
            h.worker("w2")
        rc = node.wait(timeout=wt.DEADLINE_S)
        node = None
        wt.check(rc == 0, f"the browser test failed (exit {rc})")
        h.wait_final([vid])
        v = h.video(vid)
        wt.check(v["status"] == "ready", f"the video ended {v}")
        want = f"videos/{wt.TENANT}/{vid}/attempts/{job_id}-{2 if retry else 1}/"
        wt.check(v["prefix"] == want, f"published from {v['prefix']}, not {want}")
        ok = True
    except (wt.Failure, st.Failure, subprocess.SubprocessError) as e:
        log(f"FAILED: {e}")
    finally:
        if node is not None:
            node.kill()
            node.wait()
        if daemon is not None:
            try:
                daemon.stop()
            except st.Failure as e:
                log(f"FAILED at stop: {e}")
                ok = False
        try:
            h.close(ok)
        except wt.Failure as e:
            log(f"FAILED at stop: {e}")
            ok = False
    print(f"{1 if ok else 0} passed, {0 if ok else 1} failed")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
