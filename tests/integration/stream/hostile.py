"""hostile.py BUILD_DIR — hostile requests against mcloud-stream (ctest
integration.stream_hostile).

Videos A and B (ready, different random bytes) and C (still transcoding, its
objects already in S3). Every request below is sent as raw bytes (no client
normalises the path) and must get exactly the status the stream contract
names, a JSON error body {"error":{"status","message"}} when the daemon
itself refuses (403, 404, 405), CORS on the daemon's answers, and nothing
else: no object bytes, no object key, bucket or published prefix in the
answer. After every request the daemon must still serve A's 720p.mp4
whole. Last, 20 clients hang up right after the head of an 8 MiB answer
(the first during the cache fill); the object is still served whole, and
the sanitizer tree's daemon must stop without a leak report. Positive controls (the same credential on the right path, a key
being rotated out, a directory scope) prove the refusals are for the reason
named, not because nothing works.

Statuses that libmicrohttpd gives before the daemon sees the request
(431 for a header block over its memory limit, 414 for a request line over
it) carry its own small HTML body. A raw NUL byte in the request line is
refused with 400 (common/http.c notices that libmicrohttpd 0.9.75, which
hands the URI over as a C string, cut the target short)."""

import os
import socket
import sys
import time
from urllib.parse import urlsplit

import streamtest as st
from streamtest import log, sign_cred

RANGE_SIZE = 256 * 1024
HANGUPS = 20


def main():
    return st.main("stream_hostile", "stream-hostile", run, "the hostile requests")


def make_video(h, status="ready"):
    v = st.Video(h, status=status, title=f"hostile {status}")
    v.data = os.urandom(RANGE_SIZE)
    v.put("720p.mp4", v.data, "video/mp4")
    v.put("hls/master.m3u8", b"#EXTM3U\n#EXT-X-VERSION:7\n", "application/vnd.apple.mpegurl")
    v.put("hls/720p/index.m3u8", b"#EXTM3U\n#EXT-X-ENDLIST\n", "application/vnd.apple.mpegurl")
    v.insert([("720p", 1280, 720, 2_000_000)])
    return v


def run(h, rep):
    a, b = make_video(h), make_video(h)
    c = make_video(h, status="transcoding")
    d = h.daemon()
    play = st.mcloud_play(h.mcloud_bin, d, a.id)
    good_url = play["mp4"]["720p"]
    good = good_url.split(d.url, 1)[1]                 # /v/<A>/<cred>/720p.mp4
    rep.check(good.startswith(f"/v/{a.id}/") and good.endswith("/720p.mp4"),
              "mcloud play gives A's 720p URL on the test's daemon", good_url)
    cred = good.split("/")[3]
    all_a = sign_cred(a.id)                           # scope "": every output of A
    now = int(time.time())
    secrets = [a.prefix, b.prefix, c.prefix, "videos/", f"/{st.BUCKET}/", os.environ["MCLOUD_S3_ENDPOINT"],
               "root:x:0:0"]

    def baseline():
        r = st.request(d.url, "GET", good)
        return r.status == 200 and r.body == a.data

    rep.check(baseline(), "control: A's signed 720p URL serves the object")

    def expect(name, status, target=None, method="GET", headers=(), raw=None, json_body=True,
               message=None, daemon=True):
        """status: the one right answer, or a tuple of equally right ones; daemon:
        the daemon answers (CORS), not libmicrohttpd before it."""
        allowed = status if isinstance(status, tuple) else (status,)
        try:
            r = st.request(d.url, method, target, list(headers), raw=raw)
        except OSError as e:
            rep.check(False, f"{name}: an HTTP answer", str(e))
            return None
        detail = f"got {r.status} {r.reason}; head {r.raw_head[:400]!r}; body {r.body[:300]!r}"
        rep.check(r.status in allowed, f"{name}: {' or '.join(map(str, allowed))}", detail)
        status = r.status if r.status in allowed else allowed[0]
        leaks = [s for s in secrets if s.encode() in r.body or s in r.raw_head]
        if status >= 400:
            leaks += ["object bytes"] if any(v.data[:32] in r.body for v in (a, b, c)) else []
            stray_range = r.header("Content-Range") is not None and status != 416
            rep.check(not leaks and not stray_range and len(r.body) < 4096,
                      f"{name}: nothing but the refusal",
                      f"leaks {leaks}; Content-Range {r.header('Content-Range')!r}; {detail}")
        if json_body:
            err = st.json_error(r)
            rep.check(err is not None and err["status"] == status and err["message"],
                      f"{name}: JSON error body with status {status}", detail)
            if message and err:
                rep.check(message in err["message"].lower(), f"{name}: the message says '{message}'",
                          err["message"])
        if daemon:
            rep.check(r.header("Access-Control-Allow-Origin") == "*", f"{name}: CORS header", detail)
        rep.check(d.alive() and baseline(), f"{name}: the daemon still serves afterwards")
        return r

    base = f"/v/{a.id}/{cred}"
    # ---- paths outside the grammar: 404 -------------------------------------
    traversal = [
        ("dot-dot to /etc/passwd", f"{base}/../../etc/passwd"),
        ("dot-dot back into the video", f"{base}/hls/../720p.mp4"),
        ("single dot segment", f"{base}/./720p.mp4"),
        ("encoded dot-dot-slash", f"{base}/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        ("encoded dot-dot (upper case)", f"{base}/%2E%2E/%2E%2E/etc/passwd"),
        ("encoded separators spelling a valid path", f"/v/{a.id}/{all_a}/hls%2F720p%2Findex.m3u8"),
        ("encoded separator after the credential", f"{base}%2F720p.mp4"),
        ("encoded NUL after the name", f"{base}/720p.mp4%00"),
        ("encoded NUL before an extension", f"{base}/720p.mp4%00.jpg"),
        ("double slash in the path", f"{base}//720p.mp4"),
        ("double slash before the video", f"/v//{a.id}/{cred}/720p.mp4"),
        ("leading double slash", f"//v/{a.id}/{cred}/720p.mp4"),
        ("backslashes", f"{base}/hls\\720p\\index.m3u8"),
        ("backslash dot-dot", f"{base}/..\\..\\etc\\passwd"),
        ("encoded backslash", f"{base}/hls%5c720p%5cindex.m3u8"),
        ("absolute path after the cred", f"{base}/etc/passwd"),
        ("rung of 17 characters", f"{base}/{'a' * 17}.mp4"),
        ("4 KiB file name", f"{base}/{'a' * 4096}.mp4"),
        ("upper-case video id", f"/v/{a.id.upper()}/{cred}/720p.mp4"),
        ("video id not a UUID", f"/v/../{cred}/720p.mp4"),
        ("unknown extension", f"{base}/720p.mkv"),
        ("no path under /v/", f"/v/{a.id}"),
        ("not under /v/", "/etc/passwd"),
        ("dot-dot under /static/", "/static/../../../../etc/passwd"),
        ("encoded dot-dot under /static/", "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd"),
        ("another file of the web directory", "/static/player.html"),
        ("encoded NUL after hls.min.js", "/static/hls.min.js%00"),
        ("hls.min.js as a directory", "/static/hls.min.js/../../../../etc/passwd"),
    ]
    for name, target in traversal:
        expect(name, 404, target)
    # ---- credentials: 403 ----------------------------------------------------
    flipped = cred[:-3] + ("A" if cred[-3] != "A" else "B") + cred[-2:]
    expect("A's credential on B's video", 403, f"/v/{b.id}/{cred}/720p.mp4")
    expect("A's all-outputs credential on B's video", 403, f"/v/{b.id}/{all_a}/720p.mp4")
    expect("720p.mp4 credential for 1080p.mp4", 403, f"{base}/1080p.mp4")
    expect("720p.mp4 credential for hls/", 403, f"{base}/hls/master.m3u8")
    expect("720p.mp4 credential for a thumbnail", 403, f"{base}/thumbs/poster.jpg")
    expect("720p.mp4 credential for the player page", 403, f"{base}/")
    expect("hls/ credential for 720p.mp4", 403, f"/v/{a.id}/{sign_cred(a.id, 'hls/')}/720p.mp4")
    expect("credential of the directory hls/720p/ on hls/master.m3u8", 403,
           f"/v/{a.id}/{sign_cred(a.id, 'hls/720p/')}/hls/master.m3u8")
    expect("a flipped signature character", 403, f"{base.rsplit('/', 1)[0]}/{flipped}/720p.mp4",
           message="signature")
    expect("signed with another secret", 403,
           f"/v/{a.id}/{sign_cred(a.id, secret='an-attacker-secret-0123456789')}/720p.mp4")
    expect("an unknown key id", 403, f"/v/{a.id}/{sign_cred(a.id, kid='nobody')}/720p.mp4")
    expect("signed for another tenant", 403, f"/v/{a.id}/{sign_cred(a.id, tenant='other')}/720p.mp4")
    expect("expired a minute ago", 403, f"/v/{a.id}/{sign_cred(a.id, exp=now - 60)}/720p.mp4",
           message="expired")
    expect("expired in 1970", 403, f"/v/{a.id}/{sign_cred(a.id, exp=1)}/720p.mp4", message="expired")
    expect("an expiry of 0", 403, f"/v/{a.id}/{sign_cred(a.id, exp=0)}/720p.mp4")
    expect("an expiry of 20 digits", 403, f"/v/{a.id}/dev.99999999999999999999.AAAA/720p.mp4")
    expect("a credential that is not one", 403, f"/v/{a.id}/garbage/720p.mp4")
    expect("expiry changed after signing", 403,
           f"/v/{a.id}/{swap_exp(all_a, now + 7200)}/720p.mp4", message="signature")
    # positive controls for the same shapes
    for name, target in [
        ("all-outputs credential on hls/720p/index.m3u8", f"/v/{a.id}/{all_a}/hls/720p/index.m3u8"),
        ("hls/ credential on hls/720p/index.m3u8", f"/v/{a.id}/{sign_cred(a.id, 'hls/')}/hls/720p/index.m3u8"),
        ("the previous key (rotation) still verifies",
         f"/v/{a.id}/{sign_cred(a.id, kid=st.OLD_KEY_ID, secret=st.OLD_SECRET)}/720p.mp4"),
        ("B's own credential", f"/v/{b.id}/{sign_cred(b.id)}/720p.mp4"),
        ("all-outputs credential on the player page", f"/v/{a.id}/{all_a}/"),
    ]:
        r = st.request(d.url, "GET", target)
        rep.check(r.status == 200, f"control: {name}: 200", f"got {r.status} {r.body[:200]!r}")
    page = st.request(d.url, "GET", f"/v/{a.id}/{all_a}/").body
    rep.check(not any(x.encode() in page for x in secrets), "the player page names no key, prefix or bucket",
              page[:400])
    # ---- ids and states: 404 -------------------------------------------------
    unknown = "00000000-0000-4000-8000-000000000000"
    expect("unknown video id", 404, f"/v/{unknown}/{sign_cred(unknown)}/720p.mp4")
    expect("video still transcoding", 404, f"/v/{c.id}/{sign_cred(c.id)}/720p.mp4")
    expect("output missing from a ready video", 404, f"/v/{a.id}/{all_a}/1080p.mp4")
    # ---- absurd ranges ---------------------------------------------------------
    r = expect("Range bytes=99999999999999999999-", 416, good,
               headers=[("Range", "bytes=99999999999999999999-")], json_body=False)
    if r:
        rep.check(r.header("Content-Range") == f"bytes */{RANGE_SIZE}",
                  "416 names the length: Content-Range bytes */LEN", repr(r.header("Content-Range")))
    many = "bytes=" + ",".join(f"{i}-{i}" for i in range(10000))
    expect(f"10,000 ranges (a {len(many) // 1024} KiB header)", 431, good, headers=[("Range", many)],
           json_body=False, daemon=False)
    for name, value in [("negative numbers", "bytes=-5--1"), ("a minus first position", "bytes=-1-5")]:
        r = st.request(d.url, "GET", good, [("Range", value)])
        rep.check(r.status == 200 and r.body == a.data,
                  f"Range {value} ({name}) is ignored: 200 with the whole object",
                  f"got {r.status} {r.body[:200]!r}")
    # ---- methods: 405 ----------------------------------------------------------
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = expect(f"{method} on a signed URL", 405, good, method=method, json_body=True)
        if r:
            allow = {m.strip() for m in (r.header("Allow") or "").split(",")}
            rep.check({"GET", "HEAD", "OPTIONS"} <= allow, f"{method}: Allow names GET, HEAD, OPTIONS",
                      repr(r.header("Allow")))
    r = st.request(d.url, "OPTIONS", good, [("Origin", "http://example.test"),
                                            ("Access-Control-Request-Method", "GET"),
                                            ("Access-Control-Request-Headers", "range")])
    rep.check(r.status in (200, 204) and "range" in (r.header("Access-Control-Allow-Headers") or "").lower(),
              "control: an OPTIONS preflight allows Range", f"got {r.status} {r.headers}")
    # ---- oversized and broken requests (libmicrohttpd answers) -------------------
    expect("a 100 KiB header", 431, good, headers=[("X-Padding", "a" * 102400)], json_body=False,
           daemon=False)
    expect("a 100 KiB request line", 414, f"{base}/{'a' * 102400}.mp4", json_body=False, daemon=False)
    # A raw NUL in the request-target: libmicrohttpd 0.9.75 hands the URI over
    # as a C string, cut at the NUL; common/http.c notices and refuses it.
    for name, target in [("before an extension", f"{good}\0.jpg"),
                         ("before a traversal", f"{good}\0/../../../../etc/passwd"),
                         ("cutting the path to /v/<video>/<cred>", f"{base}\0/720p.mp4")]:
        r = st.request(d.url, "GET", None, raw=f"GET {target} HTTP/1.1\r\nHost: x\r\n"
                       "Connection: close\r\n\r\n".encode())
        err = st.json_error(r)
        rep.check(r.status == 400 and err is not None and "NUL" in err["message"],
                  f"a raw NUL {name}: 400, the target holds a NUL byte",
                  f"{r.status} {r.body[:200]!r}")
    r = st.request(d.url, "GET", None, raw=f"GET {good} HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
    err = st.json_error(r)
    rep.check(r.status == 400 and err is not None and "Host" in err["message"] and a.data not in r.body,
              "an HTTP/1.1 request without Host: 400 (RFC 9112 3.2)", f"{r.status} {r.body[:200]!r}")
    # ---- clients that hang up mid-answer ----------------------------------------
    big = st.Video(h, title="hostile hang-ups")
    big.data = os.urandom(8 * 1024 * 1024)
    big.put("720p.mp4", big.data, "video/mp4")
    big.insert([("720p", 1280, 720, 2_000_000)])
    big_target = f"/v/{big.id}/{sign_cred(big.id)}/720p.mp4"
    for i in range(HANGUPS):  # the first is a cache miss: the hang-up lands during the fill
        hang_up(d.url, big_target, [("Range", "bytes=1000-")] if i % 2 else [])
    r = st.request(d.url, "GET", big_target)
    rep.check(r.status == 200 and r.body == big.data,
              f"after {HANGUPS} clients hung up mid-body, the 8 MiB object is served whole",
              f"{r.status}, {len(r.body)} bytes")
    rep.check(d.alive() and baseline(), "the daemon is still running and serving")
    log(f"daemon log: {d.log_path}")


def hang_up(base, target, headers):
    """Sends a GET, reads the head and a little of the body, closes the socket."""
    u = urlsplit(base)
    with socket.create_connection((u.hostname, u.port), timeout=st.REQUEST_TIMEOUT_S) as s:
        lines = [f"GET {target} HTTP/1.1", f"Host: {u.netloc}", *(f"{k}: {v}" for k, v in headers)]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                return
            got += chunk


def swap_exp(cred, exp):
    kid, _, mac = cred.split(".")
    return f"{kid}.{exp}.{mac}"


if __name__ == "__main__":
    sys.exit(main())
