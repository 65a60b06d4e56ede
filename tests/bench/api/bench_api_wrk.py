"""bench_api_wrk.py BUILD_DIR [SECONDS] — mcloud-api's reads under wrk with
64 keep-alive connections (bench_api.lua adds the API key):
GET /v1/videos/{id}, GET /v1/videos?limit=50 (the first page) and the same
list one page past the middle through a real next_cursor (the keyset
cursor), for a tenant of 1 000 and one of 100 000 videos (rows inserted in
bulk with MariaDB's sequence engine, as bench_api_list.py does). The peer
in the same run: GET /v1/openapi.json, the daemon's HTTP floor without a
database read. Prints req/s, p50, p99 (load average beside each), the
100 000 / 1 000 p99 ratio of each case (target: within 1.5x) and MariaDB's
ANALYZE (EXPLAIN with the rows really read: r_rows) of the cursor page's
query at 100 000. The tenants are removed at the end."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "api"))
sys.path.insert(0, HERE)
from bench_api_list import bench_tenants, loadavg  # noqa: E402

CONNECTIONS = 64
THREADS = 2


def wrk(api, key, paths, seconds, scratch):
    if not shutil.which("wrk"):
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    plist = os.path.join(scratch, "paths.txt")
    with open(plist, "w") as f:
        f.write("\n".join(paths) + "\n")
    env = dict(os.environ, WRK_KEY=key, WRK_PATHS=plist)
    r = subprocess.run(["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s",
                        "-s", os.path.join(HERE, "bench_api.lua"), api.url], env=env, capture_output=True,
                       text=True, timeout=seconds + 60)
    line = [x for x in r.stdout.splitlines() if x.startswith("RESULT ")]
    if r.returncode != 0 or not line:
        raise RuntimeError(f"wrk failed: {r.stdout[-1000:]} {r.stderr[-1000:]}")
    n, secs, p50, p99, non2xx, sock = line[0].split()[1:]
    if int(non2xx) or int(sock):
        raise RuntimeError(f"{paths[0]}: {non2xx} answers not 2xx, {sock} socket errors:\n{api.text()[-2000:]}")
    return int(n) / float(secs), int(p50) / 1000, int(p99) / 1000


def report(name, n, fig):
    rps, p50, p99 = fig
    print(f"{name:22s} {n:>7} videos: {rps:7.0f} req/s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
          f"(load {loadavg()}, {CONNECTIONS} connections)", flush=True)


def explain(db, tenant, cursor_row):
    created, vid = cursor_row
    sql = ("ANALYZE SELECT v.id, v.title, v.status, v.created_at FROM videos v FORCE INDEX (videos_tenant_list) WHERE v.tenant_id = "
           f"'{tenant}' AND v.deleted_at IS NULL AND v.created_at <= '{created}' AND "
           f"(v.created_at < '{created}' OR v.id < '{vid}') ORDER BY v.created_at DESC, v.id DESC LIMIT 51")
    print("ANALYZE id | select_type | table | type | possible_keys | key | key_len | ref | rows | r_rows | "
          "filtered | r_filtered | Extra")
    for row in db.query(sql):
        print("ANALYZE " + " | ".join(row))


def main():
    build_dir = sys.argv[1]
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    scratch = tempfile.mkdtemp(prefix="mcloud-bench-api-wrk-")
    results = {}
    try:
        for api, db, n, tenant, key, mid in bench_tenants(build_dir, scratch):
            if n == 1000:
                report("openapi.json (floor)", 0, wrk(api, key, ["/v1/openapi.json"], seconds, scratch))
            s = requests.Session()
            s.headers["Authorization"] = f"Bearer {key}"
            page = s.get(f"{api.url}/v1/videos?limit=50&created_before={mid}", timeout=30).json()
            cursor = page["next_cursor"]
            if not cursor or len(page["data"]) != 50:
                raise RuntimeError(f"no full page and cursor in the middle: {json.dumps(page)[:500]}")
            deeper = s.get(f"{api.url}/v1/videos?limit=50&cursor={cursor}", timeout=30).json()
            if len(deeper["data"]) != 50 or deeper["data"][0]["created_at"] >= page["data"][-1]["created_at"]:
                raise RuntimeError("the cursor page does not continue the list")
            ids = [r[0] for r in db.query(f"SELECT id FROM videos WHERE tenant_id = '{tenant}' LIMIT 200")]
            cases = {"get video": [f"/v1/videos/{i}" for i in ids],
                     "list first page": ["/v1/videos?limit=50"],
                     "list cursor mid page": [f"/v1/videos?limit=50&cursor={cursor}"]}
            for name, paths in cases.items():
                fig = wrk(api, key, paths, seconds, scratch)
                results[(name, n)] = fig[2]
                report(name, n, fig)
            if n == 100000:
                last = page["data"][-1]
                row = db.query(f"SELECT created_at, id FROM videos WHERE id = '{last['id']}'")[0]
                explain(db, tenant, row)
        for name in ("get video", "list first page", "list cursor mid page"):
            print(f"{name:22s} p99 ratio 100000/1000: {results[(name, 100000)] / results[(name, 1000)]:.2f}x "
                  f"(target <= 1.5x; load {loadavg()})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
