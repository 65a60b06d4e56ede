"""apitest.py — what the mcloud-api integration tests share: a private
mcloud-api started from the build tree on a free port (stopped at the end,
also on failure, its stderr checked for sanitizer reports), tenants and
keys made with `mcloud tenant create`, a response validator against
api/openapi.yaml (status documented, content type, body schema, X-Request-Id
on every answer), MySQL through the mariadb client, and check bookkeeping."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

import jsonschema
import requests
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
import daemon_proc  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SPEC_PATH = os.path.join(ROOT, "api", "openapi.yaml")
ENV = os.environ
READY_TIMEOUT_S = 60


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Checks:
    def __init__(self):
        self.failures = []
        self.count = 0

    def check(self, cond, what, detail=""):
        self.count += 1
        if not cond:
            self.failures.append(f"{what}: {detail}")
            log(f"FAIL {what}: {str(detail)[:600]}")
        return cond


class Spec:
    """Validates responses against the OpenAPI document."""

    def __init__(self, path=SPEC_PATH):
        with open(path) as f:
            self.doc = yaml.safe_load(f)
        self.ops = []
        for tmpl, item in self.doc["paths"].items():
            parts = tmpl.strip("/").split("/")
            for method, op in item.items():
                if method == "parameters":
                    continue
                self.ops.append((method.upper(), parts, op))

    def find(self, method, path):
        parts = path.split("?")[0].strip("/").split("/")
        for m, tparts, op in self.ops:
            if m != method or len(tparts) != len(parts):
                continue
            if all(t.startswith("{") or t == p for t, p in zip(tparts, parts)):
                return op
        return None

    def deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj and len(obj) == 1:
            node = self.doc
            for part in obj["$ref"][2:].split("/"):
                node = node[part]
            obj = node
        return obj

    def problems(self, method, path, resp):
        """What is wrong with resp for (method, path), as a list of strings."""
        out = []
        if not resp.headers.get("X-Request-Id"):
            out.append("no X-Request-Id")
        op = self.find(method, path)
        if op is None:
            # Paths outside the document must answer a problem (404/405).
            if resp.status_code not in (404, 405):
                out.append(f"undocumented path answered {resp.status_code}")
            schema = {"$ref": "#/components/schemas/Problem"}
            ctype = "application/problem+json"
        else:
            r = op["responses"].get(str(resp.status_code))
            if r is None:
                return out + [f"status {resp.status_code} is not documented for {method} {path}"]
            r = self.deref(r)
            content = r.get("content")
            if not content:
                if resp.content:
                    out.append(f"status {resp.status_code} has a body: {resp.text[:200]}")
                return out
            ctype, media = next(iter(content.items()))
            schema = media["schema"]
            for h in r.get("headers", {}):
                if h not in resp.headers:
                    out.append(f"header {h} missing")
        got = resp.headers.get("Content-Type", "")
        if got.split(";")[0].strip() != ctype:
            out.append(f"Content-Type {got!r}, documented {ctype!r}")
        try:
            body = resp.json()
        except ValueError:
            return out + [f"body is not JSON: {resp.text[:200]}"]
        full = dict(schema)
        full["components"] = self.doc["components"]
        try:
            jsonschema.Draft202012Validator(
                full, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(body)
        except jsonschema.ValidationError as e:
            out.append(f"body breaks the schema: {e.message} at {list(e.absolute_path)}")
        return out


class Mysql:
    def __init__(self, addr_var="MCLOUD_MYSQL_MASTER"):
        host, port = ENV[addr_var].rsplit(":", 1)
        self.base = ["mariadb", "--no-defaults", "-h", host, "-P", port, "-u", ENV["MCLOUD_MYSQL_USER"],
                     f"-p{ENV['MCLOUD_MYSQL_PASSWORD']}", ENV["MCLOUD_MYSQL_DATABASE"], "-N", "-B"]

    def query(self, sql):
        r = subprocess.run(self.base + ["-e", sql], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"mariadb: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines()]


class Api:
    """A private mcloud-api of the build tree and a client of it."""

    def __init__(self, build_dir, scratch, name="api", extra_env=None, **settings):
        self.bin = os.path.join(build_dir, "api", "mcloud-api")
        if not os.access(self.bin, os.X_OK):
            raise RuntimeError(f"{self.bin} is not built (cmake --build {build_dir})")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.name = name
        self.log_path = os.path.join(scratch, f"{name}.log")
        env = dict(ENV)
        upload = ENV.get("MCLOUD_UPLOAD_URL", "http://127.0.0.1:18080/files/")
        # REGISTRY_PUBLISH off: an edge running beside (make run's, in make
        # fresh-check) must not route the platform's players to this instance
        env.update({"MCLOUD_API_PORT": str(self.port), "MCLOUD_HTTP_BIND": "127.0.0.1",
                    "MCLOUD_REGISTRY_PUBLISH": "false",
                    "MCLOUD_API_PUBLIC_URL": self.url,
                    "MCLOUD_UPLOAD_PUBLIC_URL": upload[: -len("/files/")] if upload.endswith("/files/") else upload,
                    "MCLOUD_STREAM_PUBLIC_URL": ENV.get("MCLOUD_STREAM_URL", "http://127.0.0.1:18081"),
                    "MCLOUD_LOG_LEVEL": "info",
                    # as the stack's own mcloud-api (scripts/stack.sh API_WEBHOOK_ENV): any
                    # instance's sender may take a delivery, so they must agree
                    "MCLOUD_WEBHOOKS_ALLOW_PRIVATE": "true", "MCLOUD_WEBHOOKS_RETRY_INITIAL_MS": "500",
                    "MCLOUD_WEBHOOKS_RETRY_MAX_MS": "4000", "MCLOUD_WEBHOOKS_POLL_MS": "200",
                    "MCLOUD_WEBHOOKS_DISABLE_AFTER_FAILURES": "40", "MCLOUD_WEBHOOKS_SWEEP_INTERVAL_MS": "1000"})
        env.update(extra_env or {})
        for k, v in settings.items():
            env[f"MCLOUD_API_{k.upper()}"] = str(v)
        self.logf = open(self.log_path, "w")
        self.proc = subprocess.Popen([self.bin], env=env, stdout=self.logf, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{self.text()[-3000:]}")
            try:
                if requests.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{name} not ready within {READY_TIMEOUT_S} s:\n{self.text()[-3000:]}")

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        return daemon_proc.stop_problem(self.proc, self.logf, self.name, self.text)

    def call(self, method, path, key=None, json_body=None, headers=None, data=None, timeout=30):
        h = dict(headers or {})
        if key:
            h["Authorization"] = f"Bearer {key}"
        if json_body is not None:
            data = json.dumps(json_body)
            h.setdefault("Content-Type", "application/json")
        return requests.request(method, self.url + path, headers=h, data=data, timeout=timeout)


def caller(api, spec, checks):
    """call(method, path, key, expect, what, on=another Api, **kw): a request
    whose answer is validated against the document (and its status checked
    when expect is given)."""
    def call(method, path, key=None, expect=None, what=None, on=None, **kw):
        r = (on or api).call(method, path, key=key, **kw)
        what = what or f"{method} {path}"
        for p in spec.problems(method, path, r):
            checks.check(False, f"{what}: contract", p)
        if expect is not None:
            checks.check(r.status_code == expect, f"{what}: status {expect}",
                         f"got {r.status_code}: {r.text[:300]}")
        return r
    return call


def new_tenant(build_dir, prefix):
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    r = subprocess.run([os.path.join(build_dir, "cli", "mcloud"), "tenant", "create", name],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise RuntimeError(f"mcloud tenant create: {r.stderr}")
    return name, r.stdout.strip()


def make_clip(path, seconds=2):
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=320x240:rate=25", "-f", "lavfi", "-i", "sine=frequency=440",
                    "-t", str(seconds), "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", path],
                   check=True, timeout=120)


def main(body, build_dir, what):
    """Runs body(checks, scratch, build_dir, cleanups); cleanups run always."""
    checks = Checks()
    cleanups = []
    scratch = tempfile.mkdtemp(prefix=f"mcloud-api-{what}-")
    ok = False
    try:
        body(checks, scratch, build_dir, cleanups)
        ok = True
    finally:
        for fn in reversed(cleanups):
            try:
                problem = fn()
                if problem:
                    checks.check(False, "cleanup", problem)
            except Exception as e:  # a cleanup failure must not hide the test's own
                checks.check(False, "cleanup", repr(e))
    if not ok:
        return 1
    if not checks.failures:
        shutil.rmtree(scratch, ignore_errors=True)  # kept for a look when something failed
    else:
        log(f"logs and reports kept in {scratch}")
    if checks.failures:
        log(f"{what}: {len(checks.failures)} of {checks.count} checks failed")
        return 1
    if checks.count == 0:
        log(f"{what}: no check ran")
        return 1
    log(f"{what}: all {checks.count} checks passed")
    return 0
