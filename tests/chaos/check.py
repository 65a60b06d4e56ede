"""check.py — the fault suite's checker, once the load has settled. For
every upload the platform acknowledged (its client saw the last 204):
  - the upload and video rows are in MySQL, on the master and on every
    replica (a row written through an acknowledged request was not lost,
    and no server diverged), the upload completed at its full length;
  - the source object in S3 is the uploaded file, byte for byte (sha256);
  - the video is `ready` with one mp4 and one hls rendition per rung (no
    duplicates), every rendition under the one published prefix;
  - each MP4 rendition decodes (`ffmpeg -v error`: no error at all) and
    lasts as long as the source; each HLS playlist's segments exist;
  - under videos/<tenant>/<video>/ only the published attempt's objects
    are left (no second published output, no stale zombie output), and no
    object under the run's uploads/ staging is left.
Returns a list of anomalies (empty: the platform lost nothing)."""

import hashlib
import json
import os
import subprocess
import tempfile

import stackctl as sc
from stackctl import log

DURATION_TOLERANCE_S = 0.25


def _q(xs):
    return ",".join("'" + x.replace("'", "") + "'" for x in xs)


def probe_duration(path):
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "json", path],
                       capture_output=True, text=True, timeout=60)
    try:
        return float(json.loads(r.stdout)["format"]["duration"])
    except (ValueError, KeyError):
        return None


def decode_errors(path):
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    return (r.stderr.strip() or ("" if r.returncode == 0 else f"exit {r.returncode}"))[:300]


def list_keys(s3, bucket, prefix):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def servers():
    """Every MariaDB server of the stack (status lists them)."""
    return [a for c, (s, a, _) in sc.status().items() if c.startswith("mysql-") and s == "up"]


def check(acked, source_seconds, tenant="local"):
    anomalies = []
    bad = lambda u, msg: anomalies.append(f"upload {u.idx} video {u.video}: {msg}")
    if not acked:
        return ["no upload was acknowledged: nothing was checked"], 0
    s3 = sc.s3_client()
    bucket = os.environ.get("MCLOUD_S3_BUCKET", "mcloud")
    vids = [u.video for u in acked if u.video]
    for u in acked:
        if not u.video:
            bad(u, "acknowledged without a Mcloud-Video-Id")

    # rows on the master and on every replica (replication caught up first)
    want = len(vids)
    for addr in servers():
        got = sc.wait_until(lambda: (lambda r: r if r and int(r[0][0]) == want else None)(
            sc.try_sql(f"SELECT COUNT(*) FROM videos WHERE id IN ({_q(vids)})", addr)), 60, 1)
        if not got:
            rows = sc.try_sql(f"SELECT id FROM videos WHERE id IN ({_q(vids)})", addr) or []
            missing = set(vids) - {r[0] for r in rows}
            anomalies.append(f"MySQL {addr}: {len(missing)} acknowledged videos missing: {sorted(missing)[:5]}")
    ups = {r[0]: r for r in sc.sql(
        f"SELECT video_id, status, offset_bytes, IFNULL(length_bytes, -1), completed_at IS NOT NULL "
        f"FROM uploads WHERE video_id IN ({_q(vids)})")}
    videos = {r[0]: r for r in sc.sql(
        f"SELECT id, status, IFNULL(published_prefix, ''), IFNULL(failure_reason, '') FROM videos "
        f"WHERE id IN ({_q(vids)})")}
    rends = {}
    for r in sc.sql(f"SELECT video_id, name, kind, object_key FROM renditions WHERE video_id IN ({_q(vids)})"):
        rends.setdefault(r[0], []).append(r[1:])

    tmp = tempfile.mkdtemp(prefix="mcloud-chaos-check-")
    decoded = 0
    for i, u in enumerate(acked):
        if i and i % 50 == 0:
            log(f"checker: {i}/{len(acked)} videos checked")
        if not u.video:
            continue
        up = ups.get(u.video)
        if not up:
            bad(u, "no uploads row")
        elif up[1] != "completed" or int(up[2]) != u.size or int(up[3]) != u.size or up[4] != "1":
            bad(u, f"uploads row not completed at {u.size} bytes: {up[1:]}")
        src = f"sources/{tenant}/{u.video}/source"
        try:
            body = s3.get_object(Bucket=bucket, Key=src)["Body"].read()
            if hashlib.sha256(body).hexdigest() != u.sha256:
                bad(u, f"{src} differs from the uploaded file ({len(body)} of {u.size} bytes)")
        except Exception as e:
            bad(u, f"{src}: {e}")
        v = videos.get(u.video)
        if not v:
            continue
        if v[1] != "ready":
            bad(u, f"status {v[1]} (not ready) {v[3]}")
            continue
        prefix = v[2]
        rs = rends.get(u.video, [])
        names = [(n, k) for n, k, _ in rs]
        if not rs:
            bad(u, "ready without renditions")
        if len(names) != len(set(names)):
            bad(u, f"duplicate renditions: {sorted(names)}")
        if {n for n, k in names if k == "mp4"} != {n for n, k in names if k == "hls"}:
            bad(u, f"rungs without both an mp4 and an hls rendition: {sorted(names)}")
        for name, kind, key in rs:
            if not key.startswith(prefix):
                bad(u, f"rendition {name}/{kind} {key} is not under the published prefix {prefix}")
                continue
            if kind == "mp4":
                path = os.path.join(tmp, f"{u.video}-{name}.mp4")
                try:
                    s3.download_file(bucket, key, path)
                except Exception as e:
                    bad(u, f"{key}: {e}")
                    continue
                err = decode_errors(path)
                dur = probe_duration(path)
                if err:
                    bad(u, f"{key} does not decode cleanly: {err}")
                if dur is None or abs(dur - source_seconds) > DURATION_TOLERANCE_S:
                    bad(u, f"{key} lasts {dur} s, the source {source_seconds} s")
                decoded += 1
                os.unlink(path)
            else:
                try:
                    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
                except Exception as e:
                    bad(u, f"{key}: {e}")
                    continue
                base = key.rsplit("/", 1)[0] + "/"
                segs = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
                if not segs or "#EXT-X-ENDLIST" not in text:
                    bad(u, f"{key} is not a finished playlist")
                for seg in segs:
                    try:
                        s3.head_object(Bucket=bucket, Key=base + seg)
                    except Exception as e:
                        bad(u, f"{key}: segment {seg} missing ({e})")
        # one published output: no object of another attempt left
        for k in list_keys(s3, bucket, f"videos/{tenant}/{u.video}/"):
            if not k.startswith(prefix):
                bad(u, f"object {k} outside the published prefix {prefix} (second or stale output)")
                break
        if list_keys(s3, bucket, f"uploads/{u.url.rsplit('/', 1)[1]}/") if u.url else []:
            bad(u, "staging objects under uploads/ left after completion")
    os.rmdir(tmp)
    log(f"checker: {len(acked)} acknowledged uploads, {decoded} MP4 renditions decoded, "
        f"{len(anomalies)} anomalies")
    return anomalies, decoded


def orphans(run_videos, run_uploads, since, tenant="local"):
    """S3 objects written during the run that no video or upload owns:
    under sources/ or videos/ of a video MySQL does not know, or staging of
    an upload that is not active."""
    s3 = sc.s3_client()
    bucket = os.environ.get("MCLOUD_S3_BUCKET", "mcloud")
    found = []
    known = {r[0] for r in sc.sql("SELECT id FROM videos")}
    active = {r[0] for r in sc.sql("SELECT id FROM uploads WHERE status = 'active'")}
    for top in ("sources/", "videos/", "uploads/"):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=top):
            for o in page.get("Contents", []):
                if o["LastModified"].timestamp() < since:
                    continue
                parts = o["Key"].split("/")
                if top == "uploads/":
                    if parts[1] not in active:
                        found.append(o["Key"])
                elif len(parts) > 2 and parts[2] not in known:
                    found.append(o["Key"])
    return found
