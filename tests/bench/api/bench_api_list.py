"""bench_api_list.py BUILD_DIR [REQUESTS] — how mcloud-api's reads cost as a
tenant grows: GET /v1/videos?limit=50 (first page, and a page deep in the
list through created_before) and GET /v1/videos/{id}, for a tenant of 1 000
and one of 100 000 videos (rows made with MariaDB's sequence engine), over
CONNECTIONS concurrent keep-alive clients against a private mcloud-api.
Prints throughput, p50 and p99 per case, the 100 000 / 1 000 ratio of each
p99 (the target: flat, within 1.5x) and the load average beside each figure.
The tenants and their rows are removed at the end."""

import concurrent.futures
import os
import sys
import tempfile
import threading
import time

import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "integration", "api"))
from apitest import Api, Mysql, new_tenant  # noqa: E402

CONNECTIONS = 16


def loadavg():
    return open("/proc/loadavg").read().split()[0]


def fill(db, replica, tenant, n):
    """n videos, then a wait until the replica (which serves the list) has
    applied them: measuring while it applies 100 000 rows measures that."""
    db.query(f"INSERT INTO videos (id, tenant_id, title, status, created_at) SELECT UUID(), '{tenant}', "
             f"CONCAT('bench ', seq), 'ready', UTC_TIMESTAMP(6) - INTERVAL seq SECOND FROM seq_1_to_{n}")
    deadline = time.monotonic() + 600
    while int(replica.query(f"SELECT COUNT(*) FROM videos WHERE tenant_id = '{tenant}'")[0][0]) != n:
        if time.monotonic() > deadline:
            raise RuntimeError("the replica did not apply the rows within 600 s")
        time.sleep(0.5)


def measure(api, key, paths, total):
    local = threading.local()

    def one(i):
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
            s.headers["Authorization"] = f"Bearer {key}"
        t0 = time.perf_counter()
        r = s.get(api.url + paths[i % len(paths)], timeout=30)
        dt = time.perf_counter() - t0
        if r.status_code != 200:
            raise RuntimeError(f"{paths[i % len(paths)]}: {r.status_code} {r.text[:200]}")
        return dt

    with concurrent.futures.ThreadPoolExecutor(CONNECTIONS) as ex:
        list(ex.map(one, range(CONNECTIONS * 2)))  # warm connections and caches
        t0 = time.perf_counter()
        lat = sorted(ex.map(one, range(total)))
        wall = time.perf_counter() - t0
    return total / wall, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99) - 1] * 1000


def bench_tenants(build_dir, scratch, sizes=(1000, 100000)):
    """Yields (api, db, n, tenant, key, mid) for a fresh tenant of each size
    (n videos inserted in bulk; mid the created_at half-way down its list),
    all against one private mcloud-api without rate limits; the tenants and
    the daemon go at the end, whatever happened."""
    db = Mysql()
    replica = Mysql("MCLOUD_MYSQL_REPLICA")
    api = Api(build_dir, scratch, name="api-bench", rate_limit_per_s=1000000, rate_limit_burst=1000000)
    tenants = []
    try:
        for n in sizes:
            tenant, key = new_tenant(build_dir, "bench")
            tenants.append(tenant)
            fill(db, replica, tenant, n)
            mid = db.query(f"SELECT DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ') FROM videos WHERE tenant_id = "
                           f"'{tenant}' ORDER BY created_at DESC LIMIT 1 OFFSET {n // 2}")[0][0]
            yield api, db, n, tenant, key, mid
    finally:
        for t in tenants:
            db.query(f"DELETE FROM videos WHERE tenant_id = '{t}'; DELETE FROM api_keys WHERE tenant_id = '{t}'; "
                     f"DELETE FROM idempotency_keys WHERE tenant_id = '{t}'; DELETE FROM tenants WHERE id = '{t}'")
        problem = api.stop()
        if problem:
            print(problem, file=sys.stderr)


def main():
    build_dir = sys.argv[1]
    total = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    scratch = tempfile.mkdtemp(prefix="mcloud-bench-api-")
    results = {}
    for api, db, n, tenant, key, mid in bench_tenants(build_dir, scratch):
        ids = [r[0] for r in db.query(f"SELECT id FROM videos WHERE tenant_id = '{tenant}' LIMIT 200")]
        cases = {"list first page": ["/v1/videos?limit=50"],
                 "list mid page": [f"/v1/videos?limit=50&created_before={mid}"],
                 "get video": [f"/v1/videos/{i}" for i in ids]}
        for name, paths in cases.items():
            rps, p50, p99 = measure(api, key, paths, total)
            results[(name, n)] = p99
            print(f"{name:16s} {n:>6} videos: {rps:7.0f} req/s  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  "
                  f"(load {loadavg()}, {CONNECTIONS} connections)", flush=True)
    for name in ("list first page", "list mid page", "get video"):
        print(f"{name:16s} p99 ratio 100000/1000: {results[(name, 100000)] / results[(name, 1000)]:.2f}x "
              f"(target <= 1.5x; load {loadavg()})")


if __name__ == "__main__":
    main()
