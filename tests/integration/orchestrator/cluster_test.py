"""cluster_test.py — the real mcloud-orchestrator driving real mcloud-agents
that run real containers of the mcloud images (`make images`) through their
own `podman system service`, against the stack's MariaDB, Redis, Kafka and
MinIO. Builds on orch_test.py's harness (database, lock and Redis key prefix
of its own); the agents heartbeat under the same private prefix
(agent.key_prefix) and carry node names of this run, so nothing of another
test or helper is seen or touched. Everything started — orchestrators,
agents, the podman service, the containers (label-filtered) — is stopped and
removed at the end, also on failure.

Scenarios (each its own ctest, label orchestrator):
  heal      one agent; deploy upload x2, ingest x1 (a second service of the
            upload image) -> `mcloud ps --json` all
            healthy; SIGKILL of the service's process inside a container ->
            replaced and healthy again; a restarted orchestrator adopts every
            running container (same container ids and start times).
  nodes     two agents as two nodes: SIGKILL of one agent and its containers
            -> its instances run on the other node; `mcloud drain` moves the
            instances off a node.
  crash     a container exiting at start (a bad setting) -> `mcloud ps`
            shows the crash loop, the last exit code and the restart
            schedule (growing, capped), `mcloud logs` its last lines.
  pending   resources larger than any node -> pending with the reason;
            scaling another service down frees the room and places it.
  revert    a rolling update to a version that never gets healthy (a bad
            setting) is reverted automatically; the instance runs the old
            template again, the history lists the revert.
  limits    `mcloud resources` on a running instance: its cgroup files
            (memory limit, CPU quota, pids.max) change with the same
            container id and start time and no order to replace it; a memory
            limit below what it uses is refused naming the field and the
            instance, nothing changed; the new limits hold after a SIGKILL of
            its process (a new container), after the agent restarts (its
            cgroup reset behind its back first: the agent re-applies) and
            after a drain moves it to another node.
  metrics   Debian's prometheus started first, following the orchestrator's
            file_sd target list: an instance placed after it started is
            scraped (up == 1 and its own mcloud_* metrics, with service,
            instance and node labels); scaled to 0, it leaves the list.
  canary    a new version with canary: 1 starts upload-2 next to upload-0/1 and
            waits; nothing moves until `mcloud rollout promote`, then both roll
            and the canary stops; never fewer than 2 healthy and ready copies
            at once (mcloud ps polled throughout); a second promote -> refused.
  scale     the real transcode image: `mcloud scale transcode 1 -> 4` while
            real jobs (worker_test.py's: a video row, a source in S3, the job
            message) run, each held after its first segment (the worker's
            test hold) so which workers are busy stays put; `mcloud scale
            transcode 1` -> the idle ones are stopped first, the kept one was
            busy, the busy victim gets SIGTERM and finishes its job within the
            grace (exit 0, its log: the signal, then "job done", read from
            `podman logs -f` and the central log; a victim that fails the
            check has its last log lines printed); every video
            ready with one published set, one "job done" and one ready event
            per job across all workers.
  standalone  upload x2 placed, everything of the run (orchestrator,
            agent, containers) on a private redis-server of its own; then
            the orchestrator and that Redis stopped: the containers keep
            answering /healthz and tus OPTIONS and HEAD of an upload made
            before; Redis started again (empty: it keeps nothing) and a new
            orchestrator adopts every container (same ids and start times,
            no order). The stack's Redis is never touched, so it runs beside
            the other tests.
"""

import argparse
import fcntl
import json
import re
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(__file__))
import orch_test  # noqa: E402
from orch_test import ENV, Failure, Harness, Orchestrator, expect, http, redis, run  # noqa: E402
from daemon_proc import stop_problem  # noqa: E402
import kafka_topics  # noqa: E402

# Hang guards only, never performance bounds (vfs storage makes a container
# start take many seconds on a loaded machine).
START_S = 300
# the tag of the images run (MCLOUD_TEST_IMAGE_TAG: an image built apart
# from a tree with changes, on a machine whose :latest others use)
TAG = os.environ.get("MCLOUD_TEST_IMAGE_TAG", "latest")
IMAGE = f"localhost/mcloud-upload:{TAG}"
# what the containers need of the stack (the spec's env)
STACK_ENV = ("MCLOUD_REDIS", "MCLOUD_KAFKA")
STACK_ENV_PREFIXES = ("MCLOUD_MYSQL_", "MCLOUD_S3_")


def wait_for(what, pred, limit=START_S):
    return orch_test.daemon_proc.wait_for(what, pred, limit, Failure, (Failure, json.JSONDecodeError, KeyError, IndexError))


_PORT_LOCKS = []  # held for the test's life: a block is this run's alone


def port_block(n):
    """A first port of n consecutive free ones below Linux's ephemeral range
    (32768-: the machine's many client connections hold ports there) and
    above the stack's (the spec's instance_ports). Free is not enough: two
    scenarios started together by ctest see the same ports free, so each
    block is also claimed with an exclusive lock on a file named after it
    (the lock dies with the process, whatever way it ends)."""
    for first in range(30000, 32768 - n, n + 11):
        lock = open(os.path.join(tempfile.gettempdir(), f"mcloud-port-block-{first}.lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        ok = True
        for p in range(first, first + n):
            with socket.socket() as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            _PORT_LOCKS.append(lock)
            return first
        lock.close()
    raise Failure(f"no {n} free consecutive ports")


class Agent:
    """One mcloud-agent as node `node` on the shared podman service."""

    def __init__(self, c, node):
        self.c, self.node = c, node
        self.port = orch_test.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.state = os.path.join(c.h.scratch, f"agent-{node}")
        self.log_path = os.path.join(c.h.scratch, f"agent-{node}.log")
        self.proc = None
        c.agents.append(self)
        self.start()

    def start(self):
        self.logf = open(self.log_path, "a")
        env = {**ENV, "MCLOUD_AGENT_PORT": str(self.port), "MCLOUD_AGENT_NODE": self.node,
               "MCLOUD_AGENT_ENGINE_SOCKET": self.c.sock, "MCLOUD_AGENT_STATE_DIR": self.state,
               "MCLOUD_AGENT_KEY_PREFIX": self.c.h.prefix}
        self.proc = subprocess.Popen([self.c.agent_bin], env=env, stdout=self.logf, stderr=subprocess.STDOUT)
        wait_for(f"agent {self.node} ready", self.ready, 60)

    def ready(self):
        if self.proc.poll() is not None:
            raise Failure(f"agent {self.node} exited {self.proc.returncode}:\n{self.log()[-3000:]}")
        return http("GET", self.url + "/readyz")[0] == 200

    def instances(self):
        st, _, body = http("GET", self.url + "/v1/instances")
        expect(st == 200, f"agent {self.node}: GET /v1/instances {st}")
        return {i["name"]: i for i in json.loads(body)["instances"]}

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        return stop_problem(self.proc, self.logf, f"agent {self.node}", self.log) if self.running() else None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.logf.close()


class Cluster:
    """The harness of orch_test plus a podman service and agents."""

    def __init__(self, h):
        self.h = h
        self.agent_bin = os.path.join(h.build, "orchestrator", "agent", "mcloud-agent")
        expect(os.access(self.agent_bin, os.X_OK), f"{self.agent_bin} is not built (cmake --build {h.build})")
        for tool in ("podman", "redis-cli", "mariadb"):
            expect(subprocess.run(["which", tool], capture_output=True).returncode == 0,
                   f"{tool} is not installed: run scripts/bootstrap.sh")
        expect(subprocess.run(["podman", "image", "exists", IMAGE]).returncode == 0,
               f"{IMAGE} missing: run make images (ctest's orchestrator.images fixture builds it)")
        self.tag = f"ot{h.id}"  # node names start with it: the containers' label filter
        self.agents = []
        self.on_close = []  # a scenario's own cleanups, run first (last added first)
        self.sock = os.path.join(h.scratch, "podman.sock")
        self.podman_log = open(os.path.join(h.scratch, "podman.log"), "w")
        self.podman = subprocess.Popen(["podman", "system", "service", "--time=0", f"unix://{self.sock}"],
                                       stdout=self.podman_log, stderr=subprocess.STDOUT)
        # 180 s: podman waits for its storage lock, which another podman user on
        # the machine (a container removal in vfs, an image build) can hold for minutes
        wait_for("the podman service", lambda: subprocess.run(
            ["curl", "-fsS", "--unix-socket", self.sock, "-o", "/dev/null", "http://d/_ping"], capture_output=True).returncode == 0, 180)
        self.ports = port_block(200)  # the spec's instance_ports
        # (name, fn -> problem or None) of a scenario, newest first: cleanups
        # after the containers are gone (their volumes...), late ones after
        # the harness too (a private Redis the orchestrators used)
        self.cleanups, self.late = [], []
        # the agents ship their containers' lines to a log topic of this run's
        # own (logs.topic; `mcloud logs` reads it), deleted at the end
        self.log_topic = f"mcloud-test-logs-{h.id}"
        ENV["MCLOUD_LOGS_TOPIC"] = self.log_topic
        self.late.append(("the log topic", lambda: kafka_topics.delete_topics([self.log_topic], h.build)))

    def node(self, n):
        return f"{self.tag}-node-{n}"

    def spec(self, services):
        """A spec of services {name: (image, count, extra YAML lines)}; every
        service gets the stack's settings in its env."""
        env = {k: v for k, v in ENV.items() if k in STACK_ENV or k.startswith(STACK_ENV_PREFIXES)}
        env["MCLOUD_HTTP_BIND"] = "127.0.0.1"
        lines = ["version: 1", f"instance_ports: {self.ports}-{self.ports + 199}", "services:"]
        for name, (image, count, extra) in services.items():
            e = dict(env, **extra.pop("env", {}))
            lines += [f"  {name}:", f"    image: {image}", f"    count: {count}",
                      "    env: {" + ", ".join(f"{k}: {json.dumps(v)}" for k, v in sorted(e.items())) + "}"]
            for k, v in {"resources": "{cpus: 0.25, memory: 256M, pids: 256}",
                         "health": "{interval: 1s, timeout: 1s, failures: 3}",
                         "restart": "{delay: 200ms, max_delay: 1600ms}", "stop_grace": "5s",
                         "update": "{max_parallel: 1, min_healthy_time: 1s, healthy_deadline: 5m}", **extra}.items():
                lines.append(f"    {k}: {v}")
        return "\n".join(lines) + "\n"

    def deploy(self, orch, services):
        path = os.path.join(self.h.scratch, "spec.yaml")
        with open(path, "w") as f:
            f.write(self.spec(services))
        r = self.h.cli_run(orch, "deploy", path, "--no-wait")
        expect(r.returncode == 0, f"deploy: exit {r.returncode}: {r.stdout} {r.stderr}")
        return r.stdout

    def ps(self, orch):
        r = self.h.cli_run(orch, "ps", "--json")
        expect(r.returncode == 0, f"mcloud ps --json: exit {r.returncode}: {r.stderr}")
        return {i["name"]: i for i in json.loads(r.stdout)["instances"]}

    def all_healthy(self, orch, names, node=None):
        """ps when each of names runs exactly once, healthy and ready (on
        node if given) and nothing else runs; else None."""
        ps = self.ps(orch)
        if sorted(ps) != sorted(names):
            return None
        for n in names:
            runs = ps[n]["running"]
            if len(runs) != 1 or runs[0]["state"] != "running" or not runs[0]["healthy"] or not runs[0]["ready"]:
                return None
            if node and runs[0]["node"] != node:
                return None
        return ps

    def containers(self):
        """{container name: (id, started_at)} of this run's containers, from podman itself."""
        out = run(["podman", "ps", "--filter", "label=mcloud.managed=true", "--format", "{{.Names}}"])
        names = [n for n in out.split() if n.startswith(f"mcloud-{self.tag}-")]
        got = {}
        if names:  # one podman call for all: each may wait long for podman's locks while others create
            for line in run(["podman", "inspect", "-f", "{{.Name}} {{.Id}} {{.State.StartedAt}}", *names]).splitlines():
                name, cid, started = line.split(" ", 2)
                got[name.lstrip("/")] = (cid, started.strip())
        return got

    def leftovers(self):
        out = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True).stdout
        return [n for n in out.split() if n.startswith(f"mcloud-{self.tag}-")]

    def close(self):
        problems = []
        t0 = time.monotonic()
        for f in reversed(self.on_close):
            try:
                f()
            except Exception as e:  # noqa: BLE001 (each cleanup runs, whatever the others did)
                problems.append(f"cleanup: {type(e).__name__}: {e}")
        for a in self.agents:
            p = a.stop()
            if p:
                problems.append(p)
            redis("DEL", f"{self.h.prefix}:node:{a.node}")
        t_agents = time.monotonic()
        # the service first: a create an agent asked for just before its
        # stop must not land after the removal
        if self.podman.poll() is None:
            self.podman.terminate()
            try:
                self.podman.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.podman.kill()
                self.podman.wait()
        self.podman_log.close()
        t_podman = time.monotonic()
        for _ in range(5):
            for a in self.agents:
                subprocess.run(["podman", "rm", "-f", "-t", "0", "--filter", f"label=mcloud.node={a.node}"],
                               capture_output=True)
            if not self.leftovers():
                break
            time.sleep(2)
        if self.leftovers():
            problems.append(f"containers left behind: {self.leftovers()}")
        t_rm = time.monotonic()
        problems += run_cleanups(self.cleanups)
        print(f"cleanup: agents {t_agents - t0:.1f} s, podman service {t_podman - t_agents:.1f} s, containers "
              f"{t_rm - t_podman:.1f} s, the rest {time.monotonic() - t_rm:.1f} s")
        return problems


C = None


def run_cleanups(steps):
    problems = []
    for name, fn in reversed(steps):
        try:
            p = fn()
        except Exception as e:  # cleanup goes on; the error is reported
            p = f"{name}: {type(e).__name__}: {e}"
        if p:
            problems.append(p)
    return problems


def two_services(upload=2, ingest=1):
    """upload xN and a second service, ingest, of the same image: two
    services without a second image to build (the stream image would add
    minutes of vfs build time to the CI's images fixture)."""
    return {"upload": (IMAGE, upload, {}),
            "ingest": (IMAGE, ingest, {"ports": "{env: MCLOUD_UPLOAD_PORT}"})}


def names_of(services):
    return [f"{s}-{i}" for s, (_, n, _) in services.items() for i in range(n)]


# ---- heal --------------------------------------------------------------------


def scenario_heal(c):
    h = c.h
    Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    services = two_services()
    out = c.deploy(o, services)
    expect(f"+ service upload (2 x {IMAGE})" in out, f"no diff printed: {out}")
    names = names_of(services)
    ps = wait_for("upload x2 and ingest x1 healthy in mcloud ps", lambda: c.all_healthy(o, names, c.node(1)))
    print(f"ok: deployed {', '.join(sorted(ps))}, all healthy on {c.node(1)}")

    victim = ps["upload-1"]["running"][0]
    cname = f"mcloud-{c.node(1)}-upload-1"
    pid = run(["podman", "inspect", "-f", "{{.State.Pid}}", cname]).strip()
    expect(pid.isdigit() and int(pid) > 0, f"no pid for {cname}: {pid!r}")
    os.kill(int(pid), signal.SIGKILL)

    def replaced():
        ps = c.all_healthy(o, names, c.node(1))
        r = ps and ps["upload-1"]["running"][0]
        return r and r["container_id"] != victim["container_id"] and r["restarts"] >= 1 and r

    r = wait_for("upload-1 replaced and healthy again", replaced)
    expect(r["last_exit_code"] == 137, f"last exit code {r['last_exit_code']}, not 137 (SIGKILL)")
    print(f"ok: SIGKILL of upload-1's process -> replaced ({r['restarts']} restart, exit 137) and healthy")

    before = c.containers()
    expect(len(before) == 3, f"podman shows {sorted(before)}")
    sent = o.status()["orders_sent"]
    o.kill()
    o2 = Orchestrator(h, "orch-restarted")
    wait_for("the restarted orchestrator to become active", lambda: o2.status()["role"] == "active", 60)
    ps = wait_for("the restarted orchestrator to see every instance healthy", lambda: c.all_healthy(o2, names))
    time.sleep(3 * 0.2 + 2)  # several rounds (200 ms) and a heartbeat (2 s): any order would be out
    after = c.containers()
    expect(after == before, f"containers changed across the orchestrator restart:\n{before}\n{after}")
    expect(o2.status()["orders_sent"] == 0, f"the restarted orchestrator sent orders: {o2.status()} (before: {sent})")
    ids = sorted(i["running"][0]["container_id"] for i in c.all_healthy(o2, names).values())
    expect(ids == sorted(cid for cid, _ in after.values()), f"ps ids {ids} are not podman's {after}")
    print(f"ok: a restarted orchestrator adopts all {len(after)} containers (same ids and start times, no order)")


# ---- nodes -------------------------------------------------------------------


def on_node(ps, node):
    return sorted(n for n, i in ps.items() for r in i["running"] if r["node"] == node)


def scenario_nodes(c):
    h = c.h
    n1, n2, n3 = c.node(1), c.node(2), c.node(3)
    Agent(c, n1)
    a2 = Agent(c, n2)
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    services = two_services(ingest=0)  # few containers: vfs makes each start slow
    del services["ingest"]
    names = names_of(services)
    c.deploy(o, services)
    ps = wait_for("upload x2 healthy on two nodes", lambda: c.all_healthy(o, names))
    lost = on_node(ps, n2)
    expect(lost and on_node(ps, n1), f"not spread over both nodes: {n1} {on_node(ps, n1)}, {n2} {lost}")
    print(f"ok: spread: {n1} runs {on_node(ps, n1)}, {n2} runs {lost}")

    a2.kill()
    subprocess.run(["podman", "rm", "-f", "-t", "0", "--filter", f"label=mcloud.node={n2}"], capture_output=True)
    ps = wait_for(f"{n2}'s instances running on {n1}", lambda: c.all_healthy(o, names, n1))
    wait_for(f"{n2} gone from mcloud nodes", lambda: n2 not in
             [n["node"] for n in json.loads(h.cli_run(o, "nodes", "--json").stdout)["nodes"]])
    print(f"ok: SIGKILL of {n2}'s agent and containers -> {lost} run on {n1}, healthy")

    Agent(c, n3)
    wait_for(f"{n3} in mcloud nodes", lambda: n3 in
             [n["node"] for n in json.loads(h.cli_run(o, "nodes", "--json").stdout)["nodes"]], 60)
    r = h.cli_run(o, "drain", n1)
    expect(r.returncode == 0, f"mcloud drain {n1}: exit {r.returncode}: {r.stdout} {r.stderr}")
    ps = wait_for(f"every instance moved from {n1} to {n3}", lambda: c.all_healthy(o, names, n3))
    wait_for(f"{n1}'s containers stopped", lambda: not [n for n in c.containers() if n.startswith(f"mcloud-{n1}-")])
    print(f"ok: mcloud drain {n1} -> {names} healthy on {n3}, {n1}'s containers stopped")


# ---- crash -------------------------------------------------------------------


def scenario_crash(c):
    h = c.h
    a = Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    # http.bind that is no address: mcloud-upload exits 1 at start, saying why
    c.deploy(o, {"upload": (IMAGE, 1, {"env": {"MCLOUD_HTTP_BIND": "not-an-address"},
                                                                   "restart": "{delay: 200ms, max_delay: 800ms}"})})

    def looping():
        r = c.ps(o)["upload-0"]["running"]
        return r and r[0]["restarts"] >= 4 and r[0]

    r = wait_for("four restarts of upload-0 in mcloud ps", looping)
    expect(r["last_exit_code"] == 1, f"last exit code {r['last_exit_code']}, not 1")
    expect(not r["healthy"], f"a crash-looping instance shows healthy: {r}")
    table = h.cli_run(o, "ps").stdout
    row = [line for line in table.splitlines() if line.startswith("upload-0 ")]
    expect(row and "failing" in row[0] and " 1 " in row[0], f"mcloud ps does not show the crash loop:\n{table}")
    def cause():  # the agent asks a busy engine for the logs: an answer may time out
        r = h.cli_run(o, "logs", "upload-0", "--tail", "20")
        if "is not an IPv4 address" in r.stdout:
            return True
        raise Failure(f"mcloud logs upload-0: {(r.stdout + r.stderr)[-300:]}")

    wait_for("mcloud logs upload-0 to show the cause", cause, 120)
    sched = c.ps(o)["upload-0"]["running"][0]["restart_schedule_ms"]  # the agent's, passed on
    expect(sched == a.instances()["upload-0"]["restart_schedule_ms"][:len(sched)],
           f"mcloud ps shows another schedule than the agent's: {sched}")
    # jittered into [d/2, d] of d = min(800, 200 * 2^k): growing, capped
    expect(len(sched) >= 4, f"{len(sched)} delays recorded for {r['restarts']} restarts: {sched}")
    for k, v in enumerate(sched):
        d = min(800, 200 * 2 ** k)
        expect(d // 2 <= v <= d, f"restart {k} waited {v} ms, outside [{d // 2}, {d}]: {sched}")
    expect(max(sched) <= 800 and sched[3] >= 400, f"schedule did not reach the cap: {sched}")
    print(f"ok: crash loop in mcloud ps ({r['restarts']} restarts, exit 1, failing), the cause in mcloud logs, "
          f"schedule {sched} ms growing and capped")


# ---- pending -----------------------------------------------------------------


def scenario_pending(c):
    h = c.h
    Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    cpus = wait_for("the node in mcloud nodes", lambda: json.loads(h.cli_run(o, "nodes", "--json").stdout)
                    ["nodes"][0]["cpus"], 60)
    big = {"resources": f"{{cpus: {cpus * 0.6:.2f}, memory: 256M, pids: 256}}"}
    services = two_services(upload=1)
    for _, _, extra in services.values():
        extra.update(big)
    c.deploy(o, services)
    ps = wait_for("upload-0 healthy", lambda: (p := c.ps(o)) and p["upload-0"]["running"]
                  and p["upload-0"]["running"][0]["healthy"] and p)
    time.sleep(2)  # more rounds: ingest-0 must stay pending
    ps = c.ps(o)
    reason = ps["ingest-0"]["pending"]
    expect(reason.startswith("no node has room") and not ps["ingest-0"]["running"] and not ps["ingest-0"]["node"],
           f"ingest-0 is not pending for room: {ps['ingest-0']}")
    table = h.cli_run(o, "ps").stdout
    expect(any(line.startswith("ingest-0 ") and "pending" in line and "no node has room" in line
               for line in table.splitlines()), f"mcloud ps does not show the pending reason:\n{table}")
    print(f"ok: ingest-0 pending ({reason}), upload-0 runs")

    r = h.cli_run(o, "scale", "upload", "0", "--no-wait")
    expect(r.returncode == 0, f"mcloud scale upload 0: {r.stdout} {r.stderr}")
    wait_for("ingest-0 placed and healthy once upload-0 left", lambda: c.all_healthy(o, ["ingest-0"]))
    print("ok: scaling upload down to 0 freed the room: ingest-0 placed and healthy")


# ---- revert ------------------------------------------------------------------


def scenario_revert(c):
    h = c.h
    Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    update = {"update": "{max_parallel: 1, min_healthy_time: 1s, healthy_deadline: 40s, auto_revert: true}"}
    c.deploy(o, {"upload": (IMAGE, 1, dict(update))})
    ps = wait_for("upload-0 healthy at version 1", lambda: c.all_healthy(o, ["upload-0"]))
    expect(ps["upload-0"]["running"][0]["spec_version"] == 1, f"upload-0 runs {ps['upload-0']}")

    # version 2 cannot start (http.bind is no address): it never becomes healthy
    out = c.deploy(o, {"upload": (IMAGE, 1, dict(update, env={"MCLOUD_HTTP_BIND": "not-an-address"}))})
    expect("~ upload.env" in out, f"deploy of the broken version printed no diff: {out}")

    def reverted():
        hist = json.loads(http("GET", o.url + "/v1/spec/versions", h.token)[2])["versions"]
        return [v for v in hist if v["reason"] == "revert"] and hist

    hist = wait_for("the failed rollout reverted automatically", reverted)
    latest = max(v["version"] for v in hist)
    expect(latest == 3 and [v["reason"] for v in hist if v["version"] == 3] == ["revert"],
           f"history: {[(v['version'], v['reason']) for v in hist]}")

    def back():
        ps = c.all_healthy(o, ["upload-0"])
        return ps and ps["upload-0"]["running"][0]["spec_version"] == 1 and ps

    wait_for("upload-0 healthy on the reverted template (version 1)", back)
    served = json.loads(http("GET", o.url + "/v1/spec", h.token)[2])
    if "not-an-address" in served["spec"]:  # say what each version changed: the revert's target is in there
        hist = json.loads(http("GET", o.url + "/v1/spec/versions", h.token)[2])["versions"]
        raise Failure(f"the served spec (version {served['version']}) still has the broken setting:\n{served['spec']}\n"
                      + "\n".join(f"version {v['version']} ({v['reason']}): {v['diff']}" for v in hist))
    print(f"ok: a version whose health check fails is reverted automatically (history "
          f"{[(v['version'], v['reason']) for v in sorted(hist, key=lambda v: v['version'])]}), upload-0 healthy again")


# ---- scale -------------------------------------------------------------------

TRANSCODE_IMAGE = f"localhost/mcloud-transcode:{TAG}"
HOLD_RELEASE = "/tmp/mcloud-hold-release"  # inside each transcode container


def need_image(image):
    expect(subprocess.run(["podman", "image", "exists", image]).returncode == 0,
           f"{image} missing: run make images (ctest's orchestrator.images fixture builds it)")


class ContainerLogs:
    """Follows every container of this run with `podman logs -f` into
    scratch files (the agent removes a stopped container with its logs).
    The follower may end when the container is stopped, before the lines
    written after the signal: victim_records adds the central log's."""

    def __init__(self, c):
        self.c, self.procs, self.files = c, {}, {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                for name, (cid, _) in self.c.containers().items():
                    if cid not in self.procs:
                        path = os.path.join(self.c.h.scratch, f"{name}.{cid[:12]}.log")
                        self.files[cid] = (name, path)
                        self.procs[cid] = subprocess.Popen(["podman", "logs", "-f", cid], stdout=open(path, "w"),
                                                           stderr=subprocess.STDOUT)
            except Failure:
                pass  # a container removed while listed
            self.stopping.wait(0.5)

    def records(self, instance):
        """The JSON log records of every container of instance (e.g.
        transcode-1) in the order they started."""
        out = []
        for cid, (n, path) in list(self.files.items()):
            if not n.endswith(f"-{instance}"):
                continue
            with open(path, errors="replace") as f:
                for line in f:
                    if line.startswith("{"):
                        try:
                            out.append(json.loads(line))
                        except ValueError:
                            pass
        return out

    def stop(self):
        self.stopping.set()
        self.thread.join()
        for p in self.procs.values():
            if p.poll() is None:
                p.terminate()
            p.wait()


def central_records(c, o, instance):
    """instance's log records from the central log (`mcloud logs`): what the
    agent shipped to Kafka, drained from the engine right before it removed
    the container, so a removed container's last lines are there."""
    r = c.h.cli_run(o, "logs", instance, "--json", "--tail", "all")
    if r.returncode != 0:
        print(f"mcloud logs {instance}: exit {r.returncode}: {r.stderr.strip()[-300:]}", file=sys.stderr)
        return []
    out = []
    for line in r.stdout.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def victim_records(c, o, logs, instance):
    """instance's records from both sources, once each, in time order:
    `podman logs -f` (ContainerLogs) may end when the container is stopped
    and miss every line written after SIGTERM (a victim that exited 0 after
    finishing its job looked as if it had not), so the central log's lines
    are added."""
    seen, out = set(), []
    for rec in logs.records(instance) + central_records(c, o, instance):
        key = (rec.get("ts"), rec.get("msg"), rec.get("job"), rec.get("partitions"))
        if key not in seen:
            seen.add(key)
            out.append(rec)
    return sorted(out, key=lambda r: r.get("ts", ""))


def show_victim_log(c, o, logs, instance, last=60):
    """A scale-down victim's own log (it is removed with the container):
    its last lines, for a failure to say why."""
    recs = victim_records(c, o, logs, instance)
    keep = ("ts", "level", "msg", "job", "error", "reason", "partitions", "event")
    lines = [json.dumps({k: r[k] for k in keep if k in r}) for r in recs[-last:]]
    print(f"--- {instance}: its last {len(lines)} of {len(recs)} log records (podman logs -f and mcloud logs)\n"
          + "\n".join(lines), file=sys.stderr)


def transcode_spec(wh, count):
    env = {k: v for k, v in wh.worker_env.items() if k not in ("MCLOUD_TRANSCODE_PORT", "MCLOUD_TRANSCODE_TMP_DIR")}
    env.update({"MCLOUD_TRANSCODE_GRACE_MS": "120000", "MCLOUD_TRANSCODE_TEST_HOLD_AFTER_SEGMENTS": "1",
                "MCLOUD_TRANSCODE_TEST_HOLD_RELEASE_FILE": HOLD_RELEASE})
    return {"transcode": (TRANSCODE_IMAGE, count, {
        "env": env, "resources": "{cpus: 0.5, memory: 768M, pids: 512}",
        "health": "{interval: 1s, timeout: 1s, failures: 3, busy_metric: mcloud_transcode_running}",
        "stop_grace": "150s"})}


def scenario_scale(c):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "transcode_worker"))
    import worker_test as wt  # its job, video and output helpers

    h = c.h
    need_image(TRANSCODE_IMAGE)
    wh = wt.Harness(None, c.h.build)  # its own database, topics and consumer group
    c.on_close.append(lambda: wh.close(True))
    logs = ContainerLogs(c)
    c.on_close.append(logs.stop)
    agent = Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    c.deploy(o, transcode_spec(wh, 1))
    wait_for("transcode-0 healthy", lambda: c.all_healthy(o, ["transcode-0"]))
    clip = os.path.join(h.scratch, "clip.mp4")
    wt.make_clip(clip, 12, "426x240")
    jobs = {}

    def job():
        vid, key = wh.add_video(clip)
        return vid, key

    def busy_of(ps):
        return sorted(n for n, i in ps.items() if i["running"] and i["running"][0]["busy"])

    def hold(cname, on):
        cmd = ["touch", HOLD_RELEASE] if not on else ["rm", "-f", HOLD_RELEASE]
        r = subprocess.run(["podman", "exec", cname, *cmd], capture_output=True, text=True)
        expect(r.returncode == 0, f"podman exec {cname} {' '.join(cmd)}: {r.stderr}")

    vid, key = job()
    jobs[vid] = wh.publish_job(vid, key)
    wait_for("transcode-0 busy with a held job", lambda: busy_of(c.ps(o)) == ["transcode-0"])
    print("ok: transcode-0 runs a job (busy in mcloud ps, from its mcloud_transcode_running gauge)")

    r = h.cli_run(o, "scale", "transcode", "4", "--no-wait")
    expect(r.returncode == 0 and "~ transcode.count: 1 -> 4" in r.stdout, f"scale 4: {r.stdout} {r.stderr}")
    names = [f"transcode-{i}" for i in range(4)]
    wait_for("transcode x4 healthy while transcode-0's job runs", lambda: c.all_healthy(o, names))
    # the group's rebalance waits for the member in its job: let it finish,
    # then every worker holds partitions of its own
    cname0 = f"mcloud-{c.node(1)}-transcode-0"
    hold(cname0, False)
    wait_for("the first job done", lambda: wh.video(vid)["status"] == "ready")
    hold(cname0, True)

    def assignment():
        got = {}
        for n in names:
            cur = set()
            for rec in logs.records(n):
                parts = set(re.findall(r"\[(\d+)\]", rec.get("partitions", "")))
                if rec.get("msg") == "kafka partitions assigned":
                    cur |= parts
                elif rec.get("msg", "").startswith("kafka partitions"):
                    cur -= parts
            if not cur:
                return None
            got[n] = sorted(int(p) for p in cur)
        every = [p for ps in got.values() for p in ps]
        return len(every) == len(set(every)) and got

    owned = wait_for("each of the four workers owning partitions", assignment)
    for n in ("transcode-1", "transcode-2"):  # two held jobs: two busy, two idle
        vid, key = job()
        jobs[vid] = wh.publish_job(vid, key, partition=owned[n][0])
    print(f"ok: scaled 1 -> 4 while a job ran; partitions {owned}; two more jobs for transcode-1 and transcode-2")
    seen = []

    def settled():
        time.sleep(0.5)
        ps = c.all_healthy(o, names)
        seen.append(busy_of(ps) if ps else None)
        return len(seen) >= 6 and seen[-6:] == [seen[-1]] * 6 and seen[-1] == ["transcode-1", "transcode-2"]

    wait_for("transcode-1 and transcode-2 busy, steady", settled)
    busy, idle = ["transcode-1", "transcode-2"], ["transcode-0", "transcode-3"]

    def kept_busy_victim(busy, kept):
        return next(b for b in busy if b not in kept)

    r = h.cli_run(o, "scale", "transcode", "1", "--no-wait")
    expect(r.returncode == 0 and "~ transcode.count: 4 -> 1" in r.stdout, f"scale 1: {r.stdout} {r.stderr}")

    def agent_says(msg):
        return [json.loads(line) for line in agent.log().splitlines()
                if line.startswith("{") and f'"msg":"{msg}"' in line]

    terms = wait_for("SIGTERM sent to three instances", lambda: len(t := agent_says("stopping: SIGTERM sent")) >= 3 and t)
    victims = [t["instance"] for t in terms]
    kept = sorted(set(names) - set(victims))
    expect(len(terms) == 3 and len(kept) == 1, f"SIGTERM to {victims}")
    expect(kept[0] in busy, f"kept {kept[0]}, an idle one, while {busy} were busy")
    # The round's orders go out at once, so the agent may receive them in any
    # order: "idle first" is the orchestrator's choice, logged in decision
    # order; the agent must see each victim's busy flag as it was.
    flags = {t["instance"]: t["busy"] for t in terms}
    expect(flags == {idle[0]: "false", idle[1]: "false", kept_busy_victim(busy, kept): "true"},
           f"SIGTERM busy flags {flags}: the idle {idle} false, the busy victim true")
    stops = [json.loads(line) for line in o.log().splitlines() if line.startswith("{") and '"order":"stop"' in line]
    ordered = [(s["instance"], s.get("busy")) for s in stops]
    expect(sorted(n for n, _ in ordered[:2]) == idle and ordered[2:3] == [(kept_busy_victim(busy, kept), "true")],
           f"the orchestrator ordered stops {ordered}: not the idle {idle} first, then the busy one")
    wait_for(f"the idle {idle} stopped", lambda: sorted(s["instance"] for s in agent_says("container stopped")) == idle)
    time.sleep(5)  # the busy victim holds its job: it must still be running, in its grace
    gone = sorted(s["instance"] for s in agent_says("container stopped"))
    expect(gone == idle, f"stopped before its job could finish: {gone}")
    print(f"ok: scale 4 -> 1 kept the busy {kept[0]}; stops ordered for the idle {idle} first (gone), then for the "
          f"busy {kept_busy_victim(busy, kept)}, still running its job in the grace")

    # let every held job go on: the busy victims finish theirs within the grace
    def released():  # a worker may take a queued job and hold again: touch again each time
        for cname in c.containers():
            subprocess.run(["podman", "exec", cname, "touch", HOLD_RELEASE], capture_output=True)
        st = {v: wh.video(v)["status"] for v in jobs}
        return all(x in ("ready", "failed") for x in st.values()) and st

    st = wait_for("every video final", released)
    expect(all(x == "ready" for x in st.values()), f"videos {st}")
    wait_for("the victims gone", lambda: len(agent_says("container stopped")) == 3, 200)
    wait_for(f"only {kept[0]} left, healthy", lambda: c.all_healthy(o, kept))

    def finished_after_term(recs):
        sig = [i for i, r in enumerate(recs) if "stopping gracefully" in r.get("msg", "")]
        done = [i for i, r in enumerate(recs) if r.get("msg") == "job done"]
        return bool(sig and done and done[-1] > sig[0])

    victim = kept_busy_victim(busy, kept)
    # the victim's own lines, also those `podman logs -f` missed (see victim_records); the
    # central log gets them shortly after the agent drained them
    bounded = time.monotonic() + 60
    while not finished_after_term(recs := victim_records(c, o, logs, victim)) and time.monotonic() < bounded:
        time.sleep(1)
    problems = []
    for s in agent_says("container stopped"):
        if not (s["exit_code"] == "0" and s["grace_s"] == "150" and int(s["took_ms"]) < 150000):
            problems.append((s["instance"], f"{s['instance']} did not exit cleanly within its 150 s grace: {s}"))
    if not finished_after_term(recs):
        problems.append((victim, f"busy {victim} did not finish its job after SIGTERM: {recs[-8:]}"))
    for n, _ in problems:  # the evidence of why, before the failure
        show_victim_log(c, o, logs, n)
    expect(not problems, "; ".join(p for _, p in problems))
    closed = [r for r in recs if r.get("msg") == "kafka consumer closed"]
    print(f"ok: every victim exited 0 within its grace; the busy one finished its job after SIGTERM (its log: "
          f"{len(logs.records(victim))} records from podman logs -f, {len(central_records(c, o, victim))} from "
          f"mcloud logs; its consumer left the group in {closed[-1]['leave_ms'] if closed else '?'} ms and "
          f"closed in {closed[-1]['close_ms'] if closed else '?'} ms)")

    for vid, jid in jobs.items():  # one published set (no object outside it), its rows, playable outputs
        wt.check_published(wh, vid, jid, wt.duration(clip), ["240p"], attempt=int(wh.job(jid)["attempt"]))
    done = [r["job"] for n in names for r in victim_records(c, o, logs, n) if r.get("msg") == "job done"]
    expect(sorted(done) == sorted(jobs.values()), f"'job done' per job across the workers: {done}, jobs {jobs}")
    events = wt.consume_all(wh.topics["events"])
    replays = 0
    for vid, jid in jobs.items():
        # Events are at least once (transcode/job_run.c): a job whose offset
        # commit was lost to a rebalance is redelivered, and the worker that
        # gets it changes nothing and says "done" again for the published
        # set, with no duration. One done event carries the run's result;
        # any other must be such a replay of the same job, attempt and set.
        ev = [e for e in events if e.get("video_id") == vid and e.get("type") == "done"]
        ran = [e for e in ev if e.get("duration_s", 0) > 0]
        again = [e for e in ev if e.get("duration_s", 0) == 0]
        expect(len(ran) == 1 and all(e["job_id"] == jid and e["attempt"] == ran[0]["attempt"] and
                                     e["prefix"] == ran[0]["prefix"] for e in again),
               f"video {vid}: done events {ev}")
        replays += len(again)
    print(f"ok: {len(jobs)} jobs, each run once and published once (one rendition set, one done event with its "
          f"result; {replays} replayed done event(s) of a redelivered, already published job)")


# ---- standalone --------------------------------------------------------------

def scenario_standalone(c):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "edge"))
    from edge_test import RedisServer, tus  # the edge test's private Redis and tus client

    h = c.h
    expect(shutil.which("redis-server"), "redis-server is not installed: run scripts/bootstrap.sh")
    # the Redis this run's orchestrator, agent and containers use: its own,
    # so stopping it stops nobody else's (the stack's serves the other tests)
    private = RedisServer(h.scratch)
    c.late.append(("redis-server", lambda: private.stop() or None))
    ENV["MCLOUD_REDIS"] = private.addr
    ENV.pop("MCLOUD_REDIS_PASSWORD", None)
    Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    names = ["upload-0", "upload-1"]
    c.deploy(o, {"upload": (IMAGE, 2, {})})
    ps = wait_for("upload x2 healthy", lambda: c.all_healthy(o, names))
    bases = [f"http://127.0.0.1:{ps[n]['running'][0]['port']}" for n in names]
    auth = {"Authorization": f"Bearer {h.mint_token('local', 'upload')}"}  # the stack's tenant
    st, hdr = tus(bases[0], "POST", "/files/", {**auth, "Upload-Length": "1000"})
    expect(st == 201 and hdr.get("location"), f"tus create: {st} {hdr}")
    path = "/files/" + hdr["location"].rstrip("/").rsplit("/", 1)[1]
    st, hdr = tus(bases[0], "PATCH", path, {**auth, "Content-Type": "application/offset+octet-stream",
                                            "Upload-Offset": "0"}, os.urandom(400))
    expect(st == 204 and hdr.get("upload-offset") == "400", f"tus PATCH: {st} {hdr}")
    before = c.containers()
    expect(len(before) == 2, f"podman shows {sorted(before)}")

    def answers(when):
        for b in bases:
            st, _, _ = http("GET", b + "/healthz")
            expect(st == 200, f"{when}: {b}/healthz {st}")
            st, hdr = tus(b, "OPTIONS", "/files/", {})
            expect(st in (200, 204) and hdr.get("tus-version"), f"{when}: tus OPTIONS at {b}: {st} {hdr}")
            st, hdr = tus(b, "HEAD", path, auth)
            expect(st == 200 and hdr.get("upload-offset") == "400" and hdr.get("upload-length") == "1000",
                   f"{when}: tus HEAD at {b}: {st} {hdr}")

    answers("before")
    t0 = time.monotonic()
    print(f"ok: upload x2 placed and answering ({t0 - T0:.0f} s)")
    o.kill()
    private.stop()
    pong = subprocess.run(["redis-cli", "-p", str(private.port), "PING"], capture_output=True, text=True).stdout
    expect("PONG" not in pong, f"Redis at {private.addr} still answers after its stop")
    t_down = time.monotonic()
    for k in range(6):  # over several health rounds of the agent (interval 1 s, 3 failures: a restart)
        answers(f"orchestrator and Redis down (round {k + 1})")
        time.sleep(1)
    # (no container restarted meanwhile: the same ids and start times after the adoption below say so)
    print(f"ok: orchestrator and Redis ({private.addr}) stopped: both uploads answer /healthz, tus OPTIONS and "
          f"HEAD (offset 400 of 1000) in 6 rounds over {time.monotonic() - t_down:.0f} s")
    private.start()  # empty: the agent's heartbeat and the spec in MySQL are all the new one has
    t0 = time.monotonic()
    o2 = Orchestrator(h, "orch-after")
    wait_for("the new orchestrator to become active", lambda: o2.status()["role"] == "active", 120)
    t_active = time.monotonic()
    wait_for("the new orchestrator to see both instances healthy", lambda: c.all_healthy(o2, names))
    print(f"    active after {t_active - t0:.0f} s, both instances seen healthy after {time.monotonic() - t0:.0f} s")
    time.sleep(3 * 0.2 + 2)
    after = c.containers()
    expect(after == before, f"containers changed (restarted while Redis was down, or by the new orchestrator):\n"
           f"{before}\n{after}")
    expect(o2.status()["orders_sent"] == 0, f"the new orchestrator sent orders: {o2.status()}")
    answers("after")
    print(f"ok: Redis and the orchestrator back: every container adopted, none restarted since before the stop "
          f"(same ids and start times, no order) "
          f"({time.monotonic() - t0:.0f} s)")


# ---- limits ------------------------------------------------------------------


def cgroup_limits(pid):
    """(memory limit bytes, CPU quota per 100 ms period in us, pids.max) of
    the process pid's cgroup, read from the files themselves (v1 here; v2 on
    a stock Debian 12)."""
    with open(f"/proc/{pid}/cgroup") as f:
        paths = {}
        for line in f.read().splitlines():
            _, ctls, path = line.split(":", 2)
            for ctl in (ctls.split(",") if ctls else [""]):
                paths[ctl] = path

    def read(*parts):
        # /proc/PID/cgroup names the path from the root of the hierarchy; in
        # a container (make fresh-check runs podman nested) /sys/fs/cgroup is
        # mounted at the container's own cgroup, so that path's outer part is
        # not there: the longest tail of it that is names the same directory.
        *base, rel, name = parts
        comps = [p for p in rel.split("/") if p]
        for k in range(len(comps)):  # never the mount root itself: the container's own
            path = os.path.join("/sys/fs/cgroup", *base, *comps[k:], name)
            if os.path.exists(path):
                with open(path) as f:
                    return f.read().strip()
        raise Failure(f"no cgroup file {name} for {rel} under /sys/fs/cgroup/{'/'.join(base)}")

    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):  # v2
        d = paths[""].lstrip("/")
        quota, period = read(d, "cpu.max").split()
        return int(read(d, "memory.max")), int(quota) * 100000 // int(period), int(read(d, "pids.max"))
    cpu = read("cpu", paths["cpu"].lstrip("/"), "cpu.cfs_quota_us")
    period = read("cpu", paths["cpu"].lstrip("/"), "cpu.cfs_period_us")
    return (int(read("memory", paths["memory"].lstrip("/"), "memory.limit_in_bytes")),
            int(cpu) * 100000 // int(period), int(read("pids", paths["pids"].lstrip("/"), "pids.max")))


def scenario_limits(c):
    h = c.h
    t0 = time.monotonic()

    def at():  # seconds since the scenario began: where its time goes (each new container on vfs is slow)
        return f"[{time.monotonic() - t0:.0f} s]"

    n1, n2 = c.node(1), c.node(2)
    a1 = Agent(c, n1)
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    c.deploy(o, {"upload": (IMAGE, 1, {})})  # resources {cpus: 0.25, memory: 256M, pids: 256}
    wait_for("upload-0 healthy", lambda: c.all_healthy(o, ["upload-0"], n1))
    cname = f"mcloud-{n1}-upload-0"

    def limits_of(name):
        pid = run(["podman", "inspect", "-f", "{{.State.Pid}}", name]).strip()
        expect(pid.isdigit() and int(pid) > 0, f"no pid for {name}: {pid!r}")
        return cgroup_limits(int(pid))

    old = (256 << 20, 25000, 256)
    new = (512 << 20, 50000, 300)
    expect(limits_of(cname) == old, f"{cname} starts with {limits_of(cname)}, not the spec's {old}")
    before = c.containers()
    sent = o.status()["orders_sent"]
    version = o.status()["spec_version"]

    r = h.cli_run(o, "resources", "upload", "--cpus", "0.5", "--memory", "512M", "--pids", "300", "--timeout", "120")
    expect(r.returncode == 0, f"mcloud resources: exit {r.returncode}: {r.stdout} {r.stderr}")
    for line in ("~ upload.resources.memory: 256M -> 512M", "~ upload.resources.cpus: 0.25 -> 0.5",
                 "~ upload.resources.pids: 256 -> 300", "in place", f"upload-0 on {n1}: 0.5 CPUs, 512 MiB memory, 300 pids"):
        expect(line in r.stdout, f"mcloud resources did not print {line!r}:\n{r.stdout}")
    expect(limits_of(cname) == new, f"{cname}'s cgroup has {limits_of(cname)} after mcloud resources, not {new}")
    after = c.containers()
    expect(after == before, f"the container changed (a restart, not in place):\n{before}\n{after}")
    expect(o.status()["orders_sent"] == sent, f"orders to replace containers went out: {o.status()} (before: {sent})")
    hist = json.loads(http("GET", o.url + "/v1/spec/versions", h.token)[2])["versions"]
    expect(hist[0]["reason"] == "resources" and hist[0]["version"] == version + 1 and hist[0]["applied_by"] == "ops",
           f"the change is not a spec version of its own: {hist[0]}")
    print(f"{at()} ok: mcloud resources -> {cname}'s cgroup {old} -> {new} (memory bytes, CPU quota us, pids.max), same "
          f"container and start time, no order to replace it, version {hist[0]['version']} (resources, by ops)")
    print("    " + "\n    ".join(r.stdout.strip().splitlines()))

    # 40 MiB in the container's tmpfs, charged to its cgroup: a limit of 16M
    # is then below its usage (an idle mcloud-upload uses only a few MiB)
    run(["podman", "exec", cname, "sh", "-c", "head -c 40M /dev/zero > /dev/shm/mcloud-limits-fill"])
    wait_for("the agent to report upload-0's usage above 32 MiB",
             lambda: c.ps(o)["upload-0"]["running"][0]["usage"]["memory_bytes"] > 32 << 20, 60)
    r = h.cli_run(o, "resources", "upload", "--memory", "16M")
    said = r.stdout + r.stderr
    expect(r.returncode == 1 and "409" in said and "'memory'" in said and "upload-0" in said and n1 in said,
           f"a memory limit below the usage: exit {r.returncode}: {said}")
    expect(o.status()["spec_version"] == version + 1, f"a refused change was recorded: {o.status()}")
    # the agent checks too, from the cgroup now (a heartbeat may be 2 s old)
    fence = json.loads(http("GET", a1.url + "/v1/instances")[2])["fence"]
    put = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", "-X", "PUT", "-H", f"X-Mcloud-Fence: {fence}",
                          "--data-binary", json.dumps({"cpus": 0.5, "memory_bytes": 16 << 20, "pids": 300}),
                          f"{a1.url}/v1/instances/upload-0/resources"], capture_output=True, text=True)
    answer, code = put.stdout.rsplit("\n", 1)
    expect(code == "409" and "memory_below_usage" in answer and "'memory_bytes'" in answer and "upload-0" in answer,
           f"the agent took a memory limit below the usage: {code} {answer} {put.stderr}")
    expect(a1.instances()["upload-0"]["resources"]["memory_bytes"] == 512 << 20,
           f"the agent's refused change was recorded: {a1.instances()['upload-0']}")
    time.sleep(2 + 0.5)  # a heartbeat and rounds: an order would have been sent by now
    expect(limits_of(cname) == new and c.containers() == before, f"the refused change touched {cname}: {limits_of(cname)}")
    print(f"{at()} ok: a memory limit below the usage is refused, nothing changed: {said.strip()}; "
          f"the agent refuses it too: {code} {json.loads(answer)['detail']}")

    pid = run(["podman", "inspect", "-f", "{{.State.Pid}}", cname]).strip()
    os.kill(int(pid), signal.SIGKILL)
    first = before[cname][0]

    def restarted():
        ps = c.all_healthy(o, ["upload-0"], n1)
        return ps and ps["upload-0"]["running"][0]["container_id"] != first and ps

    wait_for("upload-0 replaced after SIGKILL and healthy", restarted)
    expect(limits_of(cname) == new, f"after a restart {cname} has {limits_of(cname)}, not {new}")
    print(f"{at()} ok: SIGKILL of upload-0's process -> a new container, with the new limits {new}")

    problem = a1.stop()
    expect(problem is None, f"agent {n1} did not stop cleanly: {problem}")
    # what a restart of the container by podman itself would do: back to the
    # limits podman persisted (the live update does not persist)
    cid = run(["podman", "inspect", "-f", "{{.Id}}", cname]).strip()
    reset = subprocess.run(["curl", "-fsS", "--unix-socket", c.sock, "-X", "POST", "-H", "Content-Type: application/json",
                            "-d", json.dumps({"memory": {"limit": 256 << 20, "swap": 512 << 20},
                                              "cpu": {"quota": 25000, "period": 100000}, "pids": {"limit": 256}}),
                            f"http://d/v4.0.0/libpod/containers/{cid}/update"], capture_output=True, text=True)
    expect(reset.returncode == 0 and limits_of(cname) == old, f"could not reset the cgroup: {reset.stderr} {limits_of(cname)}")
    a1.start()
    wait_for("the restarted agent to apply the limits again", lambda: limits_of(cname) == new, 60)
    expect(run(["podman", "inspect", "-f", "{{.Id}}", cname]).strip() == cid, "the agent restart replaced the container")
    print(f"{at()} ok: agent restart -> it adopts {cname} and applies {new} again (its cgroup was reset to {old} meanwhile)")

    Agent(c, n2)
    wait_for(f"{n2} in mcloud nodes", lambda: n2 in
             [n["node"] for n in json.loads(h.cli_run(o, "nodes", "--json").stdout)["nodes"]], 60)
    r = h.cli_run(o, "drain", n1)
    expect(r.returncode == 0, f"mcloud drain {n1}: exit {r.returncode}: {r.stdout} {r.stderr}")
    wait_for(f"upload-0 moved to {n2}", lambda: c.all_healthy(o, ["upload-0"], n2))
    moved = f"mcloud-{n2}-upload-0"
    expect(limits_of(moved) == new, f"after the drain {moved} has {limits_of(moved)}, not {new}")
    print(f"{at()} ok: mcloud drain {n1} -> upload-0 rescheduled on {n2} with the new limits {new}")


# ---- metrics -----------------------------------------------------------------


def scenario_metrics(c):
    h = c.h
    expect(shutil.which("prometheus"), "prometheus is not installed: run scripts/bootstrap.sh (Debian's prometheus)")
    sd = os.path.join(h.scratch, "targets.json")
    port = orch_test.free_port()
    conf = os.path.join(h.scratch, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                "scrape_configs:\n  - job_name: mcloud\n"
                f"    file_sd_configs: [{{files: [{json.dumps(sd)}], refresh_interval: 1s}}]\n")
    log = open(os.path.join(h.scratch, "prometheus.log"), "w")
    prom = subprocess.Popen(["prometheus", f"--config.file={conf}", f"--storage.tsdb.path={h.scratch}/prometheus",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for("prometheus ready", lambda: http("GET", base + "/-/ready")[0] == 200, 120)
        h.env["MCLOUD_ORCHESTRATOR_PROMETHEUS_SD_FILE"] = sd
        Agent(c, c.node(1))
        o = Orchestrator(h, "orch")
        wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
        c.deploy(o, {"upload": (IMAGE, 1, {})})
        ps = wait_for("upload-0 healthy", lambda: c.all_healthy(o, ["upload-0"], c.node(1)))
        with open(sd) as f:
            targets = json.load(f)
        want = [{"targets": [f"127.0.0.1:{ps['upload-0']['running'][0]['port']}"],
                 "labels": {"service": "upload", "instance": "upload-0", "node": c.node(1)}}]
        expect(targets == want, f"the file_sd list is {targets}, not {want}")

        def query(q):
            st, _, body = http("GET", base + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
            expect(st == 200, f"prometheus query {q}: {st} {body[:300]}")
            return json.loads(body)["data"]["result"]

        sel = f'service="upload",instance="upload-0",node="{c.node(1)}"'
        up = wait_for("prometheus to scrape upload-0", lambda: (r := query(f"up{{{sel}}}")) and r[0]["value"][1] == "1" and r)
        own = wait_for("a metric of upload-0 itself in prometheus",
                       lambda: query(f'count({{{sel},__name__=~"mcloud_.+"}})'))
        print(f"ok: prometheus (started before the container) scrapes upload-0 through the file_sd list: "
              f"up {up[0]['metric']}, {own[0]['value'][1]} mcloud_* series of it")
        r = h.cli_run(o, "scale", "upload", "0", "--no-wait")
        expect(r.returncode == 0, f"mcloud scale upload 0: {r.stdout} {r.stderr}")
        wait_for("upload-0 gone from the file_sd list", lambda: json.load(open(sd)) == [])
        print("ok: scaled to 0, upload-0 left the file_sd list")
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=30)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        log.close()


# ---- canary ------------------------------------------------------------------


class HealthyFloor:
    """Polls mcloud ps in a thread while a rollout runs: the fewest healthy
    and ready copies of the service seen at once (what an edge in front
    could route to)."""

    def __init__(self, c, orch, service):
        self.c, self.orch, self.service = c, orch, service
        self.fewest, self.polls, self.errors = None, 0, []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopping.is_set():
            try:
                ps = self.c.ps(self.orch)
                n = sum(1 for name, i in ps.items() if name.startswith(self.service + "-")
                        for r in i["running"] if r["state"] == "running" and r["healthy"] and r["ready"])
                self.fewest = n if self.fewest is None else min(self.fewest, n)
                self.polls += 1
            except (Failure, json.JSONDecodeError, KeyError) as e:
                self.errors.append(str(e))
            self.stopping.wait(0.2)

    def stop(self):
        self.stopping.set()
        self.thread.join()
        return self.fewest


def scenario_canary(c):
    h = c.h
    Agent(c, c.node(1))
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    update = {"update": "{max_parallel: 1, min_healthy_time: 1s, healthy_deadline: 4m, auto_revert: true, canary: 1}"}
    names = ["upload-0", "upload-1"]
    c.deploy(o, {"upload": (IMAGE, 2, dict(update))})
    wait_for("upload x2 healthy at version 1", lambda: c.all_healthy(o, names))
    floor = HealthyFloor(c, o, "upload")

    out = c.deploy(o, {"upload": (IMAGE, 2, dict(update, env={"MCLOUD_LOG_LEVEL": "debug"}))})
    expect("upload.env" in out, f"deploy of version 2 printed no diff: {out}")

    def rollout():
        r = h.cli_run(o, "rollout", "status", "upload", "--json")
        expect(r.returncode == 0, f"mcloud rollout status upload: exit {r.returncode}: {r.stderr}")
        return json.loads(r.stdout)

    def versions(ps):
        return {n: [x["spec_version"] for x in i["running"]] for n, i in ps.items()}

    def waiting():
        ps = c.all_healthy(o, names + ["upload-2"])
        return ps and rollout()["status"] == "waiting for promote" and versions(ps) == {
            "upload-0": [1], "upload-1": [1], "upload-2": [2]} and ps

    wait_for("the canary upload-2 healthy at version 2 beside upload-0/1 at version 1, the rollout waiting", waiting)
    time.sleep(5)  # many rounds: nothing else may move before the promote
    ps = c.ps(o)
    expect(versions(ps) == {"upload-0": [1], "upload-1": [1], "upload-2": [2]},
           f"the rollout moved on without a promote: {versions(ps)}")
    print("ok: canary: upload-2 runs version 2 next to upload-0/1 on version 1; the rollout waits for a promote")

    r = h.cli_run(o, "rollout", "promote", "upload")
    expect(r.returncode == 0, f"mcloud rollout promote upload: exit {r.returncode}: {r.stdout} {r.stderr}")

    def promoted():
        ps = c.all_healthy(o, names)
        return ps and versions(ps) == {"upload-0": [2], "upload-1": [2]} and rollout()["status"] == "done" and ps

    wait_for("upload-0/1 on version 2 and the canary gone after the promote", promoted)
    fewest = floor.stop()
    expect(floor.polls >= 10 and fewest is not None, f"the watcher polled mcloud ps {floor.polls} times: {floor.errors[:3]}")
    expect(fewest >= 2, f"only {fewest} healthy and ready upload instance(s) at one moment of the rollout (count 2)")
    print(f"ok: promote rolled upload-0/1 to version 2 and stopped the canary; never fewer than {fewest} healthy "
          f"and ready instances in {floor.polls} looks at mcloud ps")

    r = h.cli_run(o, "rollout", "promote", "upload")
    said = r.stdout + r.stderr
    expect(r.returncode != 0 and ("409" in said or "nothing" in said.lower()),
           f"a promote with nothing waiting: exit {r.returncode}: {said}")
    print(f"ok: a promote with nothing waiting is refused: {(r.stdout + r.stderr).strip().splitlines()[0]}")


# scenario name -> function(cluster); other files add theirs (roll_test.py)
SCENARIOS = {"heal": scenario_heal, "nodes": scenario_nodes, "crash": scenario_crash, "pending": scenario_pending,
             "revert": scenario_revert, "canary": scenario_canary, "scale": scenario_scale,
             "standalone": scenario_standalone, "limits": scenario_limits, "metrics": scenario_metrics}
T0 = time.monotonic()


def dump_agent_logs(c, problems):
    """When there were problems: the last lines of each agent's log."""
    if problems:
        for a in c.agents:
            print(f"--- agent {a.node} log (last lines)\n{a.log()[-3000:]}", file=sys.stderr)


def main():
    global C
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("scenario", choices=sorted(SCENARIOS))
    args = ap.parse_args()
    problems = []
    h = None
    t0 = time.monotonic()
    try:
        h = orch_test.H = Harness(os.path.abspath(args.build))
        C = Cluster(h)
        SCENARIOS[args.scenario](C)
    except Failure as e:
        problems.append(str(e))
    except Exception as e:  # a bug of the test itself: still clean up, still fail
        problems.append(f"{type(e).__name__}: {e}")
        raise
    finally:
        t_close = time.monotonic()
        if C:
            dump_agent_logs(C, problems)
            problems += C.close()
        if h:
            problems += h.close()
            orch_test.dump_logs(h.started, problems)
        if C:
            problems += run_cleanups(C.late)
    orch_test.exit_on(problems)
    shutil.rmtree(h.scratch, ignore_errors=True)  # kept for a look when it failed
    print(f"PASS orchestrator cluster {args.scenario} ({time.monotonic() - t0:.0f} s, of which "
          f"{time.monotonic() - t_close:.0f} s stopping and removing what it started)")


if __name__ == "__main__":
    main()
