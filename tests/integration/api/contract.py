"""contract.py BUILD_DIR — mcloud-api's contract against the real stack.

Every endpoint, status and error case of api/openapi.yaml, every response
validated against the document: auth (401 missing/bad/revoked key, 403
missing scope), tenancy (two tenants: the other's ids and keys are 404,
nothing of the other's video in bodies or headers), a direct upload with a
real tus client (tuspy) and the one-upload token (a second upload, another
upload's URL: refused), the video's probe, renditions and playback (the
signed HLS answers 200), list pagination (newest first, every video once,
filters, forged and foreign cursors), PATCH, Idempotency-Key (replay, 422,
409, bad key: nothing stored), X-Request-Id in answers and logs, the rate
limit (429 with Retry-After), hostile input (bad JSON, wrong types, unknown
fields, oversized bodies, huge limits, SQL meta-characters: right 4xx,
nothing stored) and the delete cascade (no S3 key of the video left, its
playback URL 404)."""

import hashlib
import json
import os
import subprocess
import sys
import time

import boto3
import requests
from tusclient import client as tus_client

from apitest import ENV, Api, Mysql, Spec, caller, log, main, make_clip, new_tenant

READY_WAIT_S = 180
SQL_META = "x'; DROP TABLE videos; -- \" \\ % _ `"


def s3():
    return boto3.client("s3", endpoint_url=ENV["MCLOUD_S3_ENDPOINT"],
                        aws_access_key_id=ENV["MCLOUD_S3_ACCESS_KEY"],
                        aws_secret_access_key=ENV["MCLOUD_S3_SECRET_KEY"],
                        region_name=ENV.get("MCLOUD_S3_REGION", "us-east-1"))


def s3_keys(client, prefix):
    out = client.list_objects_v2(Bucket=ENV["MCLOUD_S3_BUCKET"], Prefix=prefix)
    return [o["Key"] for o in out.get("Contents", [])]


def body(checks, scratch, build_dir, cleanups):
    spec = Spec()
    api = Api(build_dir, scratch)
    cleanups.append(api.stop)
    db = Mysql()
    t1, k1 = new_tenant(build_dir, "ct1")
    t2, k2 = new_tenant(build_dir, "ct2")
    log(f"tenants {t1} {t2} on {api.url}")

    call = caller(api, spec, checks)

    def problem(r, code, what):
        try:
            got = r.json().get("code")
        except ValueError:
            got = None
        checks.check(got == code, f"{what}: problem code {code}", f"got {got}: {r.text[:300]}")

    # ---- the document ---------------------------------------------------------
    r = call("GET", "/v1/openapi.json", expect=200)
    from openapi_spec_validator import validate
    try:
        validate(r.json())
        checks.check(True, "served document validates")
    except Exception as e:
        checks.check(False, "served document validates", repr(e)[:500])
    checks.check(r.json() == spec.doc, "served document equals api/openapi.yaml")

    # ---- auth ---------------------------------------------------------------
    for hdr, what in [({}, "no key"), ({"Authorization": "Bearer mck_" + "x" * 32}, "unknown key"),
                      ({"Authorization": "Bearer nope"}, "malformed key"),
                      ({"Authorization": "Basic abc"}, "other scheme")]:
        r = call("GET", "/v1/videos", headers=hdr, expect=401, what=f"auth {what}")
        checks.check("WWW-Authenticate" in r.headers, f"auth {what}: WWW-Authenticate")
    r = call("POST", "/v1/api-keys", k1, json_body={"name": "reader", "scopes": ["videos:read"]},
             expect=201, what="create read-only key")
    reader = r.json()["key"]
    reader_id = r.json()["id"]
    checks.check(reader.startswith("mck_") and r.headers.get("Location") == f"/v1/api-keys/{reader_id}",
                 "new key: secret and Location")
    call("GET", "/v1/videos", reader, expect=200, what="read-only key lists")
    r = call("POST", "/v1/uploads", reader, json_body={}, expect=403, what="read-only key uploads")
    problem(r, "insufficient_scope", "read-only key uploads")
    call("GET", "/v1/api-keys", reader, expect=403, what="read-only key lists keys")
    r = call("GET", "/v1/api-keys", k1, expect=200)
    listed = json.dumps(r.json())
    checks.check(reader_id in listed and reader not in listed and k1 not in listed,
                 "key list shows ids and prefixes, never secrets")
    call("DELETE", f"/v1/api-keys/{reader_id}", k2, expect=404, what="other tenant revokes a key")
    call("GET", "/v1/videos", reader, expect=200, what="key still works after a foreign revoke")
    call("DELETE", f"/v1/api-keys/{reader_id}", k1, expect=204, what="revoke key")
    r = call("GET", "/v1/videos", reader, expect=401, what="revoked key")
    problem(r, "invalid_api_key", "revoked key")
    call("DELETE", f"/v1/api-keys/{reader_id}", k1, expect=404, what="revoke twice")
    stored = db.query(f"SELECT key_hash FROM api_keys WHERE id = '{reader_id}'")
    checks.check(stored and stored[0][0] == hashlib.sha256(reader.encode()).hexdigest(),
                 "only the key's SHA-256 is stored")
    call("POST", "/v1/api-keys", k1, json_body={"scopes": ["root"]}, expect=400, what="unknown scope")

    # ---- the command line: mcloud tenant / mcloud apikey -----------------------
    mcloud = os.path.join(build_dir, "cli", "mcloud")
    cli_env = dict(os.environ, MCLOUD_API_URL=api.url, MCLOUD_API_KEY=k1)
    out = subprocess.run([mcloud, "apikey", "create", "--name", "cli", "--scopes", "videos:read"],
                         env=cli_env, capture_output=True, text=True, timeout=60)
    cli_key = out.stdout.strip()
    checks.check(out.returncode == 0 and cli_key.startswith("mck_"), "mcloud apikey create prints the key", out)
    call("GET", "/v1/videos", cli_key, expect=200, what="the CLI's key works")
    out = subprocess.run([mcloud, "apikey", "list"], env=cli_env, capture_output=True, text=True, timeout=60)
    line = [x for x in out.stdout.splitlines() if cli_key[:12] in x]
    checks.check(out.returncode == 0 and len(line) == 1 and cli_key not in out.stdout, "mcloud apikey list", out.stdout)
    cli_id = line[0].split()[0] if line else "none"
    out = subprocess.run([mcloud, "apikey", "revoke", cli_id], env=cli_env, capture_output=True, text=True, timeout=60)
    checks.check(out.returncode == 0, "mcloud apikey revoke", out)
    call("GET", "/v1/videos", cli_key, expect=401, what="the CLI's revoked key")
    for name, what in [(t1, "an existing tenant"), ("bad name!", "a bad name")]:
        out = subprocess.run([mcloud, "tenant", "create", name], capture_output=True, text=True, timeout=60)
        checks.check(out.returncode == 1 and not out.stdout and "mcloud tenant" in out.stderr,
                     f"mcloud tenant create refuses {what}", out)
    out = subprocess.run([mcloud, "apikey", "create"], env=dict(cli_env, MCLOUD_API_KEY="mck_" + "z" * 32),
                         capture_output=True, text=True, timeout=60)
    checks.check(out.returncode == 1 and "401" in out.stderr, "mcloud apikey with a bad key says 401", out)
    if ENV.get("MCLOUD_API_URL") and ENV.get("MCLOUD_API_KEY"):
        r = requests.get(ENV["MCLOUD_API_URL"] + "/v1/videos?limit=1",
                         headers={"Authorization": f"Bearer {ENV['MCLOUD_API_KEY']}"}, timeout=30)
        checks.check(r.status_code == 200, "scripts/stack.sh env: MCLOUD_API_KEY works on MCLOUD_API_URL",
                     r.status_code)
    else:
        checks.check(False, "scripts/stack.sh env prints MCLOUD_API_URL and MCLOUD_API_KEY")

    # ---- X-Request-Id ---------------------------------------------------------
    r = call("GET", "/v1/videos", k1, headers={"X-Request-Id": "contract-rid-42"}, expect=200)
    checks.check(r.headers.get("X-Request-Id") == "contract-rid-42", "X-Request-Id echoed")
    r = call("GET", "/v1/videos", k1, headers={"X-Request-Id": "bad id\"x"}, expect=200)
    checks.check(r.headers.get("X-Request-Id", "").startswith("req_"), "invalid X-Request-Id replaced")
    checks.check("contract-rid-42" in api.text(), "X-Request-Id in the log")
    for h in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
        checks.check(h in r.headers, f"keyed answer carries {h}")

    # ---- routing ----------------------------------------------------------------
    r = call("GET", "/v1/nothing", k1, expect=404)
    problem(r, "not_found", "unknown path")
    r = call("PUT", "/v1/videos", k1, expect=405)
    checks.check("GET" in r.headers.get("Allow", ""), "405 names the allowed methods")

    # ---- direct upload with tus ------------------------------------------------
    clip = os.path.join(scratch, "clip.mp4")
    make_clip(clip)
    meta = {"customer": "c-17", "sql": SQL_META[:60]}
    r = call("POST", "/v1/uploads", k1, json_body={"title": SQL_META, "description": "d",
                                                    "metadata": meta, "max_size_bytes": 10_000_000},
             expect=201, what="create direct upload")
    up = r.json()
    vid, token, endpoint = up["video_id"], up["upload"]["token"], up["upload"]["endpoint"]
    checks.check(r.headers.get("Location") == f"/v1/videos/{vid}", "upload: Location")
    r = call("GET", f"/v1/videos/{vid}", k1, expect=200, what="reserved video")
    checks.check(r.json()["status"] == "uploading" and r.json()["title"] == SQL_META
                 and r.json()["metadata"] == meta, "reserved video: status, title and metadata verbatim",
                 r.text[:300])
    tc = tus_client.TusClient(endpoint, headers={"Authorization": f"Bearer {token}"})
    uploader = tc.uploader(clip, chunk_size=64 * 1024, metadata={"filename": "clip.mp4"})
    uploader.upload()
    upload_url = uploader.url
    checks.check(upload_url and upload_url.startswith(endpoint), "tus upload done", upload_url)
    again = requests.post(endpoint, headers={"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0",
                                             "Upload-Length": "10"}, timeout=30)
    checks.check(again.status_code == 409, "the token allows one upload only",
                 f"{again.status_code} {again.text[:200]}")
    pending = s3().list_multipart_uploads(Bucket=ENV["MCLOUD_S3_BUCKET"], Prefix=f"sources/{t1}/{vid}/")
    checks.check(not pending.get("Uploads"), "the refused upload left no multipart upload behind",
                 pending.get("Uploads"))
    r = call("POST", "/v1/uploads", k1, json_body={"max_size_bytes": 1000}, expect=201,
             what="second direct upload")
    other_token, other_vid = r.json()["upload"]["token"], r.json()["video_id"]
    head = requests.head(upload_url, headers={"Authorization": f"Bearer {other_token}",
                                              "Tus-Resumable": "1.0.0"}, timeout=30)
    checks.check(head.status_code == 404, "another upload's token cannot reach this upload",
                 head.status_code)
    big = requests.post(endpoint, headers={"Authorization": f"Bearer {other_token}", "Tus-Resumable": "1.0.0",
                                           "Upload-Length": "1001"}, timeout=30)
    checks.check(big.status_code == 413, "the token's max size holds", f"{big.status_code} {big.text[:200]}")

    deadline = time.monotonic() + READY_WAIT_S
    video = None
    while time.monotonic() < deadline:
        r = api.call("GET", f"/v1/videos/{vid}", key=k1)
        video = r.json()
        if video.get("status") in ("ready", "failed"):
            break
        time.sleep(0.5)
    r = call("GET", f"/v1/videos/{vid}", k1, expect=200, what="uploaded video")
    video = r.json()
    if not checks.check(video["status"] == "ready", "video reaches ready (is mcloud-transcode running?)",
                        video):
        return
    checks.check(video["progress"] == 1 and video["source"]["container"]
                 and video["source"]["video_codec"] == "h264" and video["source"]["size_bytes"] == os.path.getsize(clip),
                 "video: progress and source probe", video.get("source"))
    checks.check(any(x["kind"] == "mp4" for x in video["renditions"])
                 and any(x["kind"] == "hls" for x in video["renditions"]), "video: renditions", video["renditions"])
    checks.check(video["playback"] and video["playback"]["hls"].startswith(ENV.get("MCLOUD_STREAM_URL", "http")),
                 "video: playback URLs", video["playback"])
    r = call("GET", f"/v1/videos/{vid}/playback?ttl=120", k1, expect=200)
    pb = r.json()
    hls = requests.get(pb["hls"], timeout=30)
    checks.check(hls.status_code == 200 and "#EXTM3U" in hls.text, "signed HLS plays", hls.status_code)
    mp4 = requests.get(next(iter(pb["mp4"].values())), headers={"Range": "bytes=0-99"}, timeout=30)
    checks.check(mp4.status_code == 206, "signed MP4 plays", mp4.status_code)
    for q in ("ttl=5", "ttl=abc", "ttl=600&ttl=601", "other=1"):
        r = call("GET", f"/v1/videos/{vid}/playback?{q}", k1, expect=400, what=f"playback ?{q}")
    r = call("GET", f"/v1/videos/{other_vid}/playback", k1, expect=409, what="playback of an unready video")
    problem(r, "video_not_ready", "playback of an unready video")

    # ---- tenancy -------------------------------------------------------------------
    for method, path, kw in [("GET", f"/v1/videos/{vid}", {}), ("GET", f"/v1/videos/{vid}/playback", {}),
                             ("PATCH", f"/v1/videos/{vid}", {"json_body": {"title": "stolen"}}),
                             ("DELETE", f"/v1/videos/{vid}", {})]:
        r = call(method, path, k2, expect=404, what=f"other tenant {method} {path}", **kw)
        leak = r.text + json.dumps(dict(r.headers))
        checks.check(SQL_META not in leak and "c-17" not in leak and t1 not in leak,
                     f"other tenant {method}: nothing leaked", leak[:300])
    r = call("GET", "/v1/videos?limit=100", k2, expect=200)
    checks.check(vid not in r.text, "other tenant's list does not hold the video")
    r = call("GET", f"/v1/videos/{vid}", k1, expect=200)
    checks.check(r.json()["title"] == SQL_META, "video unchanged by the other tenant")

    # ---- PATCH and hostile input -----------------------------------------------------
    r = call("PATCH", f"/v1/videos/{vid}", k1, json_body={"title": "renamed", "metadata": {"a": "1"}}, expect=200)
    checks.check(r.json()["title"] == "renamed" and r.json()["metadata"] == {"a": "1"}
                 and r.json()["description"] == "d", "PATCH changes only what it names")
    r = call("PATCH", f"/v1/videos/{vid}", k1, json_body={"metadata": None}, expect=200)
    checks.check(r.json()["metadata"] == {}, "PATCH metadata null clears it")
    hostile = [
        ({"data": "{", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json", "malformed JSON"),
        ({"data": "[1]", "headers": {"Content-Type": "application/json"}}, 400, "invalid_json", "JSON array"),
        ({"json_body": {"title": 5}}, 400, "invalid_body", "wrong type"),
        ({"json_body": {"title": "x", "owner": "y"}}, 400, "invalid_body", "unknown field"),
        ({"json_body": {}}, 400, "invalid_body", "empty edit"),
        ({"json_body": {"metadata": {f"k{i}": "v" for i in range(33)}}}, 400, "invalid_body", "33 metadata pairs"),
        ({"json_body": {"metadata": {"k": "v" * 513}}}, 400, "invalid_body", "long metadata value"),
        ({"json_body": {"metadata": {"bad key'--": "v"}}}, 400, "invalid_body", "metadata key with SQL"),
        ({"json_body": {"title": "t" * 513}}, 400, "invalid_body", "long title"),
        ({"data": "title=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}}, 415,
         "unsupported_media_type", "form body"),
        ({"data": json.dumps({"title": "x" * 70000}), "headers": {"Content-Type": "application/json"}}, 413,
         "body_too_large", "oversized body"),
    ]
    for kw, status, code, what in hostile:
        r = call("PATCH", f"/v1/videos/{vid}", k1, expect=status, what=f"hostile PATCH: {what}", **kw)
        problem(r, code, f"hostile PATCH: {what}")
    r = call("GET", f"/v1/videos/{vid}", k1, expect=200)
    checks.check(r.json()["title"] == "renamed" and r.json()["metadata"] == {}, "hostile PATCHes stored nothing")
    for path, what in [("/v1/videos/' OR '1'='1", "SQL in id"), ("/v1/videos/" + "a" * 300, "long id")]:
        call("GET", path, k1, expect=404, what=f"hostile GET: {what}")

    # ---- list, pagination, filters, cursors --------------------------------------------
    before = db.query(f"SELECT COUNT(*) FROM videos WHERE tenant_id = '{t2}'")[0][0]
    hostile_posts = [({"json_body": {"title": 1}}, 400), ({"json_body": {"bogus": True}}, 400),
                     ({"json_body": {"max_size_bytes": -1}}, 400), ({"json_body": {"max_size_bytes": 10 ** 30}}, 400),
                     ({"json_body": {"expires_in_s": "1"}}, 400), ({"data": "nope", "headers": {"Content-Type": "application/json"}}, 400),
                     ({"json_body": {}, "headers": {"Idempotency-Key": "has space"}}, 400),
                     ({"json_body": {}, "headers": {"Idempotency-Key": "k" * 256}}, 400)]
    for kw, status in hostile_posts:
        call("POST", "/v1/uploads", k2, expect=status, what=f"hostile POST {str(kw)[:60]}", **kw)
    after = db.query(f"SELECT COUNT(*) FROM videos WHERE tenant_id = '{t2}'")[0][0]
    idem_rows = db.query(f"SELECT COUNT(*) FROM idempotency_keys WHERE tenant_id = '{t2}'")[0][0]
    checks.check(before == after == "0" and idem_rows == "0", "hostile POSTs stored nothing", (before, after, idem_rows))

    made = []
    for i in range(7):
        r = call("POST", "/v1/uploads", k2, json_body={"title": f"v{i}"}, expect=201, what=f"reserve {i}")
        made.append(r.json()["video_id"])
    # Lists read the replica (ARCHITECTURE: eventually consistent): page only
    # once it has every reserved video, within a bound against hangs.
    deadline = time.monotonic() + 30
    while True:
        listed = [v["id"] for v in call("GET", "/v1/videos?limit=50", k2, expect=200).json()["data"]]
        if set(made) <= set(listed) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    seen, cursor, pages = [], None, 0
    while True:
        r = call("GET", "/v1/videos?limit=3" + (f"&cursor={cursor}" if cursor else ""), k2, expect=200)
        page = r.json()
        seen += [v["id"] for v in page["data"]]
        pages += 1
        checks.check(len(page["data"]) <= 3, "page holds at most limit")
        cursor = page["next_cursor"]
        if not cursor or pages > 10:
            break
    checks.check(seen == list(reversed(made)), "pages hold every video once, newest first", (seen, made))
    checks.check(pages == 3, "7 videos at limit 3: three pages", pages)
    r = call("GET", "/v1/videos?limit=2", k2, expect=200)
    c2 = r.json()["next_cursor"]
    r = call("GET", f"/v1/videos?cursor={c2}", k1, expect=400, what="another tenant's cursor")
    problem(r, "invalid_cursor", "another tenant's cursor")
    forged = c2[:-2] + ("AA" if not c2.endswith("AA") else "BB")
    r = call("GET", f"/v1/videos?cursor={forged}", k2, expect=400, what="forged cursor")
    problem(r, "invalid_cursor", "forged cursor")
    r = call("GET", "/v1/videos?status=uploading&limit=100", k2, expect=200)
    checks.check(len(r.json()["data"]) == 7, "status filter", len(r.json()["data"]))
    r = call("GET", "/v1/videos?status=ready", k2, expect=200)
    checks.check(r.json()["data"] == [], "status filter: none ready")
    created = [v["created_at"] for v in call("GET", "/v1/videos?limit=100", k2, expect=200).json()["data"]]
    mid = sorted(created)[3]
    r = call("GET", f"/v1/videos?created_after={mid}&limit=100", k2, expect=200)
    checks.check(all(v["created_at"] > mid for v in r.json()["data"]) and len(r.json()["data"]) == 3,
                 "created_after filter", r.json()["data"])
    r = call("GET", f"/v1/videos?created_before={mid}&limit=100", k2, expect=200)
    checks.check(len(r.json()["data"]) == 3, "created_before filter", len(r.json()["data"]))
    for q, what in [("limit=1000000", "huge limit"), ("limit=0", "zero limit"), ("limit=x", "text limit"),
                    ("status=deleted", "unknown status"), ("created_after=yesterday", "bad time"),
                    ("cursor=%zz", "bad escape"), ("sort=asc", "unknown parameter"),
                    ("limit=1&limit=2", "repeated parameter"), ("status=ready'%20OR%201=1", "SQL in status")]:
        r = call("GET", f"/v1/videos?{q}", k2, expect=400, what=f"list ?{q}: {what}")

    # ---- a video transcoding and already playable (the transcoder's columns set in MySQL) -
    tv, other = made[0], made[1]
    db.query(f"UPDATE videos SET status = 'transcoding', playable = 1, playable_seconds = 4 WHERE id = '{tv}'")
    db.query(f"INSERT INTO jobs (id, video_id, status, progress) VALUES ('contract-{tv[:8]}', '{tv}', 'running', 0.42)")
    # The list reads the replica, which applies the two statements one after
    # the other: wait (bounded) until it has both, the job row too.
    deadline = time.monotonic() + 30
    while True:
        items = {v["id"]: v for v in call("GET", "/v1/videos?limit=100", k2, expect=200).json()["data"]}
        seen_tv = items.get(tv, {})
        if (seen_tv.get("status") == "transcoding" and seen_tv.get("progress") is not None) \
                or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    checks.check(items.get(tv, {}).get("progress") == 0.42 and items.get(other, {}).get("progress", 0) is None,
                 "list: a transcoding video's progress, null for the others", (items.get(tv), items.get(other)))
    v = call("GET", f"/v1/videos/{tv}", k2, expect=200, what="a playable transcoding video").json()
    checks.check(v["playable"] is True and v["playable_seconds"] == 4 and v["progress"] == 0.42 and v["playback"] is None,
                 "get: playable while transcoding, seconds published, progress", v)
    pb = call("GET", f"/v1/videos/{tv}/playback", k2, expect=200, what="playback while transcoding").json()
    checks.check(pb["hls"].split("?")[0].endswith("hls/master.m3u8") and pb["mp4"] == {} and "poster" not in pb,
                 "playback while transcoding: page and HLS, no MP4 or poster yet", pb)
    v = call("GET", f"/v1/videos/{other}", k2, expect=200).json()
    checks.check(v["playable"] is False and v["playable_seconds"] is None, "an uploading video is not playable", v)
    r = call("GET", f"/v1/videos/{other}/playback", k2, expect=409, what="playback of an uploading video")
    problem(r, "video_not_ready", "playback of an uploading video")
    db.query(f"DELETE FROM jobs WHERE id = 'contract-{tv[:8]}'")  # no transcoder ever had it
    db.query(f"UPDATE videos SET status = 'uploading', playable = 0, playable_seconds = NULL WHERE id = '{tv}'")

    # ---- idempotency -----------------------------------------------------------------
    idem = {"Idempotency-Key": "contract-order-1"}
    r1 = call("POST", "/v1/uploads", k2, json_body={"title": "idem"}, headers=idem, expect=201, what="idempotent first")
    r2 = call("POST", "/v1/uploads", k2, json_body={"title": "idem"}, headers=idem, expect=201, what="idempotent replay")
    checks.check(r1.json()["video_id"] == r2.json()["video_id"] and r2.headers.get("Idempotent-Replayed") == "true"
                 and r2.headers.get("Location") == r1.headers.get("Location"), "replay returns the first answer")
    r = call("POST", "/v1/uploads", k1, json_body={"title": "idem"}, headers=idem, expect=201, what="same key, other tenant")
    checks.check(r.json()["video_id"] != r1.json()["video_id"], "idempotency keys are per tenant")
    r = call("POST", "/v1/uploads", k2, json_body={"title": "other"}, headers=idem, expect=422, what="idempotent other body")
    problem(r, "idempotency_key_reused", "idempotent other body")
    body_text = json.dumps({"title": "slow"})
    h = hashlib.sha256(f"POST /v1/uploads\n{body_text}".encode()).hexdigest()
    db.query(f"INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, status) VALUES ('{t2}', 'inflight-1', '{h}', 0)")
    r = call("POST", "/v1/uploads", k2, data=body_text, headers={"Idempotency-Key": "inflight-1",
                                                                "Content-Type": "application/json"},
             expect=409, what="idempotent in flight")
    problem(r, "idempotency_in_flight", "idempotent in flight")

    db.query(f"INSERT INTO idempotency_keys (tenant_id, idem_key, request_hash, status, created_at) VALUES "
             f"('{t2}', 'abandoned-1', '{h}', 0, UTC_TIMESTAMP(6) - INTERVAL 200 SECOND)")
    call("POST", "/v1/uploads", k2, data=body_text, headers={"Idempotency-Key": "abandoned-1",
                                                            "Content-Type": "application/json"},
         expect=201, what="a key abandoned by a killed request is free again")

    # ---- delete cascade -----------------------------------------------------------------
    client = s3()
    prefixes = [f"sources/{t1}/{vid}/", f"videos/{t1}/{vid}/"]
    checks.check(all(s3_keys(client, p) for p in prefixes), "the video has objects before DELETE",
                 [len(s3_keys(client, p)) for p in prefixes])
    call("DELETE", f"/v1/videos/{vid}", k1, expect=204, what="delete video")
    left = sum((s3_keys(client, p) for p in prefixes), [])
    checks.check(left == [], "no S3 key of the video is left", left[:5])
    call("GET", f"/v1/videos/{vid}", k1, expect=404, what="GET a deleted video")
    call("DELETE", f"/v1/videos/{vid}", k1, expect=404, what="DELETE twice")
    call("GET", f"/v1/videos/{vid}/playback", k1, expect=404, what="playback of a deleted video")
    r = call("GET", "/v1/videos?limit=100", k1, expect=200)
    checks.check(vid not in r.text, "a deleted video is not listed")
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status = requests.get(pb["hls"], timeout=30).status_code
        if status == 404:
            break
        time.sleep(0.5)
    checks.check(status == 404, "its signed playback URL answers 404 after the stream's cache", status)
    row = db.query(f"SELECT deleted_at IS NOT NULL FROM videos WHERE id = '{vid}'")
    checks.check(row == [["1"]], "the row stays as a tombstone", row)

    # ---- rate limit ------------------------------------------------------------------------
    limited = Api(build_dir, scratch, name="api-limited", rate_limit_per_s=1, rate_limit_burst=3)
    cleanups.append(limited.stop)
    statuses = []
    for _ in range(5):
        r = limited.call("GET", "/v1/videos", key=k2)
        for p in spec.problems("GET", "/v1/videos", r):
            checks.check(False, "rate limited: contract", p)
        statuses.append(r.status_code)
        if r.status_code == 429:
            checks.check(int(r.headers.get("Retry-After", "0")) >= 1 and r.headers.get("RateLimit-Remaining") == "0",
                         "429 carries Retry-After and RateLimit headers", dict(r.headers))
            problem(r, "rate_limited", "rate limited")
    checks.check(429 in statuses and statuses[0] == 200, "the burst is limited", statuses)


if __name__ == "__main__":
    sys.exit(main(body, sys.argv[1], "contract"))
