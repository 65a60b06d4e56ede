#!/usr/bin/env python3
"""bench_orch.py — the orchestrator benchmark (issue #10), against the real
engine (its own `podman system service`), one real mcloud-agent and one
real mcloud-orchestrator on the stack's Redis and MariaDB (the cluster
tests' harness: tests/integration/orchestrator/cluster_test.py, its own
database, lock and key prefix, every container removed at the end).

  A. start-to-healthy: N instances of the upload image placed by
     `mcloud scale upload 1 -> 1+N`, until `mcloud ps` shows all healthy and
     ready, against the limit: N containers of the same image, settings and
     limits created and started directly through the same engine API, in
     parallel, each polled on /healthz and /readyz every 50 ms. Alternated,
     --reps times; the ratio of the medians (target <= 1.2). Each
     orchestrated run's time is broken down from the daemons' own log lines
     (order accepted, engine create, start, first health answer, seen in
     `mcloud ps`).
  B. detection -> replacement: the container's process SIGKILLed, until
     `mcloud ps` shows a new container healthy and ready (polled every
     100 ms); p50 and p99 over --kills kills.
  C. control-plane cost: 50 containers of a minimal image
     (localhost/mcloud-health:bench: healthd.c, static, FROM scratch;
     answers health checks only, so no backing server is the limit) placed
     and healthy, then the orchestrator's and the agent's CPU share of one
     core over --rest seconds at rest (targets < 1 %), and their peak RSS
     (VmHWM; targets < 20 MiB each).

The 1-minute load average is printed beside every figure. Timings are
figures, never asserted.

    eval "$(scripts/stack.sh env)"; make images
    $MCLOUD_HOME/cache/venv/bin/python tests/bench/orchestrator/bench_orch.py --build build --json /tmp/orch.json
"""

import argparse
import calendar
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "integration", "orchestrator"))
sys.path.insert(0, os.path.join(HERE, ".."))
import benchlib  # noqa: E402
import cluster_test as ct  # noqa: E402
import orch_test  # noqa: E402
from orch_test import Failure, Harness, Orchestrator, run  # noqa: E402

UPLOAD_IMAGE = ct.IMAGE
HEALTH_IMAGE = "localhost/mcloud-health:bench"
HEALTH_FAST = "{interval: 250ms, timeout: 250ms, failures: 3}"
RESTART_FLAT = "{attempts: 1000, interval: 60s, delay: 200ms, max_delay: 200ms}"
UPLOAD_RES = "{cpus: 0.2, memory: 256M, pids: 256}"
HEALTH_RES = "{cpus: 0.01, memory: 16M, pids: 16}"


def load():
    return round(os.getloadavg()[0], 1)


def finish(name, results, json_path, problems, h):
    """A bench's end: the results printed (and written to json_path), exit
    non-zero with what went wrong, else the harness's scratch removed."""
    results["load_end"] = load()
    print(json.dumps(results, indent=1))
    if json_path:
        with open(json_path, "w") as f:
            json.dump(results, f, indent=1)
    if problems:
        sys.exit(f"{name}: " + "; ".join(problems))
    if h:
        shutil.rmtree(h.scratch, ignore_errors=True)


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100 * len(xs) + 0.5)) - 1))]


def build_health_image(scratch):
    """healthd.c, static, in a FROM-scratch image (no registry needed)."""
    d = os.path.join(scratch, "health-image")
    os.makedirs(d)
    run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-O2", "-static", "-o", os.path.join(d, "healthd"),
         os.path.join(HERE, "healthd.c")])
    with open(os.path.join(d, "Containerfile"), "w") as f:
        f.write('FROM scratch\nCOPY healthd /healthd\nUSER 65534\nENTRYPOINT ["/healthd"]\n')
    run(["podman", "build", "-q", "-t", HEALTH_IMAGE, d])


# ---- A: start-to-healthy ------------------------------------------------------


def log_lines(path, offset):
    """The JSON log lines of a daemon's log written after offset."""
    with open(path) as f:
        f.seek(offset)
        out = []
        for line in f:
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out


def ts(line):
    t = line["ts"]
    return calendar.timegm(time.strptime(t[:19], "%Y-%m-%dT%H:%M:%S")) + float("0." + t[20:23])


def breakdown(o, agent, offsets, t0_wall, took, n):
    """Where the orchestrated start's time went, per new instance, from the
    orchestrator's and the agent's own log lines (ms, max over instances):
    order = `mcloud scale` -> the order accepted by the agent; create and
    start = the engine's calls; answer = start -> first health answer;
    seen = first answer (last instance) -> `mcloud ps` shows all healthy."""
    orders = {l["instance"]: ts(l) for l in log_lines(o.log_path, offsets[0])
              if l.get("msg") == "order" and l.get("order") == "start"}
    started = {l["instance"]: l for l in log_lines(agent.log_path, offsets[1]) if l.get("msg") == "container started"}
    answers = {l["instance"]: l for l in log_lines(agent.log_path, offsets[1])
               if l.get("msg") == "container answers its health check"}
    names = [f"upload-{i}" for i in range(1, n + 1)]
    if not all(x in orders and x in started and x in answers for x in names):
        return None
    b = {"order_ms": max((orders[x] - t0_wall) * 1000 for x in names),
         "create_ms": max(float(started[x]["create_ms"]) for x in names),
         "start_ms": max(float(started[x]["start_ms"]) for x in names),
         "answer_ms": max(float(answers[x]["after_start_ms"]) for x in names),
         "last_answer_ms": max((ts(answers[x]) - t0_wall) * 1000 for x in names)}
    b["seen_ms"] = took * 1000 - b["last_answer_ms"]
    return {k: round(v) for k, v in b.items()}


def orchestrated_start(c, o, n, agent=None):
    """`mcloud scale upload 1+n` until all 1+n are healthy and ready; then back
    to 1. The time, and where it went (breakdown) when agent is given."""
    names = [f"upload-{i}" for i in range(n + 1)]
    offsets = (os.path.getsize(o.log_path), os.path.getsize(agent.log_path)) if agent else None
    t0, t0_wall = time.monotonic(), time.time()
    r = c.h.cli_run(o, "scale", "upload", str(n + 1), "--no-wait")
    if r.returncode != 0:
        raise Failure(f"mcloud scale: {r.stdout} {r.stderr}")
    ct.wait_for(f"{n + 1} upload instances healthy", lambda: c.all_healthy(o, names))
    took = time.monotonic() - t0
    parts = breakdown(o, agent, offsets, t0_wall, took, n) if agent else None
    if parts:
        benchlib.log(f"A breakdown (ms, max over the {n}): {parts}")
    r = c.h.cli_run(o, "scale", "upload", "1", "--no-wait")
    if r.returncode != 0:
        raise Failure(f"mcloud scale back: {r.stdout} {r.stderr}")
    ct.wait_for("back to 1 instance", lambda: c.all_healthy(o, ["upload-0"]))
    ct.wait_for("the stopped containers gone", lambda: len(c.containers()) == 1)
    return took, parts


def engine(c, method, path, body=None):
    """One Docker-API call on the cluster's podman socket (curl speaks unix sockets)."""
    cmd = ["curl", "-sS", "--unix-socket", c.sock, "-X", method, "-w", "\n%{http_code}",
           f"http://d/v1.41{path}"]
    if body is not None:
        cmd += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    out = run(cmd)
    text, _, code = out.rpartition("\n")
    if not code.startswith("2"):
        raise Failure(f"{method} {path}: {code} {text[-500:]}")
    return json.loads(text) if text.strip() else None


def answers(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def direct_start(c, n, env, first_port, tag):
    """n containers created and started straight through the engine API, in
    parallel, each polled every 50 ms until /healthz and /readyz answer 200;
    the time until the last one does. Removed afterwards."""
    names = [f"mcloud-{tag}-direct-{i}" for i in range(n)]
    done = [None] * n
    errors = []

    def one(i):
        try:
            port = first_port + i
            e = [f"{k}={v}" for k, v in env.items()] + [f"MCLOUD_UPLOAD_PORT={port}", "MCLOUD_HTTP_BIND=127.0.0.1"]
            # the agent's own limits (common/docker.c: MC_DOCKER_NPROC, MC_DOCKER_NOFILE)
            body = {"Image": UPLOAD_IMAGE, "Env": e, "Labels": {"mcloud.bench": tag},
                    "HostConfig": {"NetworkMode": "host", "Memory": 256 << 20, "NanoCpus": 200_000_000,
                                   "PidsLimit": 256, "Ulimits": [{"Name": "nproc", "Soft": 4096, "Hard": 4096},
                                               {"Name": "nofile", "Soft": 16384, "Hard": 16384}]}}
            cid = engine(c, "POST", f"/containers/create?name={names[i]}", body)["Id"]
            engine(c, "POST", f"/containers/{cid}/start")
            while not (answers(port, "/healthz") and answers(port, "/readyz")):
                if time.monotonic() - t0 > ct.START_S:
                    raise Failure(f"{names[i]} not healthy after {ct.START_S} s")
                time.sleep(0.05)
            done[i] = time.monotonic()
        except Exception as ex:  # reported below
            errors.append(f"{names[i]}: {ex}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = max(x for x in done if x) - t0 if all(done) else None
    subprocess.run(["podman", "rm", "-f", "-t", "0", *names], capture_output=True)
    if errors:
        raise Failure("; ".join(errors))
    return took


def part_a(c, o, agent, n, reps, results):
    env = {k: v for k, v in ct.ENV.items() if k in ct.STACK_ENV or k.startswith(ct.STACK_ENV_PREFIXES)}
    direct_ports = ct.port_block(n + 11)
    orch, direct, parts = [], [], []
    for rep in range(reps):
        la = load()
        t, b = orchestrated_start(c, o, n, agent)
        orch.append((t, la))
        parts.append(b)
        benchlib.log(f"A rep {rep + 1}: orchestrated {n} instances healthy in {t:.2f} s (load {la})")
        la = load()
        t = direct_start(c, n, env, direct_ports, c.tag)
        direct.append((t, la))
        benchlib.log(f"A rep {rep + 1}: direct {n} containers healthy in {t:.2f} s (load {la})")
    mo, md = statistics.median(t for t, _ in orch), statistics.median(t for t, _ in direct)
    results["start_to_healthy"] = {"instances": n, "orchestrated_s": orch, "direct_s": direct, "breakdown_ms": parts,
                                   "median_orchestrated_s": mo, "median_direct_s": md, "ratio": mo / md}
    benchlib.log(f"A: median orchestrated {mo:.2f} s / direct {md:.2f} s = {mo / md:.2f} (target <= 1.2)")


# ---- B: detection -> replacement ----------------------------------------------


def part_b(c, o, kills, results):
    cname = f"mcloud-{c.node(1)}-upload-0"
    samples = []
    for k in range(kills):
        ps = ct.wait_for("upload-0 healthy", lambda: c.all_healthy(o, ["upload-0"]))
        old = ps["upload-0"]["running"][0]["container_id"]
        pid = run(["podman", "inspect", "-f", "{{.State.Pid}}", cname]).strip()
        la = load()
        t0 = time.monotonic()
        os.kill(int(pid), signal.SIGKILL)

        def replaced():
            p = c.all_healthy(o, ["upload-0"])
            return p and p["upload-0"]["running"][0]["container_id"] != old

        while not replaced():
            if time.monotonic() - t0 > ct.START_S:
                raise Failure(f"kill {k + 1}: upload-0 not replaced after {ct.START_S} s")
            time.sleep(0.1)
        samples.append((time.monotonic() - t0, la))
        benchlib.log(f"B kill {k + 1}/{kills}: replaced and healthy in {samples[-1][0]:.2f} s (load {la})")
        time.sleep(1)  # the restart policy's window sees a healthy instance between kills
    ts = [t for t, _ in samples]
    results["replacement"] = {"kills": kills, "samples": samples, "p50_s": pct(ts, 50), "p99_s": pct(ts, 99)}
    benchlib.log(f"B: dead container -> replacement healthy p50 {pct(ts, 50):.2f} s, p99 {pct(ts, 99):.2f} s")


# ---- C: the control plane's cost with 50 containers -----------------------------


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def part_c(c, o, agent, rest_s, results):
    services = {f"h{i}": (HEALTH_IMAGE, 25, {"resources": HEALTH_RES, "ports": "{env: PORT}",
                                             "health": "{path: /healthz, ready_path: /readyz, interval: 1s, "
                                                       "timeout: 1s, failures: 3}"}) for i in (1, 2)}
    names = ct.names_of(services)
    la = load()
    t0 = time.monotonic()
    c.deploy(o, services)
    ct.wait_for("50 health containers healthy", lambda: c.all_healthy(o, names))
    placed = time.monotonic() - t0
    benchlib.log(f"C: 50 containers placed and healthy in {placed:.1f} s (load {la})")
    time.sleep(5)  # the placement's own work done
    pids = {"orchestrator": o.proc.pid, "agent": agent.proc.pid}
    before = {k: cpu_s(p) for k, p in pids.items()}
    la0 = load()
    time.sleep(rest_s)
    la1 = load()
    out = {"containers": 50, "placed_s": placed, "rest_s": rest_s, "load": [la0, la1]}
    for k, p in pids.items():
        share = (cpu_s(p) - before[k]) / rest_s * 100
        hwm = benchlib.proc_status(p, "VmHWM") / 1024
        out[k] = {"cpu_percent_of_one_core": round(share, 3), "peak_rss_mib": round(hwm, 1)}
        benchlib.log(f"C: {k} at rest with 50 containers: {share:.2f} % of one core, peak RSS {hwm:.1f} MiB "
                     f"(load {la0}-{la1})")
    results["control_plane"] = out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True)
    ap.add_argument("--instances", type=int, default=8)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--rest", type=int, default=60)
    ap.add_argument("--only", choices=["a", "b", "c"], action="append")
    ap.add_argument("--json")
    args = ap.parse_args()
    parts = args.only or ["a", "b", "c"]
    for tool in ("cc", "podman", "curl"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed: run scripts/bootstrap.sh")
    benchlib.stop_servers_on_signal("bench_orch")
    results = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "load_start": load()}
    h = c = None
    problems = []
    try:
        h = orch_test.H = Harness(os.path.abspath(args.build))
        # the defaults users get, not the tests' faster rounds
        h.env.update({"MCLOUD_ORCHESTRATOR_INTERVAL_MS": "1000", "MCLOUD_ORCHESTRATOR_LOCK_TTL_MS": "5000"})
        c = ct.Cluster(h)
        if "c" in parts:
            build_health_image(h.scratch)
        agent = ct.Agent(c, c.node(1))
        o = Orchestrator(h, "orch")
        ct.wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
        if "a" in parts or "b" in parts:
            c.deploy(o, {"upload": (UPLOAD_IMAGE, 1, {"resources": UPLOAD_RES, "health": HEALTH_FAST,
                                                      "restart": RESTART_FLAT})})
            ct.wait_for("upload-0 healthy", lambda: c.all_healthy(o, ["upload-0"]))
        if "a" in parts:
            part_a(c, o, agent, args.instances, args.reps, results)
        if "b" in parts:
            part_b(c, o, args.kills, results)
        if "c" in parts:
            part_c(c, o, agent, args.rest, results)
    except Failure as e:
        problems.append(str(e))
    finally:
        if c:
            problems += c.close()
        if h:
            problems += h.close()
        subprocess.run(["podman", "rmi", "-f", HEALTH_IMAGE], capture_output=True)
    finish("bench_orch", results, args.json, problems, h)


if __name__ == "__main__":
    main()
