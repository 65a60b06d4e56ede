"""stackctl.py — the fault suite's hands on the running stack (scripts/stack.sh):
component status, pids, start/kill, the current Redis master (through the
Sentinels), the published MySQL master (config service), SQL as the admin
user, and the S3 client. Every call has a timeout: a fault may leave a server
unanswering, and the suite must go on to put things back."""

import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
STACK = os.path.join(ROOT, "scripts", "stack.sh")
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "bench", "upload"))
from benchlib import log  # noqa: E402,F401  (re-exported: the suite's progress log)

_stack_lock = threading.Lock()   # stack.sh takes its own flock; one caller at a time here


def now_ms():
    return int(time.time() * 1000)


def loadavg():
    return "%.2f %.2f %.2f" % os.getloadavg()


def stack(*args, timeout=240):
    """Runs scripts/stack.sh ARGS; returns (rc, stdout)."""
    with _stack_lock:
        try:
            r = subprocess.run([STACK, *args], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return 124, ""
    return r.returncode, r.stdout


def status():
    """component -> (state, address, pid or None)."""
    _, out = stack("status", timeout=60)
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) >= 3:
            res[f[0]] = (f[1], f[2], int(f[4]) if len(f) >= 5 and f[3] == "pid" else None)
    return res


def pid_of(comp):
    st = status().get(comp)
    return st[2] if st and st[0] in ("up", "starting") else None


def comp_at(addr):
    for c, (_, a, _) in status().items():
        if a == addr:
            return c
    return None


def start(comp):
    rc, _ = stack("start", comp)
    return rc == 0


def redis_cli(addr, *args, timeout=5):
    host, port = addr.rsplit(":", 1)
    try:
        r = subprocess.run(["redis-cli", "-h", host, "-p", port, "--raw", *args],
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def sentinels():
    spec = os.environ["MCLOUD_REDIS_SENTINEL"]   # sentinel://name@h:p,h:p,h:p
    return spec.split("@", 1)[1].split(",")


def redis_master():
    """host:port the Sentinels name as the Redis master, or None."""
    for s in sentinels():
        out = redis_cli(s, "SENTINEL", "get-master-addr-by-name", "mcloud", timeout=3)
        if out and len(out.split()) == 2:
            return ":".join(out.split())
    return None


def redis(*args):
    m = redis_master()
    return redis_cli(m, *args) if m else None


def mysql_master():
    return redis("GET", "mcloud:config:mysql.master") or None


def sql(query, addr=None, timeout=20, database=None):
    """Rows of QUERY as the admin user on ADDR (default: the published master);
    raises RuntimeError on failure."""
    addr = addr or mysql_master()
    if not addr:
        raise RuntimeError("no published MySQL master (Redis unreachable?)")
    host, port = addr.rsplit(":", 1)
    argv = ["mariadb", "--no-defaults", "--connect-timeout=3", "-N", "-B", "-h", host, "-P", port,
            "-u", os.environ["MCLOUD_MYSQL_ADMIN_USER"]]
    argv += [database or os.environ.get("MCLOUD_MYSQL_DATABASE", "mcloud"), "-e", query]
    try:
        r = subprocess.run(argv, env=dict(os.environ, MYSQL_PWD=os.environ["MCLOUD_MYSQL_ADMIN_PASSWORD"]),
                           capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"mariadb on {addr}: no answer in {timeout} s")
    if r.returncode != 0:
        raise RuntimeError(f"mariadb on {addr}: {r.stderr.strip()}")
    return [line.split("\t") for line in r.stdout.splitlines()]


def try_sql(query, addr=None, timeout=10):
    try:
        return sql(query, addr, timeout)
    except RuntimeError:
        return None


def slave_field(addr, field):
    host, port = addr.rsplit(":", 1)
    try:
        r = subprocess.run(["mariadb", "--no-defaults", "--connect-timeout=3", "-h", host, "-P", port, "-u",
                            os.environ["MCLOUD_MYSQL_ADMIN_USER"], "-e", "SHOW SLAVE STATUS\\G"],
                           env=dict(os.environ, MYSQL_PWD=os.environ["MCLOUD_MYSQL_ADMIN_PASSWORD"]),
                           capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return None
    for line in r.stdout.splitlines():
        k, _, v = line.strip().partition(": ")
        if k == field:
            return v
    return None


def s3_client():
    import boto3
    from botocore.config import Config
    return boto3.client("s3", endpoint_url=os.environ["MCLOUD_S3_ENDPOINT"],
                        region_name=os.environ.get("MCLOUD_S3_REGION", "us-east-1"),
                        aws_access_key_id=os.environ["MCLOUD_S3_ACCESS_KEY"],
                        aws_secret_access_key=os.environ["MCLOUD_S3_SECRET_KEY"],
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 10, "mode": "standard"}))


def wait_until(cond, timeout_s, step=0.2):
    """Polls COND until truthy; returns its value, or None after TIMEOUT_S."""
    until = time.monotonic() + timeout_s
    while True:
        try:
            v = cond()
        except Exception:
            v = None
        if v:
            return v
        if time.monotonic() >= until:
            return None
        time.sleep(step)
