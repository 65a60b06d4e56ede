"""cache_daemon.py BUILD_DIR — mcloud-stream's disk cache seen from HTTP
(ctest integration.stream_cache_daemon): the cache library has its own test
(test_stream_cache.c); this one proves what a player meets.

  1. single flight: 16 clients GET the same uncached 24 MiB object at once;
     each receives every byte (sha256 equal to the object's) and the daemon
     made exactly one S3 fetch (its gauge mcloud_stream_s3_fetches);
  2. the cache survives a restart: a new daemon on the same cache directory
     answers a Range request with the right bytes and no S3 fetch;
  3. S3 down: a daemon on the same directory whose S3 endpoint is a closed
     port still serves the cached object whole and ranged, answers an
     uncached one with 503 and a clear JSON message (no key, no bucket),
     and keeps answering afterwards."""

import hashlib
import os
import re
import threading

import streamtest as st
from streamtest import Failure, log

OBJECT_BYTES = 24 * 1024 * 1024
CLIENTS = 16


def gauge(daemon, name):
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", daemon.metrics(), re.M)
    if not m:
        raise Failure(f"{daemon.name}: no {name} in /metrics")
    return float(m.group(1))


def concurrent_gets(base, target, n):
    results = [None] * n
    start = threading.Barrier(n)

    def client(i):
        try:
            start.wait()
            r = st.request(base, "GET", target)
            results[i] = (r.status, hashlib.sha256(r.body).hexdigest(), len(r.body))
        except Exception as e:  # reported by the caller
            results[i] = ("error", str(e), 0)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def run(h, rep):
    data = os.urandom(OBJECT_BYTES)
    want = hashlib.sha256(data).hexdigest()
    video = st.Video(h, title="cache test")
    video.put("720p.mp4", data, "video/mp4")
    video.put("480p.mp4", os.urandom(1024 * 1024), "video/mp4")
    video.insert([("720p", 1280, 720, 2000000), ("480p", 854, 480, 1000000)])

    first = h.daemon("first")
    cred = st.sign_cred(video.id)
    target = f"/v/{video.id}/{cred}/720p.mp4"
    other = f"/v/{video.id}/{cred}/480p.mp4"

    results = concurrent_gets(first.url, target, CLIENTS)
    whole = [r for r in results if r[0] == 200 and r[1] == want and r[2] == OBJECT_BYTES]
    rep.check(len(whole) == CLIENTS, f"{CLIENTS} concurrent clients of an uncached object each got all of it",
              f"results {results}")
    fetches = gauge(first, "mcloud_stream_s3_fetches")
    rep.check(fetches == 1, "one S3 fetch for all of them (single flight)", f"s3 fetches {fetches}")
    seen = sum(gauge(first, g) for g in ("mcloud_stream_cache_misses", "mcloud_stream_cache_joins",
                                          "mcloud_stream_cache_hits"))
    rep.check(seen == CLIENTS, "every client went through the cache (miss, join or hit)", f"{seen}")
    first.stop()

    second = h.daemon("second", MCLOUD_STREAM_CACHE_DIR=first.cache_dir)
    r = st.request(second.url, "GET", target, headers=[("Range", "bytes=1000-1999")])
    rep.check(r.status == 206 and r.body == data[1000:2000],
              "after a restart the cached object is served (a range of it)", f"{r}")
    fetches = gauge(second, "mcloud_stream_s3_fetches")
    rep.check(fetches == 0, "after a restart: no S3 fetch for a cached object", f"s3 fetches {fetches}")
    second.stop()

    port = st.free_port()  # nobody listens there
    third = h.daemon("s3-down", MCLOUD_STREAM_CACHE_DIR=first.cache_dir,
                     MCLOUD_S3_ENDPOINT=f"http://127.0.0.1:{port}")
    r = st.request(third.url, "GET", target)
    rep.check(r.status == 200 and hashlib.sha256(r.body).hexdigest() == want,
              "S3 down: the cached object is served whole", f"{r}")
    r = st.request(third.url, "GET", target, headers=[("Range", "bytes=-100")])
    rep.check(r.status == 206 and r.body == data[-100:], "S3 down: and ranged", f"{r}")
    r = st.request(third.url, "GET", other)
    body = r.body.decode("utf-8", "replace")
    err = st.json_error(r) if r.status == 503 else None
    rep.check(r.status == 503 and err is not None and "storage is unavailable" in err["message"],
              "S3 down: an uncached object gets 503 with a clear message", f"{r} {body}")
    rep.check("videos/" not in body and st.BUCKET not in body,
              "S3 down: the 503 names no key or bucket", body)
    r = st.request(third.url, "GET", "/healthz")
    rep.check(r.status == 200, "S3 down: the daemon still answers", f"{r}")
    log(f"daemon logs in {h.scratch}")


def main():
    return st.main("stream_cache", "stream-cache", run, "the cache checks")


if __name__ == "__main__":
    raise SystemExit(main())
