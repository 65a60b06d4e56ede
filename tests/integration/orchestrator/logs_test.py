"""logs_test.py — the central log (cluster_test.py's harness: the real
orchestrator, a real agent on its own podman service, a container of the
upload image, the stack's Kafka), scenario `logs`:

  - a JSON line (level warn) and a plain line written into the container's
    stdout right before its main process is SIGKILLed are found afterwards
    by `mcloud logs` (read from Kafka), with their node, service, instance
    and the dead container's id; the plain line wrapped as msg;
  - --level warn keeps the warn line and leaves the info one; --grep keeps
    only matching lines; --since leaves a line shipped before the window
    and keeps one written after; bad flags are refused naming the flag;
  - Kafka unreachable (iptables DROP on the stack's Kafka port, removed
    also on failure): the agent keeps answering, a container still starts
    (`mcloud scale upload 3`), and once the buffer bound
    (MCLOUD_LOGS_BUFFER_LINES=20) is reached its drop counter
    mcloud_agent_log_lines_dropped_total rises; Kafka back, the buffered lines
    are delivered and shipping goes on;
  - `mcloud kafka partitions` grows the test's topic (6 -> 8, printed) and
    refuses a shrink and an equal count naming both numbers;
  - the node gone (agent SIGKILLed, its containers removed): the dead
    container's last lines are still in `mcloud logs`.

The log topic is the run's own (cluster_test's harness sets
MCLOUD_LOGS_TOPIC and deletes it at the end through
tests/support/kafka_topics.py); the containers are cluster_test's (removed
by their node label)."""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import cluster_test as ct  # noqa: E402
from cluster_test import ENV, IMAGE, Agent, Failure, Orchestrator, expect, http, run, wait_for  # noqa: E402
import daemon_proc  # noqa: E402  (tests/support, on the path through orch_test)

BUFFER_LINES = 20


def metric(agent, name):
    st, _, body = http("GET", agent.url + "/metrics")
    expect(st == 200, f"agent {agent.node}: GET /metrics {st}")
    m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", body.decode() if isinstance(body, bytes) else body, re.M)
    expect(m, f"agent {agent.node}: no {name} on /metrics")
    return float(m.group(1))


def write_lines(cname, *lines):
    """Writes lines into the container's stdout (its main process's fd 1,
    the engine's log pipe), from a process run inside it."""
    script = "".join(f"printf '%s\\n' {json.dumps(line)} > /proc/1/fd/1; " for line in lines)
    run(["podman", "exec", cname, "sh", "-c", script])


class Logs:
    def __init__(self, c, orch):
        self.c, self.orch = c, orch

    def run(self, *args):
        return self.c.h.cli_run(self.orch, "logs", *args)

    def lines(self, *args):
        r = self.run(*args, "--json", "--tail", "all")
        expect(r.returncode == 0, f"mcloud logs {' '.join(args)}: exit {r.returncode}: {r.stderr}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def with_text(self, text, *args):
        return [x for x in self.lines(*args) if text in x.get("msg", "")]


class Follower:
    """`mcloud logs ... -f` running, its output collected by threads."""

    def __init__(self, c, orch, *args):
        env = {**ENV, "MCLOUD_ORCHESTRATOR_URL": orch.url, "MCLOUD_OPERATOR_TOKEN": c.h.token}
        self.proc = subprocess.Popen([c.h.cli, "logs", *args, "-f"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env)
        self.lines, self.errors = [], []
        self.threads = [threading.Thread(target=self.read, args=(f, out), daemon=True)
                        for f, out in ((self.proc.stdout, self.lines), (self.proc.stderr, self.errors))]
        for t in self.threads:
            t.start()

    @staticmethod
    def read(f, out):
        for line in f:
            out.append(line.rstrip("\n"))

    def caught_up(self):
        """Once it has read the topic to its end (it says so), new lines only."""
        if self.proc.poll() is not None:
            raise Failure(f"mcloud logs -f exited {self.proc.returncode}: {self.errors}")
        return any("caught up" in e for e in self.errors)

    def stop(self):
        daemon_proc.terminate(self.proc)
        for t in self.threads:
            t.join(timeout=10)


def block_kafka(c):
    """An iptables rule dropping what goes to the stack's Kafka port,
    removed at cleanup whatever happens."""
    port = ENV["MCLOUD_KAFKA"].rsplit(":", 1)[1]
    rule = ["INPUT", "-p", "tcp", "--dport", port, "-m", "comment", "--comment", f"mcloud-logs-test-{c.tag}",
            "-j", "DROP"]
    expect(subprocess.run(["which", "iptables"], capture_output=True).returncode == 0,
           "iptables is not installed: apt-get install iptables (scripts/bootstrap.sh)")

    def unblock():
        while subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode == 0:
            r = subprocess.run(["iptables", "-D", *rule], capture_output=True, text=True)
            if r.returncode != 0:
                return f"iptables -D {' '.join(rule)}: {r.stderr.strip()}"
        return None

    c.cleanups.append(("the Kafka block", unblock))
    r = subprocess.run(["iptables", "-I", *rule], capture_output=True, text=True)
    expect(r.returncode == 0, f"iptables -I {' '.join(rule)}: {r.stderr.strip()}")
    return unblock


def scenario_logs(c):
    h = c.h
    topic = c.log_topic  # the run's own (the agents' and the CLI's), deleted by the harness
    ENV["MCLOUD_LOGS_BUFFER_LINES"] = str(BUFFER_LINES)
    node = c.node(1)
    a = Agent(c, node)
    o = Orchestrator(h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    c.deploy(o, {"upload": (IMAGE, 2, {})})  # created in parallel; upload-1 lives on after upload-0's SIGKILL
    ps = wait_for("upload-0 and upload-1 healthy", lambda: c.all_healthy(o, ["upload-0", "upload-1"], node))
    logs = Logs(c, o)

    # the service's own lines arrive, enriched
    started = wait_for("the instances' own start lines in mcloud logs",
                       lambda: [x for x in logs.lines("upload") if x.get("program", "upload") == "upload"], 120)
    expect(all(x["node"] == node and x["instance"] in ("upload-0", "upload-1") and x["service"] == "upload"
               for x in started), f"lines without their node/instance: {started[:2]}")
    print(f"ok: the instances' own lines are in Kafka ({len(started)}), with node {node} and their instance")
    print("$ mcloud logs upload --tail 3\n" + logs.run("upload", "--tail", "3").stdout.rstrip())

    # lines written right before a SIGKILL
    victim = ps["upload-0"]["running"][0]["container_id"]
    cname = f"mcloud-{node}-upload-0"
    pid = int(run(["podman", "inspect", "-f", "{{.State.Pid}}", cname]).strip())
    mark = f"MARK{h.id}"
    write_lines(cname, json.dumps({"level": "warn", "msg": f"{mark} last words"}), f"plain {mark} text")
    os.kill(pid, signal.SIGKILL)

    def last_words():
        got = logs.with_text(mark, "upload-0")
        return len(got) == 2 and got

    got = wait_for("the lines written before the SIGKILL in mcloud logs upload-0", last_words, 120)
    for x in got:
        expect(x["node"] == node and x["instance"] == "upload-0" and x["service"] == "upload"
               and x["container"] == victim, f"a last line without its node/instance/container {victim}: {x}")
    expect({x["msg"] for x in got} == {f"{mark} last words", f"plain {mark} text"}, f"lines: {got}")
    table = logs.run("upload-0", "--grep", mark)
    expect(table.returncode == 0 and f"{node} upload-0 warn  {mark} last words" in table.stdout,
           f"the table form: {table.stdout} {table.stderr}")
    print(f"ok: 2 lines written just before the SIGKILL of {cname} are in mcloud logs with node {node}, instance "
          f"upload-0 and container {victim[:12]}; the plain one wrapped as msg:\n  "
          + "\n  ".join(table.stdout.strip().splitlines()))

    # filters
    warn = logs.with_text(mark, "upload", "--level", "warn")
    expect([x["msg"] for x in warn] == [f"{mark} last words"], f"--level warn: {warn}")
    expect(logs.lines("upload", "--grep", f"{mark} last") and all(
        f"{mark} last" in json.dumps(x) for x in logs.lines("upload", "--grep", f"{mark} last")), "--grep")
    expect(logs.lines("upload", "--grep", f"{mark}-none") == [], "--grep without a match printed lines")
    expect(logs.with_text(mark, "ingest") == [] and logs.with_text(mark, "upload-1") == [],
           "another service/instance selected upload-0's lines")
    seen_at = time.time()  # the marks were in Kafka by now
    time.sleep(3)
    later = f"LATER{h.id}"
    write_lines(f"mcloud-{node}-upload-1", json.dumps({"level": "info", "msg": later}))
    wait_for("the later line in mcloud logs", lambda: logs.with_text(later, "upload"), 120)
    window = int(time.time() - seen_at) - 1  # begins after the marks were shipped, before the later line was written
    recent = logs.lines("upload", "--since", f"{window}s")
    expect([x for x in recent if later in x.get("msg", "")] and not [x for x in recent if mark in x.get("msg", "")],
           f"--since {window}s: {[x.get('msg') for x in recent]}")
    for bad, flag in ((["--since", "10x"], "--since"), (["--level", "loud"], "--level"), (["--tail", "-3"], "--tail"),
                      (["--colour"], "--colour")):
        r = logs.run("upload", *bad)
        expect(r.returncode == 2 and flag in r.stderr, f"mcloud logs upload {' '.join(bad)}: {r.returncode} {r.stderr}")
    print(f"ok: --level warn, --grep, --since {window}s select as documented; bad flags refused naming the flag")

    # Kafka unreachable
    unblock = block_kafka(c)
    dropped0 = metric(a, "mcloud_agent_log_lines_dropped_total")
    burst = [f"FLOOD{h.id} {i}" for i in range(4 * BUFFER_LINES)]
    write_lines(f"mcloud-{node}-upload-1", *burst)
    r = h.cli_run(o, "scale", "upload", "3", "--no-wait")
    expect(r.returncode == 0, f"mcloud scale upload 3: {r.stdout} {r.stderr}")
    wait_for("the agent's drop counter to rise past the buffer bound",
             lambda: metric(a, "mcloud_agent_log_lines_dropped_total") - dropped0 >= 2 * BUFFER_LINES, 120)
    buffered = metric(a, "mcloud_agent_log_lines_buffered")
    expect(0 < buffered <= BUFFER_LINES, f"buffered gauge {buffered} (bound {BUFFER_LINES})")
    wait_for("upload-2 started and healthy with Kafka unreachable",
             lambda: c.all_healthy(o, ["upload-0", "upload-1", "upload-2"], node))
    expect(a.ready(), "the agent stopped answering")
    dropped = metric(a, "mcloud_agent_log_lines_dropped_total") - dropped0
    print(f"ok: Kafka unreachable: the agent answers, upload-2 started and healthy, {dropped:.0f} lines dropped "
          f"past the bound of {BUFFER_LINES} ({buffered:.0f} buffered)")
    shipped = metric(a, "mcloud_agent_log_lines_shipped_total")
    problem = unblock()
    expect(problem is None, problem)
    # the buffer stays full (new lines dropped) until librdkafka reconnects and delivers it
    wait_for("the agent's buffer delivered once Kafka is reachable again",
             lambda: metric(a, "mcloud_agent_log_lines_shipped_total") > shipped
             and metric(a, "mcloud_agent_log_lines_buffered") < BUFFER_LINES, 300)
    back = f"BACK{h.id}"
    follower = Follower(c, o, "upload-1", "--grep", back)
    try:
        wait_for("mcloud logs -f caught up", follower.caught_up, 120)
        expect(not [x for x in follower.lines if back in x], f"{back} printed before it was written")
        write_lines(f"mcloud-{node}-upload-1", json.dumps({"level": "info", "msg": back}))
        wait_for("a line written after Kafka came back in mcloud logs", lambda: logs.with_text(back, "upload-1"), 300)
        wait_for("the line printed by a running mcloud logs -f", lambda: [x for x in follower.lines if back in x], 60)
    finally:
        follower.stop()
    print(f"ok: Kafka back: the buffer delivered, shipping goes on; mcloud logs -f printed it: {follower.lines[-1]}")

    # shipped once each: the drain before the removal and the rounds do not overlap
    counts = {m: len(logs.with_text(m, "upload")) for m in (f"{mark} last words", f"plain {mark} text", later, back)}
    expect(set(counts.values()) == {1}, f"lines shipped other than once: {counts}")

    # mcloud kafka partitions
    r = h.cli_run(o, "kafka", "partitions", topic, "8")
    expect(r.returncode == 0 and f"{topic}: 6 -> 8 partitions" in r.stdout, f"grow: {r.returncode} {r.stdout} {r.stderr}")
    print(f"$ mcloud kafka partitions {topic} 8\n{r.stdout.rstrip()}")
    for n in ("4", "8"):
        r = h.cli_run(o, "kafka", "partitions", topic, n)
        expect(r.returncode == 1 and "has 8 partitions" in r.stderr and f"{n} would not grow it" in r.stderr,
               f"kafka partitions {n}: {r.returncode} {r.stdout} {r.stderr}")
    print(f"ok: mcloud kafka partitions: {r.stderr.strip()} / grow 6 -> 8 printed")

    # the node gone (its agent SIGKILLed, its containers removed): the lines are still there
    a.kill()
    subprocess.run(["podman", "rm", "-f", "-t", "0", "--filter", f"label=mcloud.node={node}"], capture_output=True)
    expect(not [n for n in c.containers() if n.startswith(f"mcloud-{node}-")], f"{node}'s containers still run")
    gone = logs.with_text(mark, "upload-0")
    expect(len(gone) == 2 and all(x["node"] == node for x in gone), f"after {node} went away: {gone}")
    print(f"ok: {node} gone (agent SIGKILLed, containers removed): upload-0's last lines still in mcloud logs")


if __name__ == "__main__":
    ct.SCENARIOS["logs"] = scenario_logs
    ct.main()
