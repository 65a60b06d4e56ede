"""edge_test.py — mcloud-edge and the real nginx in front of real mcloud-stream
and mcloud-upload daemons of the build tree (plain processes on free ports,
registered in a private Redis of this test so only its own instances are
behind the edge; MySQL, S3 and Kafka are the stack's).

Checks, in order:
  upstreams  both stream instances and the upload instance reach the
             upstreams; nothing changes -> no reload; a service without a
             ready instance answers 503 naming it; an instance a node
             heartbeat reports ready joins (and a not-ready one does not),
             and leaves when the heartbeat is gone.
  ports      the spec's public port of stream (what the active
             orchestrator keeps at <prefix>:orch:public_ports): the edge
             serves stream there and no longer on its configured port;
             the key gone, back on the configured port.
  range      a Range GET and HEAD through the edge: status, Content-Range,
             ETag and bytes as the instance itself answers them.
  tus        create (POST), PATCH half, HEAD resume, PATCH the rest through
             the edge's HTTP port; Location points at the edge (HTTP and
             HTTPS), Upload-Offset passes untouched.
  retries    a dying instance (it resets connections) joins the upload
             upstream: a HEAD it did not answer is passed to the other
             instance; a POST and a PATCH it reset get 502 and are never
             sent elsewhere; HEAD then gives the offset to resume from.
  https      a range through the HTTPS port with `curl --cacert <ca.pem>`
             (the self-signed CA mcloud-edge made); without it curl refuses;
             a second edge given an operator's certificate serves it and
             makes none of its own.
  readyz     one stream instance's Redis cut (a TCP proxy the test holds):
             its /readyz fails, it leaves the upstreams, is not restarted
             (same pid), and comes back when its Redis does.
  adopt      mcloud-edge SIGKILLed: nginx serves on; restarted, it adopts
             the running nginx (same master, no reload).
  stop/kill  a GET load through the edge while one of two stream instances
             stops with SIGTERM: no failed GET; then while one is SIGKILLed:
             no failed GET (a response already cut mid-body by the kill is
             resumed with Range, as a player does, and counted), and nginx
             did send a GET to the dead instance and passed it on.
  redis      Redis stopped: the edge keeps its upstreams and serves.
Everything started here (Redis, daemons, mcloud-edge, nginx, proxies) is
stopped at the end, also on failure; nginx must be gone once mcloud-edge
stopped."""

import http.client
import json
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
import ctypes
from urllib.parse import urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "stream"))
import streamtest as st  # noqa: E402  (the stream tests' harness: daemons, videos, raw client)
import daemon_proc  # noqa: E402  (tests/support, on the path through streamtest)

ENV = os.environ
# The harness keeps its stream daemons out of the registry (another edge may
# watch the shared Redis); here they talk to this test's private Redis and
# the edge under test must find them there.
PUBLISH = {"MCLOUD_REGISTRY_PUBLISH": "true"}
WAIT_S = 60  # hang guard, never a performance bound
SIZE = 256 * 1024


def die_with_test():
    """preexec_fn: SIGTERM the child when this test process dies (a ctest
    timeout kills only the test): mcloud-edge then stops its nginx."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def log(msg):
    print(f"[edge-test] {msg}", flush=True)


def wait_for(what, pred, limit=WAIT_S):
    return daemon_proc.wait_for(what, pred, limit, st.Failure, (http.client.HTTPException,))


class RedisServer:
    """A private redis-server (real, no persistence) on a free port; stop()
    then start() brings it back, empty, on the same port."""

    def __init__(self, scratch):
        self.port = st.free_port()
        self.dir = os.path.join(scratch, "redis")
        os.makedirs(self.dir)
        self.addr = f"127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.logf = open(os.path.join(self.dir, "redis.log"), "a")
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", self.dir],
                                     stdout=self.logf, stderr=subprocess.STDOUT, preexec_fn=die_with_test)

        def pong():
            if self.proc.poll() is not None:
                raise st.Failure(f"redis-server on port {self.port} exited {self.proc.returncode} (see {self.dir}/redis.log)")
            return subprocess.run(["redis-cli", "-p", str(self.port), "ping"],
                                  capture_output=True, text=True).stdout.strip() == "PONG"
        wait_for("the private Redis", pong)

    def stop(self):
        daemon_proc.terminate(self.proc)
        if not self.logf.closed:
            self.logf.close()


class TcpProxy:
    """127.0.0.1:port -> target, with cut() (listener and connections
    closed: connects are refused) and restore()."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = st.free_port()
        self.lock = threading.Lock()
        self.conns = []
        self.listener = None
        self.restore()

    def restore(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        with self.lock:
            self.listener = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, listener):
        while True:
            try:
                c, _ = listener.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                if listener is not self.listener:  # cut meanwhile: this one goes too
                    c.close()
                    u.close()
                    continue
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        try:  # wakes the thread blocked in accept(), which otherwise keeps the socket listening
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        with self.lock:
            self.listener.close()
            self.listener = None
            conns, self.conns = self.conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def close(self):
        if self.listener is not None:
            self.cut()


class Child:
    """A daemon of the build tree started here: its log, a liveness check
    that fails with the log's tail, a graceful stop (daemon_proc)."""

    def __init__(self, name, binary, env, log_path):
        self.name, self.binary, self.env, self.log_path = name, binary, env, log_path
        self.logf = open(log_path, "wb")
        self.spawn()

    def spawn(self):
        self.proc = subprocess.Popen([self.binary], env=self.env, stdout=self.logf, stderr=self.logf,
                                     preexec_fn=die_with_test)

    def alive(self):
        if self.proc.poll() is not None:
            raise st.Failure(f"{self.name} exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
        return True

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        return daemon_proc.stop_problem(self.proc, self.logf, self.name, self.text)


class UploadDaemon(Child):
    def __init__(self, binary, scratch, redis):
        self.port = st.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__("mcloud-upload", binary,
                         {**ENV, "MCLOUD_REDIS": redis, "MCLOUD_UPLOAD_PORT": str(self.port),
                          "MCLOUD_UPLOAD_PUBLIC_URL": self.url, "MCLOUD_HTTP_BIND": "127.0.0.1"},
                         os.path.join(scratch, "upload.log"))
        wait_for("mcloud-upload ready", lambda: self.alive() and st.request(self.url, "GET", "/readyz").status == 200,
                 120)


class Edge(Child):
    def __init__(self, binary, scratch, redis, name="edge", **settings):
        self.port = st.free_port()
        self.dir = os.path.join(scratch, name)
        self.ports = {name: st.free_port() for name in
                      ("upload", "stream", "api", "upload_https", "stream_https", "api_https")}
        env = {**ENV, "MCLOUD_REDIS": redis, "MCLOUD_EDGE_PORT": str(self.port), "MCLOUD_EDGE_DIR": self.dir,
               "MCLOUD_EDGE_INTERVAL_MS": "500", "MCLOUD_LOG_LEVEL": "info",
               # a loaded CI machine must not time a probe of the healthy instance out
               "MCLOUD_EDGE_PROBE_TIMEOUT_MS": "3000",
               "MCLOUD_ORCHESTRATOR_KEY_PREFIX": f"edgetest{os.getpid()}", **settings}
        for name, port in self.ports.items():
            env[f"MCLOUD_EDGE_{name.upper()}_PORT"] = str(port)
        super().__init__(f"mcloud-{name}", binary, env, os.path.join(scratch, f"{name}.log"))
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait_ready()
        self.ca = os.path.join(self.dir, "tls", "ca.pem")

    def wait_ready(self):
        wait_for("mcloud-edge ready (nginx running)", lambda: self.alive() and
                 st.request(self.url, "GET", "/readyz").status == 200)

    def crash(self):
        self.proc.kill()
        self.proc.wait()

    def public(self, service, https=False):
        return f"{'https' if https else 'http'}://127.0.0.1:{self.ports[service + ('_https' if https else '')]}"

    def upstreams(self):
        self.alive()
        return json.loads(st.request(self.url, "GET", "/v1/upstreams").body)

    def backends(self, service):
        return set(self.upstreams()["services"][service]["backends"])

    def nginx_pid(self):
        try:
            with open(os.path.join(self.dir, "nginx.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def nginx_log(self, name):
        with open(os.path.join(self.dir, name), errors="replace") as f:
            return f.read()

    def stop(self):
        """SIGTERM; mcloud-edge must exit 0 and take nginx with it."""
        pid = self.nginx_pid()
        problem = super().stop()
        if pid and os.path.exists(f"/proc/{pid}"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            problem = (problem or "") + f"\nnginx (pid {pid}) still ran after mcloud-edge stopped"
        return problem


class ResetPeer:
    """A dying instance: answers /readyz (so the edge puts it in the
    upstreams) and resets every other connection before answering."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                c.settimeout(10)
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    d = c.recv(4096)
                    if not d:
                        break
                    head += d
                if head.split(b" ", 2)[1:2] == [b"/readyz"]:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                else:
                    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST
            except OSError:
                pass
            c.close()

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def hostport(url):
    return urlsplit(url).netloc


def tus(base, method, path, headers, body=b"", cafile=None):
    u = urlsplit(base)
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=60,
                                           context=ssl.create_default_context(cafile=cafile))
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        conn.request(method, path, body=body, headers={"Tus-Resumable": "1.0.0", **headers})
        r = conn.getresponse()
        r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()


def body(h, rep):
    for tool in ("redis-server", "redis-cli", "curl", "openssl"):
        if not any(os.access(os.path.join(d, tool), os.X_OK) for d in os.environ["PATH"].split(":") + ["/usr/sbin"]):
            raise st.Failure(f"{tool} is not installed: run scripts/bootstrap.sh")
    build = os.path.dirname(os.path.dirname(h.stream_bin))
    edge_bin = os.path.join(build, "edge", "mcloud-edge")
    upload_bin = os.path.join(build, "upload", "mcloud-upload")
    token_bin = os.path.join(build, "upload", "mcloud-token")
    for b in (edge_bin, upload_bin, token_bin):
        if not os.access(b, os.X_OK):
            raise st.Failure(f"{b} is not built")

    redis = RedisServer(h.scratch)
    h.late_stops.append(("redis-server", lambda: redis.stop() or None))
    proxy = TcpProxy(redis.port)  # the second stream instance's way to Redis
    h.late_stops.insert(0, ("redis proxy", lambda: proxy.close() or None))

    video = st.Video(h, title="edge test")
    data = os.urandom(SIZE)
    video.put("720p.mp4", data, "video/mp4")
    video.insert([("720p", 1280, 720, 1_000_000)])
    target = f"/v/{video.id}/{st.sign_cred(video.id)}/720p.mp4"

    s1 = h.daemon("stream-1", MCLOUD_REDIS=redis.addr, **PUBLISH)
    s2 = h.daemon("stream-2", MCLOUD_REDIS=f"127.0.0.1:{proxy.port}", MCLOUD_REGISTRY_TTL_MS="120000", **PUBLISH)
    up = UploadDaemon(upload_bin, h.scratch, redis.addr)
    h.extra_stops.append(("mcloud-upload", up.stop))
    edge = Edge(edge_bin, h.scratch, redis.addr)
    h.extra_stops.insert(0, ("mcloud-edge", edge.stop))  # first: nginx goes with it

    # ---- upstreams ----
    both = {hostport(s1.url), hostport(s2.url)}
    wait_for("both stream instances in the edge", lambda: edge.backends("stream") == both)
    wait_for("the upload instance in the edge", lambda: edge.backends("upload") == {hostport(up.url)})
    rep.check(edge.backends("api") == set(), "no api instance: the api upstream is empty")
    before = edge.upstreams()["reloads"]
    master = edge.nginx_pid()
    time.sleep(2.0)  # four rounds with nothing changed
    rep.check(edge.upstreams()["reloads"] == before and edge.nginx_pid() == master,
              "nothing changed -> no reload, the same nginx master",
              f"reloads {before} -> {edge.upstreams()['reloads']}, master {master} -> {edge.nginx_pid()}")
    r = st.request(edge.public("api"), "GET", "/v1/videos")
    rep.check(r.status == 503 and b"no ready instance of mcloud-api" in r.body,
              "a service without a ready instance: 503 naming it", f"{r.status} {r.body[:200]!r}")
    heartbeat_backends(rep, edge, redis, s1)
    spec_ports(rep, edge, redis, target)

    # ---- range ----
    rng = [("Range", "bytes=1000-5095")]
    direct = st.request(s1.url, "GET", target, rng)
    via = st.request(edge.public("stream"), "GET", target, rng)
    rep.check(via.status == 206 and via.body == data[1000:5096], "Range through the edge: 206 with the right bytes",
              f"{via.status} {len(via.body)} bytes")
    same = all(via.header(k) == direct.header(k) for k in ("Content-Range", "ETag", "Accept-Ranges", "Content-Type",
                                                            "Last-Modified", "Content-Length"))
    rep.check(same, "Range through the edge: headers as the instance sends them",
              f"edge {via.headers}\n       direct {direct.headers}")
    head = st.request(edge.public("stream"), "HEAD", target)
    rep.check(head.status == 200 and head.header("Content-Length") == str(SIZE) and head.body == b"",
              "HEAD through the edge", f"{head.status} {head.headers}")
    multi = st.request(edge.public("stream"), "GET", target, [("Range", "bytes=0-9,100-109")])
    rep.check(multi.status == 206 and multi.header("Content-Type", ).startswith("multipart/byteranges"),
              "a multi-range request passes untouched", f"{multi.status} {multi.header('Content-Type')}")

    # ---- tus ----
    token = st.run([token_bin, "--tenant", st.TENANT], env={**ENV, "MCLOUD_REDIS": redis.addr}).strip()
    auth = {"Authorization": f"Bearer {token}"}
    payload = os.urandom(300_000)
    base = edge.public("upload")
    status, hdr = tus(base, "POST", "/files/", {**auth, "Upload-Length": str(len(payload)),
                                                 "Upload-Metadata": "filename ZWRnZS5iaW4="})
    loc = hdr.get("location", "")
    rep.check(status == 201 and loc.startswith(base + "/files/"), "tus create through the edge: Location points at the edge",
              f"{status} Location {loc!r} (edge {base})")
    path = urlsplit(loc).path
    half = len(payload) // 2
    status, hdr = tus(base, "PATCH", path, {**auth, "Content-Type": "application/offset+octet-stream",
                                            "Upload-Offset": "0"}, payload[:half])
    rep.check(status == 204 and hdr.get("upload-offset") == str(half), "tus PATCH of half through the edge",
              f"{status} {hdr}")
    status, hdr = tus(base, "HEAD", path, auth)
    rep.check(status == 200 and hdr.get("upload-offset") == str(half) and hdr.get("upload-length") == str(len(payload)),
              "tus HEAD through the edge: the offset to resume from", f"{status} {hdr}")
    status, hdr = tus(base, "PATCH", path, {**auth, "Content-Type": "application/offset+octet-stream",
                                            "Upload-Offset": str(half)}, payload[half:])
    rep.check(status == 204 and hdr.get("upload-offset") == str(len(payload)), "tus resumed PATCH completes the upload",
              f"{status} {hdr}")
    sbase = edge.public("upload", https=True)
    status, hdr = tus(sbase, "POST", "/files/", {**auth, "Upload-Length": "10"}, cafile=edge.ca)
    rep.check(status == 201 and hdr.get("location", "").startswith(sbase + "/files/"),
              "tus create over HTTPS: Location points at the edge's HTTPS port", f"{status} {hdr.get('location')!r}")

    # ---- retries: GET/HEAD passed on, POST/PATCH never ----
    peer = ResetPeer()
    h.late_stops.insert(0, ("reset peer", lambda: peer.close() or None))
    fake = f"127.0.0.1:{peer.port}"
    redis_cli = ["redis-cli", "-p", str(redis.port)]
    st.run(redis_cli + ["SET", "mcloud:svc:upload:dying-1", f"http://{fake}", "PX", "300000"])
    wait_for("the dying instance in the upload upstream", lambda: edge.backends("upload") == {hostport(up.url), fake})
    heads = []
    for _ in range(40):  # round robin: a HEAD soon lands on the dying one first
        heads.append(tus(base, "HEAD", path, auth)[0])
        if any(f"HEAD {path} " in ln and f"upstream={fake}, " in ln for ln in edge.nginx_log("access.log").splitlines()):
            break
        time.sleep(0.3)
    access = edge.nginx_log("access.log").splitlines()
    rep.check(any(f"HEAD {path} " in ln and f"upstream={fake}, {hostport(up.url)}" in ln for ln in access)
              and set(heads) == {200}, "a HEAD the dying instance did not answer is passed to the other one",
              f"statuses {heads}")
    posts = []
    for _ in range(40):
        status, hdr = tus(base, "POST", "/files/", {**auth, "Upload-Length": "10"})
        posts.append(status)
        if status == 502:
            break
        time.sleep(0.3)
    access = edge.nginx_log("access.log").splitlines()
    post_lines = [ln for ln in access if '"POST /files/ ' in ln]
    rep.check(502 in posts and not any("upstream=" in ln and ", " in ln.split("upstream=", 1)[1] for ln in post_lines),
              "a POST the dying instance reset is answered 502, never sent to another instance",
              f"statuses {posts}; " + " | ".join(post_lines[-3:]))
    # made on the instance itself (through the edge the POST could meet the dying one)
    status, hdr = tus(up.url, "POST", "/files/", {**auth, "Upload-Length": "20"})
    if status != 201:
        raise st.Failure(f"creating an upload on mcloud-upload: {status} {hdr}")
    lpath = urlsplit(hdr.get("location", "")).path
    patches, offset = [], 0
    for _ in range(40):
        status, hdr = tus(base, "PATCH", lpath, {**auth, "Content-Type": "application/offset+octet-stream",
                                                 "Upload-Offset": str(offset)}, b"x")
        patches.append(status)
        if status == 204:
            offset += 1
        if status == 502 or offset == 20:
            break
        time.sleep(0.3)
    access = edge.nginx_log("access.log").splitlines()
    patch_lines = [ln for ln in access if f'"PATCH {lpath} ' in ln]
    status, hdr = tus(base, "HEAD", lpath, auth)
    rep.check(502 in patches and not any(", " in ln.split("upstream=", 1)[1] for ln in patch_lines)
              and hdr.get("upload-offset") == str(offset),
              "a PATCH the dying instance reset is answered 502, never replayed elsewhere; HEAD gives the offset to "
              "resume from", f"statuses {patches}, offset {offset}, HEAD {status} {hdr.get('upload-offset')}")
    st.run(redis_cli + ["DEL", "mcloud:svc:upload:dying-1"])
    wait_for("the dying instance out of the edge", lambda: edge.backends("upload") == {hostport(up.url)})

    # ---- https ----
    out = os.path.join(h.scratch, "https-range.bin")
    url = edge.public("stream", https=True) + target
    r = subprocess.run(["curl", "-sS", "--cacert", edge.ca, "-H", "Range: bytes=2000-2999", "-o", out,
                        "-w", "%{http_code}", url], capture_output=True, text=True, timeout=60)
    with open(out, "rb") as f:
        got = f.read()
    rep.check(r.returncode == 0 and r.stdout == "206" and got == data[2000:3000],
              "HTTPS through the edge with curl --cacert <the generated CA>: the range",
              f"curl exit {r.returncode} status {r.stdout} {r.stderr.strip()}")
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", url], capture_output=True, text=True, timeout=60)
    rep.check(r.returncode == 60, "without the CA curl refuses the certificate (it is really verified)",
              f"curl exit {r.returncode} {r.stderr.strip()}")
    # the operator's certificate (here: the one the first edge made, as if an operator had it) is used as is
    edge2 = Edge(edge_bin, h.scratch, redis.addr, "edge2", MCLOUD_EDGE_TLS_CERT=os.path.join(edge.dir, "tls", "cert.pem"),
                 MCLOUD_EDGE_TLS_KEY=os.path.join(edge.dir, "tls", "key.pem"))
    try:
        wait_for("stream instances in the second edge", lambda: edge2.backends("stream") == both)
        r = subprocess.run(["curl", "-sS", "--cacert", edge.ca, "-H", "Range: bytes=2000-2999", "-o", out,
                            "-w", "%{http_code}", edge2.public("stream", https=True) + target],
                           capture_output=True, text=True, timeout=60)
        with open(out, "rb") as f:
            got = f.read()
        rep.check(r.returncode == 0 and r.stdout == "206" and got == data[2000:3000]
                  and not os.path.exists(os.path.join(edge2.dir, "tls")) and edge2.upstreams()["ca"] == "",
                  "with the operator's certificate configured the edge serves it and makes none of its own",
                  f"curl exit {r.returncode} status {r.stdout} {r.stderr.strip()}")
    finally:
        problem = edge2.stop()
    if problem:
        raise st.Failure(problem)

    # ---- readyz ----
    s2_pid = s2.proc.pid
    proxy.cut()
    wait_for("stream-2's /readyz to fail", lambda: st.request(s2.url, "GET", "/readyz", timeout=10).status == 503)
    wait_for("stream-2 out of the edge", lambda: edge.backends("stream") == {hostport(s1.url)})
    rs = [st.request(edge.public("stream"), "GET", target, rng) for _ in range(20)]
    rep.check(all(x.status == 206 and x.body == data[1000:5096] for x in rs),
              "stream-2 not ready: out of the upstreams, GETs answered by stream-1",
              str([x.status for x in rs]))
    rep.check(s2.alive() and s2.proc.pid == s2_pid and st.request(s2.url, "GET", "/healthz").status == 200,
              "a failing /readyz never restarts the instance (same process, still healthy)")
    proxy.restore()
    wait_for("stream-2 back in the edge once its Redis is back", lambda: edge.backends("stream") == both)
    rep.check(True, "stream-2 back in the upstreams when ready again")

    # ---- mcloud-edge crashes: nginx serves on, a restarted one adopts it ----
    master = edge.nginx_pid()
    edge.crash()
    r = st.request(edge.public("stream"), "GET", target, rng)
    rep.check(r.status == 206 and r.body == data[1000:5096] and edge.nginx_pid() == master,
              "mcloud-edge SIGKILLed: nginx keeps serving", f"{r.status}")
    edge.spawn()
    wait_for("the restarted mcloud-edge answering", lambda: edge.alive() and edge.upstreams())
    time.sleep(1.5)  # rounds of the new one
    rep.check(edge.nginx_pid() == master and edge.backends("stream") == both and edge.upstreams()["reloads"] == 0
              and "adopting the running nginx" in edge.text(),
              "a restarted mcloud-edge adopts the running nginx (same master, no reload for the same upstreams)",
              f"master {master} -> {edge.nginx_pid()}, {edge.backends('stream')}")

    # ---- stop and kill under load ----
    def under_load(victim, how):
        """Four GET loops through the edge while victim stops (how: SIGTERM,
        graceful, or SIGKILL). A response cut mid-body by a SIGKILL (headers
        already on their way: no proxy can finish it) is resumed with a Range
        request, as players do, and counted; any other failure is a failure."""
        stop, gone = threading.Event(), threading.Event()
        res = {"ok": 0, "after": 0, "resumed": 0, "failed": []}
        lock = threading.Lock()

        def one():
            x = st.request(edge.public("stream"), "GET", target, [("Range", "bytes=0-4095")], timeout=30)
            if x.status == 206 and x.body == data[:4096]:
                return "ok", None
            got = len(x.body)
            if how == signal.SIGKILL and x.status == 206 and got < 4096 and x.body == data[:got]:
                y = st.request(edge.public("stream"), "GET", target, [("Range", f"bytes={got}-4095")], timeout=30)
                if y.status == 206 and x.body + y.body == data[:4096]:
                    return "resumed", None
            return "failed", f"{x.status} {got} bytes"

        def load():
            while not stop.is_set():
                try:
                    kind, err = one()
                except OSError as e:
                    kind, err = "failed", repr(e)
                with lock:
                    if kind == "failed":
                        res["failed"].append(err)
                    else:
                        res["ok"] += 1
                        res["after"] += gone.is_set()
                        res["resumed"] += kind == "resumed"

        threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
        for t in threads:
            t.start()
        try:
            wait_for("GET load running", lambda: res["ok"] >= 100)
            h.daemons.remove(victim)  # stopped here: the harness does not stop it again
            if how == signal.SIGTERM:
                victim.stop()  # exit 0 and no sanitizer report, else Failure
            else:
                victim.proc.send_signal(signal.SIGKILL)
                victim.proc.wait()
                victim.logf.close()
            gone.set()
            log(f"{victim.name} (pid {victim.proc.pid}) stopped with {signal.Signals(how).name} under load")
            wait_for(f"{victim.name} out of the edge", lambda: edge.backends("stream") == {hostport(s1.url)})
            wait_for("GETs after the stop", lambda: res["after"] >= 200)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=60)
        return res

    res = under_load(s2, signal.SIGTERM)
    rep.check(not res["failed"] and res["resumed"] == 0,
              f"SIGTERM of one of two stream instances under GET load: no failed GET ({res['ok']} answered, "
              f"{res['after']} after the stop)", str(res["failed"][:5]))
    s3 = h.daemon("stream-3", MCLOUD_REDIS=redis.addr, **PUBLISH)
    wait_for("stream-3 in the edge", lambda: edge.backends("stream") == {hostport(s1.url), hostport(s3.url)})
    res = under_load(s3, signal.SIGKILL)
    rep.check(not res["failed"], f"SIGKILL of one of two stream instances under GET load: no failed GET "
              f"({res['ok']} answered, {res['after']} after the kill, {res['resumed']} cut mid-body and resumed "
              f"with Range)", str(res["failed"][:5]))
    dead = hostport(s3.url)
    errors = edge.nginx_log("error.log")
    access = edge.nginx_log("access.log")
    retried = [ln for ln in access.splitlines() if f"upstream={dead}, " in ln and "upstream_status=502, 206" in ln]
    refused = f'upstream: "http://{dead}' in errors
    rep.check(bool(retried) or refused, "precondition: GETs did reach the dead instance and were passed to the other",
              f"{len(retried)} retried lines in access.log; error.log names it: {refused}")

    # ---- Redis down: the edge keeps what it has ----
    redis.stop()
    time.sleep(2.0)  # four rounds without a registry
    r = st.request(edge.public("stream"), "GET", target, rng)
    rep.check(r.status == 206 and r.body == data[1000:5096] and edge.backends("stream") == {hostport(s1.url)}
              and "cannot read the registry" in edge.text(),
              "Redis down: the edge keeps its upstreams and serves", f"{r.status} {edge.backends('stream')}")


def heartbeat_backends(rep, edge, redis, s1):
    """A node heartbeat (the agent contract) offering an api instance at
    stream-1's port (its /readyz answers 200) and a not-ready one: the
    ready one joins the api upstream, then leaves with the heartbeat."""
    port = urlsplit(s1.url).port
    inst = {"service": "api", "state": "running", "healthy": True, "spec_version": 1}
    beat = {"v": 1, "node": "edge-node", "agent_url": "http://127.0.0.1:1", "labels": {},
            "capacity": {"cpus": 2, "memory_bytes": 1000000000, "pids": 1000},
            "free": {"cpus": 1, "memory_bytes": 500000000}, "fence": 1,
            "instances": [{**inst, "name": "api-0", "index": 0, "ready": True, "port": port},
                          {**inst, "name": "api-1", "index": 1, "ready": False, "port": 1}]}
    key = f"{edge.env['MCLOUD_ORCHESTRATOR_KEY_PREFIX']}:node:edge-node"
    cli = ["redis-cli", "-p", str(redis.port)]
    subprocess.run(cli + ["SET", key, json.dumps(beat)], check=True, capture_output=True)
    wait_for("the heartbeat's ready api instance in the edge", lambda: edge.backends("api") == {f"127.0.0.1:{port}"})
    rep.check(True, "a node heartbeat's ready instance joins the upstream")
    subprocess.run(cli + ["DEL", key], check=True, capture_output=True)
    wait_for("the api upstream empty again once the heartbeat is gone", lambda: edge.backends("api") == set())
    rep.check(True, "the heartbeat gone: its instance leaves the upstream")


def spec_ports(rep, edge, redis, target):
    """The public ports the orchestrator publishes from the spec: stream
    moves to the spec's port, then back to the configured one."""
    port = st.free_port()
    key = f"{edge.env['MCLOUD_ORCHESTRATOR_KEY_PREFIX']}:orch:public_ports"
    cli = ["redis-cli", "-p", str(redis.port)]
    configured = edge.ports["stream"]

    def serves(p):
        try:
            return st.request(f"http://127.0.0.1:{p}", "GET", target, [("Range", "bytes=0-99")]).status == 206
        except OSError:
            return False

    subprocess.run(cli + ["SET", key, json.dumps({"v": 1, "ports": {"stream": port}})], check=True, capture_output=True)
    try:
        wait_for(f"the edge serving stream on the spec's port {port}", lambda: edge.upstreams()["services"]["stream"][
            "http_port"] == port and serves(port))
        wait_for(f"the configured port {configured} closed", lambda: not serves(configured))
        rep.check(True, f"stream served on the spec's port {port}, no longer on the configured {configured}")
    finally:
        subprocess.run(cli + ["DEL", key], check=True, capture_output=True)
    wait_for(f"stream back on the configured port {configured}", lambda: edge.upstreams()["services"]["stream"][
        "http_port"] == configured and serves(configured))
    wait_for(f"the spec's port {port} closed", lambda: not serves(port))
    rep.check(True, "the spec's port gone: stream back on the edge's configured port")


def main():
    orig_init, orig_close = st.Harness.__init__, st.Harness.close

    def init(self, name, build_dir):
        orig_init(self, name, build_dir)
        self.extra_stops = []  # before the stream daemons stop: mcloud-edge (and nginx), mcloud-upload
        self.late_stops = []   # after them: the proxy and the private Redis they use

    def run_stops(stops):
        errors = []
        for name, fn in stops:
            try:
                problem = fn()
            except Exception as e:  # cleanup goes on
                problem = f"{name}: {e}"
            if problem:
                errors.append(problem)
        return errors

    def close(self, ok):
        errors = run_stops(self.extra_stops)
        errors += orig_close(self, ok and not errors)
        return errors + run_stops(self.late_stops)

    st.Harness.__init__, st.Harness.close = init, close
    return st.main("edge", "edge", body, "the edge test")


if __name__ == "__main__":
    sys.exit(main())
