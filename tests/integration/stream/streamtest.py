"""streamtest.py — what the mcloud-stream integration tests share: a private
mcloud-stream of the build tree under test, synthetic published videos
(objects in S3 + rows in MySQL), playback credentials signed here, a raw
HTTP/1.1 client and a multipart/byteranges reader.

Each test starts its own daemon (the tree's binary: the sanitizer tree tests
the sanitized one) on a free port with its own cache directory and its own
playback keys pinned by the environment, so nothing in the shared stack's
Redis configuration changes what it verifies. Videos have fresh UUIDs and a
published prefix of their own; rows and objects are deleted at the end.

The raw client sends exactly the bytes a case names (odd paths, NUL, 100 KiB
headers) on a new connection with `Connection: close` and reads to EOF, so a
server that sends more than it announced (a body on HEAD or 304, bytes past
Content-Length) is caught."""

import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "support"))
from daemon_proc import stop_problem  # noqa: E402  (tests/support)
from private_nginx import PrivateNginx, free_port  # noqa: E402  (tests/support)

ENV = os.environ
TENANT = "local"
BUCKET = ENV.get("MCLOUD_S3_BUCKET", "mcloud")
# The keys the test's daemon verifies with (pinned by the environment).
KEY_ID, SECRET = "st-current", "stream-test-current-secret-0123456789"
OLD_KEY_ID, OLD_SECRET = "st-previous", "stream-test-previous-secret-0123456789"
# A hang guard for one request, not a performance bound (sanitizer builds are slow).
REQUEST_TIMEOUT_S = 60


class Failure(Exception):
    pass


def describe(exc):
    """A Failure's message, or any other exception with its traceback."""
    if isinstance(exc, Failure):
        return str(exc)
    return "".join(traceback.format_exception(exc)).rstrip()


def log(msg):
    print(f"[stream-test] {msg}", flush=True)


class Report:
    """ok/FAIL lines and the closing 'N passed, N failed' line."""

    def __init__(self, name):
        self.name = name
        self.passed = 0
        self.failed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            print(f"ok   - {what}", flush=True)
        else:
            self.failed += 1
            print(f"FAIL - {what}" + (f"\n       {detail}" if detail else ""), flush=True)
        return cond

    def finish(self):
        print(f"{self.name}: {self.passed} passed, {self.failed} failed", flush=True)
        return 0 if self.failed == 0 and self.passed > 0 else 1


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failure(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def need_env(*names):
    for n in names:
        if not ENV.get(n):
            raise Failure(f"{n} is not set: eval \"$(scripts/stack.sh env)\" after scripts/stack.sh up")


# ---- MariaDB -------------------------------------------------------------------


def q(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Db:
    def __init__(self, addr_var="MCLOUD_MYSQL_MASTER"):
        host, port = ENV[addr_var].rsplit(":", 1)
        self.base = ["mariadb", "-h", host, "-P", port, "-u", ENV["MCLOUD_MYSQL_USER"],
                     f"-p{ENV['MCLOUD_MYSQL_PASSWORD']}", "-N", "-B", ENV["MCLOUD_MYSQL_DATABASE"]]

    def exec(self, sql):
        return [line.split("\t") for line in run(self.base + ["-e", sql]).splitlines() if line]


# ---- S3 ------------------------------------------------------------------------


def s3_client():
    return boto3.client(
        "s3", endpoint_url=ENV["MCLOUD_S3_ENDPOINT"], region_name=ENV.get("MCLOUD_S3_REGION", "us-east-1"),
        aws_access_key_id=ENV["MCLOUD_S3_ACCESS_KEY"], aws_secret_access_key=ENV["MCLOUD_S3_SECRET_KEY"],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))


def delete_prefix(s3, prefix):
    token = None
    while True:
        kw = {"Bucket": BUCKET, "Prefix": prefix}
        if token:
            kw["ContinuationToken"] = token
        page = s3.list_objects_v2(**kw)
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=BUCKET, Delete={"Objects": keys, "Quiet": True})
        if not page.get("IsTruncated"):
            return
        token = page["NextContinuationToken"]


# ---- signed playback credentials (common/playback.h) ------------------------------


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def sign_cred(video, scope="", exp=None, tenant=TENANT, kid=KEY_ID, secret=SECRET):
    """<kid>.<exp>.<base64url(HMAC-SHA256(secret, message))>, message as in playback.h."""
    exp = int(time.time()) + 3600 if exp is None else exp
    msg = f"mcloud-playback-v1\n{tenant}\n{video}\n{scope}\n{exp}".encode()
    return f"{kid}.{exp}.{b64url(hmac.new(secret.encode(), msg, hashlib.sha256).digest())}"


# ---- the daemon under test -------------------------------------------------------


class StreamDaemon:
    """build/stream/mcloud-stream on a free port with its own cache dir."""

    def __init__(self, binary, scratch, name="stream", **overrides):
        self.binary = binary
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.cache_dir = os.path.join(scratch, f"{name}-cache")
        self.log_path = os.path.join(scratch, f"{name}.log")
        self.env = {**ENV,
                    "MCLOUD_STREAM_PORT": str(self.port),
                    "MCLOUD_STREAM_CACHE_DIR": self.cache_dir,
                    "MCLOUD_STREAM_PUBLIC_URL": self.url,
                    "MCLOUD_HTTP_BIND": "127.0.0.1",
                    # not in the registry: an edge running beside (make run's,
                    # in make fresh-check) must not send players, whose URLs
                    # this daemon's test keys cannot verify, to it
                    "MCLOUD_REGISTRY_PUBLISH": "false",
                    "MCLOUD_PLAYBACK_KEY_ID": KEY_ID,
                    "MCLOUD_PLAYBACK_SECRET": SECRET,
                    "MCLOUD_PLAYBACK_PREVIOUS_KEY_ID": OLD_KEY_ID,
                    "MCLOUD_PLAYBACK_PREVIOUS_SECRET": OLD_SECRET,
                    "MCLOUD_LOG_LEVEL": "info",
                    **overrides}
        self.logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary], env=self.env, stdout=self.logf, stderr=self.logf)
        self._wait_ready()
        log(f"{name}: pid {self.proc.pid} on {self.url}, cache {self.cache_dir}")

    def _wait_ready(self):
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise Failure(f"{self.name} exited ({self.proc.returncode}) at start:\n{self.text()[-3000:]}")
            try:
                if request(self.url, "GET", "/readyz", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise Failure(f"{self.name} not ready on {self.url}:\n{self.text()[-3000:]}")

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def metrics(self):
        return request(self.url, "GET", "/metrics").body.decode("utf-8", "replace")

    def stop(self):
        """SIGTERM; exit 0 and no sanitizer report on stderr, else Failure."""
        problem = stop_problem(self.proc, self.logf, self.name, self.text)
        if problem:
            raise Failure(problem)


def mcloud_play(mcloud_bin, daemon, video, *extra):
    """`mcloud play VIDEO --json --local` for the test's daemon (its public URL and keys:
    the operator's way, from MySQL, not through mcloud-api)."""
    out = run([mcloud_bin, "play", video, "--json", "--local", *extra], env=daemon.env)
    return json.loads(out)


# ---- synthetic published videos ----------------------------------------------------


class Video:
    """A videos row (+ renditions) and objects under its own published prefix."""

    def __init__(self, harness, status="ready", title="stream test"):
        self.h = harness
        self.id = str(uuid.uuid4())
        self.status = status
        self.title = title
        self.prefix = f"videos/{TENANT}/{self.id}/attempts/st-{harness.run_id}-1/"
        self.objects = {}  # path -> {"etag", "last_modified", "size"}
        harness.videos.append(self)

    def put(self, path, data, content_type="application/octet-stream"):
        r = self.h.s3.put_object(Bucket=BUCKET, Key=self.prefix + path, Body=data, ContentType=content_type)
        head = self.h.s3.head_object(Bucket=BUCKET, Key=self.prefix + path)
        self.objects[path] = {"etag": r["ETag"], "last_modified": head["LastModified"],
                              "size": head["ContentLength"]}
        return self.objects[path]

    def put_file(self, path, local, content_type="application/octet-stream"):
        with open(local, "rb") as f:
            return self.put(path, f.read(), content_type)

    def insert(self, renditions=()):
        """renditions: (name, width, height, bitrate) of kind mp4, object <prefix><name>.mp4."""
        sql = [f"INSERT INTO videos (id, tenant_id, title, status, published_prefix) VALUES "
               f"({q(self.id)}, {q(TENANT)}, {q(self.title)}, {q(self.status)}, {q(self.prefix)});"]
        for name, w, hgt, rate in renditions:
            sql.append(f"INSERT INTO renditions (video_id, name, kind, width, height, bitrate, object_key) "
                       f"VALUES ({q(self.id)}, {q(name)}, 'mp4', {w}, {hgt}, {rate}, "
                       f"{q(self.prefix + name + '.mp4')});")
        self.h.db.exec("".join(sql))
        self.h.wait_replicated(self.id)

    def delete(self):
        self.h.db.exec(f"DELETE FROM renditions WHERE video_id = {q(self.id)};"
                       f"DELETE FROM videos WHERE id = {q(self.id)};")
        delete_prefix(self.h.s3, f"videos/{TENANT}/{self.id}/")


class Harness:
    def __init__(self, name, build_dir):
        need_env("MCLOUD_MYSQL_MASTER", "MCLOUD_MYSQL_REPLICA", "MCLOUD_MYSQL_USER",
                 "MCLOUD_MYSQL_PASSWORD", "MCLOUD_MYSQL_DATABASE", "MCLOUD_S3_ENDPOINT")
        self.stream_bin = os.path.join(build_dir, "stream", "mcloud-stream")
        self.mcloud_bin = os.path.join(build_dir, "cli", "mcloud")
        for b in (self.stream_bin, self.mcloud_bin):
            if not os.access(b, os.X_OK):
                raise Failure(f"{b} is not built")
        self.run_id = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.scratch = tempfile.mkdtemp(prefix=f"mcloud-{name}-")
        self.db = Db()
        self.replica = Db("MCLOUD_MYSQL_REPLICA")
        self.s3 = s3_client()
        self.videos = []
        self.daemons = []
        self.nginxes = []
        self.bulky = []  # scratch directories of object bytes, removed even after a failure

    def daemon(self, name="stream", **overrides):
        d = StreamDaemon(self.stream_bin, self.scratch, name, **overrides)
        self.daemons.append(d)
        return d

    def nginx(self, root, name="nginx"):
        ng = PrivateNginx(root, os.path.join(self.scratch, name)).start()
        self.nginxes.append(ng)
        return ng

    def wait_replicated(self, video, status=None):
        """The row on the replica too, with that status when given (the daemon
        may read there)."""
        cond = f" AND status = {q(status)}" if status else ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.replica.exec(f"SELECT 1 FROM videos WHERE id = {q(video)}{cond}"):
                return
            time.sleep(0.1)
        raise Failure(f"video {video} not on the replica{' as ' + status if status else ''} after 30 s")

    def close(self, ok):
        """Stops daemons (their exit and stderr are checked) and nginx, deletes rows and objects."""
        errors = []
        for d in self.daemons:
            try:
                d.stop()
            except Failure as e:
                errors.append(str(e))
        for ng in self.nginxes:
            ng.stop()
        for path in [d.cache_dir for d in self.daemons] + self.bulky:
            shutil.rmtree(path, ignore_errors=True)  # logs stay for a failure; object bytes never do
        for v in self.videos:
            try:
                v.delete()
            except Exception as e:  # cleanup goes on; the error is reported
                errors.append(f"cleanup of {v.id}: {e}")
        if ok and not errors and not ENV.get("MCLOUD_TEST_KEEP"):
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            log(f"logs kept in {self.scratch}")
        return errors


def main(report_name, scratch_name, body, what):
    """The life of one test: BUILD_DIR from the command line, a harness,
    body(harness, report) with any exception reported as a failure (what
    names the checks), the harness closed (its stop and cleanup problems
    reported too); returns the exit status."""
    ap = argparse.ArgumentParser()
    ap.add_argument("build_dir")
    args = ap.parse_args()
    rep = Report(report_name)
    h = Harness(scratch_name, args.build_dir)
    ok = False
    try:
        body(h, rep)
        ok = rep.failed == 0
    except Exception as e:  # reported as a failure, the cleanup still runs
        rep.check(False, f"{what} ran", describe(e))
    finally:
        for err in h.close(ok):
            rep.check(False, "clean stop and cleanup", err)
    return rep.finish()


# ---- raw HTTP/1.1 ----------------------------------------------------------------


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers  # [(name, value)] in order
        self.body = body
        self.raw_head = raw_head

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return f"<{self.status} {dict(self.headers)} body {len(self.body)} bytes>"


def _dechunk(data):
    out, pos = bytearray(), 0
    while True:
        eol = data.index(b"\r\n", pos)
        size = int(data[pos:eol].split(b";")[0], 16)
        pos = eol + 2
        if size == 0:
            return bytes(out)
        out += data[pos:pos + size]
        pos += size + 2


def request(base, method, target, headers=(), body=b"", raw=None, timeout=REQUEST_TIMEOUT_S):
    """One request on a new connection (Connection: close), read to EOF.
    raw: the exact request bytes instead of method/target/headers."""
    u = urlsplit(base)
    if raw is None:
        lines = [f"{method} {target} HTTP/1.1", f"Host: {u.netloc}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if body:
            lines.append(f"Content-Length: {len(body)}")
        lines.append("Connection: close")
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
    with socket.create_connection((u.hostname, u.port), timeout=timeout) as s:
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (e.g. 431) and close before reading everything
        chunks = []
        while True:
            try:
                d = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not d:
                break
            chunks.append(d)
    data = b"".join(chunks)
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        raise OSError(f"no complete response head ({len(data)} bytes): {data[:200]!r}")
    head, rest = data[:head_end].decode("latin-1"), data[head_end + 4:]
    status_line, *hlines = head.split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ?(.*)", status_line)
    if not m:
        raise OSError(f"bad status line {status_line!r}")
    hdrs = []
    for line in hlines:
        k, _, v = line.partition(":")
        hdrs.append((k.strip(), v.strip()))
    resp = Response(int(m.group(1)), m.group(2), hdrs, rest, head)
    if (resp.header("Transfer-Encoding") or "").lower() == "chunked":
        resp.body = _dechunk(rest)
    return resp


def parse_multipart(resp):
    """[(headers lowercased dict, body)] of a multipart/byteranges answer; raises ValueError."""
    ctype = resp.header("Content-Type") or ""
    m = re.match(r'multipart/byteranges;\s*boundary="?([^";]+)"?', ctype, re.I)
    if not m:
        raise ValueError(f"not multipart/byteranges: {ctype!r}")
    delim = b"--" + m.group(1).encode()
    body = resp.body
    start = body.find(delim)
    if start < 0:
        raise ValueError("no boundary in the body")
    parts, pos = [], start
    while True:
        pos += len(delim)
        if body[pos:pos + 2] == b"--":
            return parts
        if body[pos:pos + 2] != b"\r\n":
            raise ValueError(f"boundary not followed by CRLF at {pos}")
        pos += 2
        head_end = body.index(b"\r\n\r\n", pos)
        hdrs = {}
        for line in body[pos:head_end].decode("latin-1").split("\r\n"):
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        data_start = head_end + 4
        nxt = body.find(b"\r\n" + delim, data_start)
        if nxt < 0:
            raise ValueError("part not closed by a boundary")
        parts.append((hdrs, body[data_start:nxt]))
        pos = nxt + 2


def json_error(resp):
    """The {"error":{"status","message"}} body, or None."""
    try:
        doc = json.loads(resp.body)
        err = doc["error"]
        if isinstance(err.get("status"), int) and isinstance(err.get("message"), str):
            return err
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None
