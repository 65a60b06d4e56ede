"""orch_test.py — mcloud-orchestrator against the stack's real Redis and
MariaDB. Each run has its own database, lock name and Redis key prefix, so
it runs beside anything else; it stops every daemon it started and drops
what it made, also when it fails.

Scenarios:
  leader  two orchestrators: one active, one standby; SIGKILL of the active
          -> the standby takes over with a higher fencing token; a graceful
          stop hands over at once; SIGSTOP of the active -> the standby takes
          over, and after SIGCONT the old one finds its lock gone and stands
          by (its token is lower than the one agents have now seen).
  api     the operator API: no or a bad token -> 401, a token without the
          right -> 403, malformed bodies -> 400, an oversized spec -> 413,
          all as application/problem+json {type,title,status,detail,code}.
  specs   the spec's public ports published for the edge
          (<prefix>:orch:public_ports); `mcloud deploy` of broken specs: each
          refused with a message naming the field and line, nothing applied (the MySQL history and the
          served spec unchanged); then deploy, scale, a new image and
          `mcloud rollout undo`, the history listing each with who and why; a
          change made through the standby reaches the active one.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
import daemon_proc  # noqa: E402
from daemon_proc import stop_problem  # noqa: E402

ENV = dict(os.environ)
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# Hang guards only, never performance bounds.
WAIT_S = 60


class Failure(Exception):
    pass


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise Failure(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, pred, limit=WAIT_S):
    return daemon_proc.wait_for(what, pred, limit, Failure, (Failure,))


def mariadb(sql, database=None):
    """Rows of sql run by the stack's mcloud user on the master."""
    host, port = ENV["MCLOUD_MYSQL_MASTER"].rsplit(":", 1)
    out = run(["mariadb", "-h", host, "-P", port, "-u", ENV["MCLOUD_MYSQL_USER"], f"-p{ENV['MCLOUD_MYSQL_PASSWORD']}",
               "-N", "-B", *([database] if database else []), "-e", sql])
    return [line.split("\t") for line in out.splitlines() if line]


def redis(*args):
    host, port = ENV["MCLOUD_REDIS"].rsplit(":", 1)
    cmd = ["redis-cli", "-h", host, "-p", port]
    if ENV.get("MCLOUD_REDIS_PASSWORD"):
        cmd += ["-a", ENV["MCLOUD_REDIS_PASSWORD"], "--no-auth-warning"]
    return run(cmd + list(args))


def http(method, url, token=None, body=None, ctype="application/json"):
    req = urllib.request.Request(url, method=method, data=body.encode() if isinstance(body, str) else body)
    if token is not None:
        req.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()


class Orchestrator:
    def __init__(self, h, name):
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = os.path.join(h.scratch, f"{name}.log")
        self.logf = open(self.log_path, "w")
        env = {**ENV, **h.env, "MCLOUD_ORCHESTRATOR_PORT": str(self.port)}
        self.proc = subprocess.Popen([h.bin], env=env, stdout=self.logf, stderr=subprocess.STDOUT)
        h.started.append(self)
        wait_for(f"{name} to answer", lambda: self.status_or_none() is not None)

    def status_or_none(self):
        if self.proc.poll() is not None:
            raise Failure(f"{self.name} exited {self.proc.returncode}:\n{self.log()[-3000:]}")
        try:
            st, _, body = http("GET", self.url + "/v1/status", H.token)
        except OSError:
            return None
        return json.loads(body) if st == 200 else None

    def status(self):
        s = self.status_or_none()
        if s is None:
            raise Failure(f"{self.name} does not answer /v1/status")
        return s

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        return stop_problem(self.proc, self.logf, self.name, self.log)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()


class Harness:
    def __init__(self, build):
        self.id = f"{os.getpid()}{int(time.time()) % 100000}"
        self.build = build
        self.bin = os.path.join(build, "orchestrator", "mcloud-orchestrator")
        self.cli = os.path.join(build, "cli", "mcloud")
        self.mint = os.path.join(build, "upload", "mcloud-token")
        for b in (self.bin, self.cli, self.mint):
            if not os.access(b, os.X_OK):
                raise Failure(f"{b} is not built (cmake --build {build})")
        self.scratch = tempfile.mkdtemp(prefix=f"mcloud-orch-{self.id}-")
        self.db = f"mcloud_orch_{self.id}"
        self.lock = f"orch-test-{self.id}"
        self.prefix = f"mcloud-test-{self.id}"
        self.env = {
            "MCLOUD_MYSQL_DATABASE": self.db,
            "MCLOUD_ORCHESTRATOR_LOCK_NAME": self.lock,
            "MCLOUD_ORCHESTRATOR_KEY_PREFIX": self.prefix,
            "MCLOUD_ORCHESTRATOR_LOCK_TTL_MS": "3000",
            "MCLOUD_ORCHESTRATOR_INTERVAL_MS": "200",
        }
        self.started = []
        mariadb(f"CREATE DATABASE {self.db} CHARACTER SET utf8mb4")
        self.token = self.mint_token("ops", "operator")
        self.read_token = self.mint_token("viewer", "operator-read")
        self.upload_token = self.mint_token("uploader", "upload")

    def mint_token(self, tenant, scope, secret=None):
        env = dict(ENV)
        if secret:
            env["MCLOUD_TOKEN_SECRET"] = secret
        return run([self.mint, "--tenant", tenant, "--scope", scope, "--ttl", "3600"], env=env).strip()

    def cli_run(self, orch, *args):
        env = {**ENV, "MCLOUD_ORCHESTRATOR_URL": orch.url, "MCLOUD_OPERATOR_TOKEN": self.token}
        return subprocess.run([self.cli, *args], capture_output=True, text=True, env=env, cwd=ROOT)

    def close(self):
        problems = []
        for o in self.started:
            if o.proc.returncode is None:
                p = o.stop()
                if p:
                    problems.append(p)
        try:
            mariadb(f"DROP DATABASE IF EXISTS {self.db}")
            redis("DEL", f"mcloud:lock:{self.lock}", f"mcloud:lock:{self.lock}:fence",
                  f"{self.prefix}:orch:draining", f"{self.prefix}:orch:public_ports")
        except Failure as e:
            problems.append(str(e))
        return problems


H = None


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


# ---- leader ------------------------------------------------------------------


def scenario_leader(h):
    a = Orchestrator(h, "a")
    wait_for("a to become active", lambda: a.status()["role"] == "active")
    b = Orchestrator(h, "b")
    time.sleep(1.0)  # several rounds: b must stay standby while a holds the lock
    expect(b.status()["role"] == "standby", f"b is {b.status()} while a is active")
    fence_a = a.status()["fence"]

    a.kill()  # SIGKILL: the lock is not released, b takes over when it expires
    sb = wait_for("b to take over after SIGKILL of a", lambda: (s := b.status())["role"] == "active" and s)
    expect(sb["fence"] > fence_a, f"b's fence {sb['fence']} is not above a's {fence_a}")
    print(f"ok: SIGKILL of the active -> standby active (fence {fence_a} -> {sb['fence']})")

    c = Orchestrator(h, "c")
    time.sleep(1.0)
    expect(c.status()["role"] == "standby", "a new orchestrator took the lock from an active one")
    os.kill(b.proc.pid, signal.SIGSTOP)  # a pause longer than the lock's TTL
    try:
        sc = wait_for("c to take over from the paused b", lambda: (s := c.status())["role"] == "active" and s)
        expect(sc["fence"] > sb["fence"], f"c's fence {sc['fence']} is not above b's {sb['fence']}")
    finally:
        os.kill(b.proc.pid, signal.SIGCONT)
    wait_for("b to stand by after SIGCONT", lambda: b.status()["role"] == "standby")
    expect(c.status()["role"] == "active", "c lost the lock when b woke up")
    expect("lost the orchestrator lock; standing by" in b.log(), "b's log does not say it stood down")
    print(f"ok: SIGSTOP of the active -> standby active (fence {sc['fence']}); after SIGCONT the old one stands by")

    p = c.stop()  # graceful: releases the lock, b takes over at once
    expect(p is None, f"c did not stop cleanly: {p}")
    sb2 = wait_for("b to take over after c's graceful stop", lambda: (s := b.status())["role"] == "active" and s)
    expect(sb2["fence"] > sc["fence"], "fence did not grow on the hand-over")
    print(f"ok: a graceful stop hands the lock over (fence {sb2['fence']})")


# ---- api ---------------------------------------------------------------------


def expect_problem(status, ctype, body, want_status, want_code=None, detail_has=None):
    expect(status == want_status, f"status {status}, wanted {want_status}: {body}")
    expect(ctype.startswith("application/problem+json"), f"content type {ctype!r}")
    p = json.loads(body)
    for k in ("type", "title", "status", "detail", "code"):
        expect(k in p, f"problem without {k}: {body}")
    expect(p["status"] == want_status, f"problem status {p['status']}")
    if want_code:
        expect(p["code"] == want_code, f"code {p['code']}, wanted {want_code}: {body}")
    if detail_has:
        expect(detail_has in p["detail"], f"detail {p['detail']!r} lacks {detail_has!r}")
    return p


def scenario_api(h):
    o = Orchestrator(h, "api")
    u = o.url
    expect_problem(*http("GET", u + "/v1/status"), 401, "token_missing")
    expect_problem(*http("GET", u + "/v1/instances", "not-a-token"), 401, "token_malformed")
    forged = h.mint_token("ops", "operator", secret="another-secret-of-32-bytes-000000")
    expect_problem(*http("GET", u + "/v1/nodes", forged), 401, "token_bad_signature")
    expect_problem(*http("POST", u + "/v1/spec", None, "services: {}", "application/yaml"), 401)
    expect_problem(*http("GET", u + "/v1/status", h.upload_token), 403, "forbidden", "operator-read")
    st, _, _ = http("GET", u + "/v1/status", h.read_token)
    expect(st == 200, f"a read-only token cannot read: {st}")
    expect_problem(*http("POST", u + "/v1/services/stream/scale", h.read_token, '{"count":2}'), 403, "forbidden")
    expect_problem(*http("POST", u + "/v1/nodes/node-1/drain", h.read_token, '{"drain":true}'), 403, "forbidden")
    print("ok: 401 without a valid token, 403 without the right")

    ok = open(os.path.join(ROOT, "deploy", "mcloud.yaml")).read()
    st, _, body = http("POST", u + "/v1/spec", h.token, ok, "application/yaml")
    expect(st == 200 and json.loads(body)["version"] == 1, f"deploy: {st} {body}")
    wait_for("the orchestrator to load version 1", lambda: o.status()["spec_version"] == 1)
    for path, body, detail in [
        ("/v1/services/stream/scale", "{", "invalid JSON"),
        ("/v1/services/stream/scale", '{"count":-1}', "count"),
        ("/v1/services/stream/scale", '{"count":"3"}', "count"),
        ("/v1/services/stream/scale", '{"count":2,"extra":1}', "extra"),
        ("/v1/services/stream/scale", "[2]", "object"),
        ("/v1/nodes/node-1/drain", '{"drain":"yes"}', "drain"),
        ("/v1/nodes/node-1/drain", "\xff\xfe", "JSON"),
    ]:
        expect_problem(*http("POST", u + path, h.token, body), 400, "invalid", detail)
    p = expect_problem(*http("POST", u + "/v1/spec", h.token, "services:\n  x: [\n", "application/yaml"), 400,
                       "invalid_spec", "YAML")
    expect(p["errors"] and "line" in p["errors"][0], f"errors: {p.get('errors')}")
    expect_problem(*http("POST", u + "/v1/spec", h.token, "#" * (300 * 1024), "application/yaml"), 413, "too_large")
    expect_problem(*http("POST", u + "/v1/services/nope/scale", h.token, '{"count":1}'), 404, "not_found")
    expect_problem(*http("POST", u + "/v1/services/stream/promote", h.token, "{}"), 409, "not_waiting")
    rows = mariadb("SELECT COUNT(*) FROM orchestrator_specs", h.db)
    expect(rows == [["1"]], f"a refused request changed the history: {rows}")
    print("ok: malformed bodies -> 400 problem naming the field, oversized -> 413, nothing applied")


# ---- specs -------------------------------------------------------------------

IMG = "    image: localhost/mcloud-stream:latest\n"
BROKEN = [
    ("unknown field", "services:\n  s:\n" + IMG + "    replicas: 2\n", "services.s.replicas: unknown field (line 4)"),
    ("bad size", "services:\n  s:\n" + IMG + "    resources:\n      memory: 2 GB\n",
     'services.s.resources.memory: "2 GB" is not a size'),
    ("negative count", "services:\n  s:\n" + IMG + "    count: -2\n", 'services.s.count: "-2" is not a whole number'),
    ("port clash", "services:\n  a:\n" + IMG + "    ports: {public: 9000}\n  b:\n" + IMG + "    ports: {public: 9000}\n",
     "services.b.ports.public: 9000 is already the public port of services.a"),
    ("unknown image", "services:\n  s:\n    image: docker.io/nginx:1\n", "is not a known image (line 3)"),
    ("duplicate service", "services:\n  s:\n" + IMG + "  s:\n" + IMG, "services.s: declared twice (line 4)"),
    ("YAML syntax error", "services:\n  s: {image: x\n", "YAML:"),
    ("bad duration", "services:\n  s:\n" + IMG + "    stop_grace: soon\n", 'services.s.stop_grace: "soon" is not a duration'),
    ("missing image", "services:\n  s:\n    count: 1\n", "services.s.image: missing (line 3)"),
    ("bad bool", "services:\n  s:\n" + IMG + "    update: {auto_revert: maybe}\n", "services.s.update.auto_revert"),
    ("no services", "version: 1\n", "services: missing"),
    ("wrong version", "version: 3\nservices:\n  s:\n" + IMG, "version:"),
    ("bad env name", "services:\n  s:\n" + IMG + "    env: {'a b': x}\n", "services.s.env.a b"),
    ("timeout above interval", "services:\n  s:\n" + IMG + "    health: {interval: 1s, timeout: 5s}\n",
     "services.s.health.timeout"),
    ("relative volume", "services:\n  s:\n" + IMG + "    volume: {name: c, target: var/c}\n",
     "services.s.volume.target"),
    ("not a mapping", "- just\n- a list\n", "spec: expected a mapping"),
]


def scenario_specs(h):
    o = Orchestrator(h, "specs")
    r = h.cli_run(o, "deploy", "deploy/mcloud.yaml", "--no-wait")
    expect(r.returncode == 0 and "applied as version 1" in r.stdout, f"deploy: {r.returncode} {r.stdout} {r.stderr}")
    expect("+ service stream (2 x localhost/mcloud-stream:latest)" in r.stdout, f"no diff printed: {r.stdout}")
    wait_for("the orchestrator to load version 1", lambda: o.status()["spec_version"] == 1)
    served = json.loads(http("GET", o.url + "/v1/spec", h.token)[2])
    # the spec's public ports, published for the edge (which listens there: edge_test.py's ports)
    want = {"v": 1, "ports": {"upload": 18080, "stream": 18081, "api": 18082}}
    wait_for("the public ports published for the edge", lambda: json.loads(
        redis("GET", f"{h.prefix}:orch:public_ports").strip() or "null") == want)
    print(f"ok: the active orchestrator publishes the spec's public ports for the edge: {want['ports']}")
    for why, text, message in BROKEN:
        path = os.path.join(h.scratch, "broken.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = h.cli_run(o, "deploy", path, "--no-wait")
        expect(r.returncode == 1, f"{why}: exit {r.returncode}, stdout {r.stdout!r}")
        expect(message in r.stderr, f"{why}: stderr {r.stderr!r} lacks {message!r}")
        expect("nothing changed" in r.stderr, f"{why}: stderr does not say nothing changed")
    rows = mariadb("SELECT COUNT(*) FROM orchestrator_specs", h.db)
    expect(rows == [["1"]], f"refused specs reached the history: {rows}")
    expect(json.loads(http("GET", o.url + "/v1/spec", h.token)[2]) == served, "the served spec changed")
    print(f"ok: {len(BROKEN)} broken specs refused with the field and line, nothing applied")

    r = h.cli_run(o, "scale", "stream", "3", "--no-wait")
    expect(r.returncode == 0 and "~ stream.count: 2 -> 3" in r.stdout, f"scale: {r.stdout} {r.stderr}")
    v2 = open(os.path.join(ROOT, "deploy", "mcloud.yaml")).read().replace("mcloud-stream:latest", "mcloud-stream:v2")
    path = os.path.join(h.scratch, "v2.yaml")
    with open(path, "w") as f:
        f.write(v2.replace("count: 2\n    resources: {cpus: 0.25, memory: 256M, pids: 256}\n    ports: {public: 18081",
                           "count: 3\n    resources: {cpus: 0.25, memory: 256M, pids: 256}\n    ports: {public: 18081"))
    r = h.cli_run(o, "deploy", path, "--no-wait")
    expect(r.returncode == 0 and "~ stream.image: localhost/mcloud-stream:latest -> localhost/mcloud-stream:v2"
           in r.stdout, f"deploy v2: {r.stdout} {r.stderr}")
    r = h.cli_run(o, "rollout", "undo", "stream", "--no-wait")
    expect(r.returncode == 0 and "~ stream.image: localhost/mcloud-stream:v2 -> localhost/mcloud-stream:latest"
           in r.stdout, f"undo: {r.stdout} {r.stderr}")
    hist = json.loads(http("GET", o.url + "/v1/spec/versions", h.token)[2])["versions"]
    got = [(v["version"], v["reason"], v["applied_by"]) for v in hist]
    expect(got == [(4, "undo", "ops"), (3, "deploy", "ops"), (2, "scale", "ops"), (1, "deploy", "ops")],
           f"history: {got}")
    wait_for("the orchestrator to load version 4", lambda: o.status()["spec_version"] == 4)
    r = h.cli_run(o, "ps", "--json")
    names = sorted(i["name"] for i in json.loads(r.stdout)["instances"])
    expect([n for n in names if n.startswith("stream-")] == ["stream-0", "stream-1", "stream-2"], f"ps: {names}")
    print("ok: deploy, scale, new image and rollout undo kept in the history with who and why")

    standby = Orchestrator(h, "specs-standby")
    expect(standby.status()["role"] == "standby", "the second orchestrator is not standing by")
    r = h.cli_run(standby, "scale", "stream", "1", "--no-wait")
    expect(r.returncode == 0 and "~ stream.count: 3 -> 1" in r.stdout, f"scale via the standby: {r.stdout} {r.stderr}")
    wait_for("the active one to load the change made through the standby", lambda: o.status()["spec_version"] == 5)
    print("ok: a change made through the standby reaches the active orchestrator")


def dump_logs(procs, problems, tail=3000):
    """When there were problems: the last lines of each started daemon's log."""
    if problems:
        for o in procs:
            print(f"--- {o.name} log (last lines)\n{o.log()[-tail:]}", file=sys.stderr)


def exit_on(problems):
    """Each problem as a FAIL line and exit 1; nothing when there is none."""
    if problems:
        for p in problems:
            print(f"FAIL: {p}", file=sys.stderr)
        sys.exit(1)


def main():
    global H
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("scenario", choices=["leader", "api", "specs"])
    args = ap.parse_args()
    problems = []
    try:
        H = Harness(os.path.abspath(args.build))
        globals()[f"scenario_{args.scenario}"](H)
    except Failure as e:
        problems.append(str(e))
    finally:
        if H:
            problems += H.close()
            dump_logs(H.started, problems)
    exit_on(problems)
    print(f"PASS orchestrator {args.scenario}")


if __name__ == "__main__":
    main()
