#!/usr/bin/env python3
"""check_compose.py — the offline check of docker/compose.yaml, run by ctest
as deploy.compose. Nothing is built or started.

podman-compose (PyPI, in the venv) parses the file with its own parser and
prints the resolved configuration (`podman-compose config`: anchors, merges
and ${VAR} interpolation applied); then a lint checks what a parser cannot:
depends_on names a service, build targets exist in their Dockerfile, every
MCLOUD_* name is a setting of common/config.c, each service's published port
is the one its daemon listens on, the service addresses in the settings name
services of the file, the transcoders' stop_grace_period covers their
grace, the mounted Kafka jars and MinIO binary are the versions
scripts/lib.sh pins, and Kafka's topics are scripts/stack.sh's.

Then every broken input in tests/deploy/compose-broken/ (patches of the
resolved configuration, or with `parser: true` of the file itself, with the
messages expected) must fail the check with those messages.

usage: $MCLOUD_CACHE/venv/bin/python tests/deploy/check_compose.py
"""
import copy
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
COMPOSE = os.path.join(ROOT, "docker", "compose.yaml")
CASES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "compose-broken")
MCLOUD_SERVICES = ("upload", "transcode", "stream", "api")
HANDBACK_MARGIN_S = 10

try:
    import yaml
except ImportError:
    sys.exit("FAIL: PyYAML missing: run scripts/bootstrap.sh venv and run this check with $MCLOUD_CACHE/venv/bin/python")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_kubernetes import SETTINGS, lib_var, apply_patch_path  # noqa: E402


def find_podman_compose():
    path = shutil.which("podman-compose", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if not path:
        sys.exit(f"FAIL: podman-compose {lib_var('PODMAN_COMPOSE_VERSION')} not found beside {sys.executable}: "
                 "run scripts/bootstrap.sh venv (pip install podman-compose into $MCLOUD_CACHE/venv)")
    return path


def seconds(text):
    m = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text))
    if not m or not any(m.groups()):
        return None
    return int(m.group(1) or 0) * 60 + int(m.group(2) or 0)


def parse(pc, path):
    """podman-compose's own view of the file, or its error."""
    env = dict(os.environ)
    env.setdefault("MCLOUD_CACHE", os.path.join(os.environ.get("MCLOUD_HOME") or os.path.expanduser("~/.mcloud"), "cache"))
    out = subprocess.run([pc, "-f", path, "config"], capture_output=True, text=True, env=env, timeout=120)
    if out.returncode != 0:
        last = [line for line in out.stderr.strip().splitlines() if line.strip()][-1:] or ["(no message)"]
        return None, [f"podman-compose config: {last[0]}"]
    return yaml.safe_load(out.stdout), []


def dockerfile_targets(path):
    with open(path) as f:
        return set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", f.read(), re.M | re.I))


def lint(cfg):
    problems = []
    services = cfg.get("services") or {}
    volumes = set((cfg.get("volumes") or {}).keys())

    def fail(service, field, msg):
        problems.append(f"services.{service}.{field}: {msg}")

    for name, s in services.items():
        for dep in (s.get("depends_on") or {}):
            if dep not in services:
                fail(name, "depends_on", f"'{dep}' is not a service of the file (services: {', '.join(sorted(services))})")
        b = s.get("build")
        if isinstance(b, dict) and b.get("target"):
            df = os.path.join(b.get("context") or ROOT, b.get("dockerfile", "Dockerfile"))
            if not os.path.exists(df):
                fail(name, "build.dockerfile", f"{b.get('dockerfile')} does not exist")
            elif b["target"] not in dockerfile_targets(df):
                fail(name, "build.target", f"'{b['target']}' is not a stage of {b.get('dockerfile')} "
                                           f"(stages: {', '.join(sorted(dockerfile_targets(df)))})")
        for v in s.get("volumes") or []:
            src = (v.split(":")[0] if isinstance(v, str) else v.get("source")) or ""
            if src and not src.startswith(("/", ".", "~")) and ":" in str(v) and src not in volumes:
                fail(name, "volumes", f"named volume '{src}' is not declared under volumes:")
            m = re.search(r"/kafka-([^/]+)/jars:", str(v))
            if m and m.group(1) != lib_var("KAFKA_VERSION"):
                fail(name, "volumes", f"mounts Kafka {m.group(1)}'s jars, scripts/lib.sh pins {lib_var('KAFKA_VERSION')}")
            m = re.search(r"/minio-([^/]+)/bin/minio:", str(v))
            if m and m.group(1) != lib_var("MINIO_VERSION"):
                fail(name, "volumes", f"mounts MinIO {m.group(1)}, scripts/lib.sh pins {lib_var('MINIO_VERSION')}")

        env = s.get("environment") or {}
        if isinstance(env, list):
            env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
        if name not in MCLOUD_SERVICES:
            if name == "kafka":
                with open(os.path.join(ROOT, "scripts", "stack.sh")) as f:
                    m = re.search(r"^KAFKA_TOPICS=\(([^)]*)\)", f.read(), re.M)
                want = {t for t in m.group(1).split() if not t.startswith("mcloud.test:")}
                have = set(str(env.get("KAFKA_TOPICS", "")).split())
                if have != want:
                    fail(name, "environment.KAFKA_TOPICS", f"{' '.join(sorted(have))}, but scripts/stack.sh creates "
                                                           f"{' '.join(sorted(want))}")
            continue
        for k in env:
            if k.startswith("MCLOUD_") and k not in SETTINGS:
                fail(name, f"environment.{k}", f"{k} is not a setting of common/config.c (a typo? the daemons ignore it)")
        full = dict(SETTINGS)
        full.update({k: str(v) for k, v in env.items()})
        port = full.get(f"MCLOUD_{name.upper()}_PORT")
        for p in s.get("ports") or []:
            target = str(p.get("target")) if isinstance(p, dict) else str(p).rsplit(":", 1)[-1].split("/")[0]
            if target != port:
                fail(name, "ports", f"{p!r} forwards to container port {target}, but the daemon listens on "
                                    f"{port} (MCLOUD_{name.upper()}_PORT)")
        if full.get("MCLOUD_HTTP_BIND", "").startswith("127."):
            fail(name, "environment.MCLOUD_HTTP_BIND", "loopback only: unreachable from other containers (use 0.0.0.0)")
        for key in ("MCLOUD_KAFKA", "MCLOUD_REDIS", "MCLOUD_MYSQL_MASTER", "MCLOUD_S3_ENDPOINT"):
            host = re.sub(r"^\w+://", "", full.get(key, "")).split(",")[0].rsplit(":", 1)[0]
            if host not in services:
                fail(name, f"environment.{key}", f"'{full.get(key)}': host '{host}' is not a service of the file")
        if name == "transcode":
            grace = seconds(s.get("stop_grace_period", "10s"))
            need = int(full.get("MCLOUD_TRANSCODE_GRACE_MS", "0")) / 1000 + HANDBACK_MARGIN_S
            if grace is None or grace < need:
                fail(name, "stop_grace_period", f"{s.get('stop_grace_period', '10s (the default)')} is shorter than "
                                                f"the transcoder's grace (MCLOUD_TRANSCODE_GRACE_MS) + {HANDBACK_MARGIN_S} s "
                                                f"to hand its job back (need >= {need:g} s)")
    return problems


def check(pc, path):
    cfg, problems = parse(pc, path)
    return problems if problems else lint(cfg)


def main():
    pc = find_podman_compose()
    failed = 0
    problems = check(pc, COMPOSE)
    if problems:
        failed += 1
        print(f"FAIL: docker/compose.yaml has {len(problems)} problem(s):")
        for p in problems:
            print(f"  {p}")
    else:
        print("ok: docker/compose.yaml parses (podman-compose config) and its lint passes")
    with open(COMPOSE) as f:
        source = yaml.safe_load(f)
    resolved, _ = parse(pc, COMPOSE)
    cases = sorted(f for f in os.listdir(CASES) if f.endswith(".yaml"))
    for f in cases:
        with open(os.path.join(CASES, f)) as fh:
            case = yaml.safe_load(fh)
        if case.get("parser"):
            # a patch of the file itself, for podman-compose's parser: written
            # beside the original, so the relative build contexts resolve the same
            broken = copy.deepcopy(source)
            for p in case.get("patches") or ():
                apply_patch_path(broken, p)
            tmp = os.path.join(ROOT, "docker", f".check-{f}")
            try:
                with open(tmp, "w") as out:
                    yaml.safe_dump(broken, out, sort_keys=False)
                problems = check(pc, tmp)
            finally:
                os.unlink(tmp)
        else:
            # a patch of podman-compose's resolved configuration, for the lint
            # (one parse for all: podman-compose takes seconds to start)
            broken = copy.deepcopy(resolved)
            for p in case.get("patches") or ():
                apply_patch_path(broken, p)
            problems = lint(broken) if broken else ["podman-compose config failed on docker/compose.yaml"]
        hit = [p for p in problems if all(e in p for e in case["expect"])]
        if hit:
            print(f"ok: {f[:-5]} is refused: {hit[0]}")
        else:
            failed += 1
            print(f"FAIL: {f[:-5]} ({case['description']}) " +
                  (f"was refused, but no message has all of {case['expect']}: {problems}" if problems
                   else f"passed the check: it must be refused with {case['expect']}"))
    print(f"{'FAIL' if failed else 'ok'}: docker/compose.yaml and {len(cases)} broken case(s) checked, {failed} failure(s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
