"""autoscale_test.py — the autoscaler of mcloud-orchestrator with real
transcoders: containers of the mcloud-transcode image run by a real
mcloud-agent, fed real (short) transcode jobs through the stack's Kafka, the
lag read by the orchestrator from Kafka itself. Reuses cluster_test.py's
harness (its own database, Redis prefix, node names, podman service; all
stopped and removed at the end, also on failure) and worker_test.py's
helpers for sources, jobs and checks; its own topics and consumer group.

The policy (as deploy/mcloud.yaml's but with short windows so the test
ends): min 1, max 4, lag_per_instance 5, interval 1s, up at once, down
after 15 s of low lag.

Scenarios (each its own ctest, label orchestrator):
  burst   60 short jobs on one idle transcoder: the scaler reaches max 4
          (the test fails if it never does), every job is done exactly once
          (attempt 1, one done event, one start), the count comes back to min
          after the window, the decisions are in `mcloud autoscale status`
          and the orchestrator's log with their lag figures; `mcloud scale`
          of the autoscaled service is refused pointing at the policy and
          `--min/--max` changes the policy instead.
  kafka   its own Kafka broker (a private stack.sh kafka on ports of its
          own; the policy's down window 6 s) stopped during a burst (8 jobs,
          up to 2): the count holds past the down window, the status says the
          lag is unknown; the broker started again, the burst's second half
          (16 jobs): scaling resumes (2 -> max); every job ran once (a done
          event replayed after a redelivery, which events allow, is printed).
  trickle jobs topped up after each evaluation to lag_per_instance + 1, so
          the lag the scaler reads sits on the threshold (checked: near it
          and crossing it, else the test fails; the figures are printed) for
          3 down windows of 10 s: at most one scale change per window, the
          count never goes back and forth (and it did scale up once).
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "transcode_worker"))
import cluster_test  # noqa: E402
import orch_test  # noqa: E402
import worker_test as wt  # noqa: E402  (sources, jobs, kcat, the database)
from cluster_test import Agent, Cluster, wait_for  # noqa: E402
from orch_test import Failure, Harness, Orchestrator, expect, redis  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "support"))
from private_kafka import PrivateKafka  # noqa: E402

# the tag of the image run (MCLOUD_TEST_IMAGE_TAG: an image built apart,
# as cluster_test.py)
IMAGE = f"localhost/mcloud-transcode:{os.environ.get('MCLOUD_TEST_IMAGE_TAG', 'latest')}"
MIN, MAX, LAG_PER = 1, 4, 5
DOWN_WINDOW_S = 15
JOBS = 60
TRICKLE_WINDOW_S, TRICKLE_WINDOWS = 10, 3
KAFKA_WINDOW_S, KAFKA_JOBS = 6, (8, 16)  # a burst's halves: 8 ask for 2 workers, 16 (+ what is left) for max


class Transcoding:
    """The transcoders' world: topics, group, the video and job rows (in the
    orchestrator's database: it is migrated with every table)."""

    def __init__(self, c):
        self.c, self.h = c, c.h
        self.topics = {k: f"as.{self.h.id}.{k}" for k in ("jobs", "events", "dlq")}
        self.group = f"as-{self.h.id}"
        self.db = wt.Db(self.h.db)
        self.s3 = wt.s3_client()
        self.videos, self.jobs = [], {}
        self.clip = os.path.join(self.h.scratch, "short.mp4")
        wt.make_clip(self.clip, 8, "426x240")  # a few seconds of work each: the burst outlasts the container starts
        self.key = f"sources/{wt.TENANT}/as-{self.h.id}/source"
        self.s3.upload_file(self.clip, wt.BUCKET, self.key)

    def services(self, count=1, max_=MAX, down_window=DOWN_WINDOW_S, interval="1s"):
        env = {"MCLOUD_MYSQL_DATABASE": self.h.db, "MCLOUD_TRANSCODE_GROUP": self.group,
               "MCLOUD_TRANSCODE_JOBS_TOPIC": self.topics["jobs"],
               "MCLOUD_TRANSCODE_EVENTS_TOPIC": self.topics["events"],
               "MCLOUD_TRANSCODE_DLQ_TOPIC": self.topics["dlq"],
               "MCLOUD_TRANSCODE_SESSION_TIMEOUT_MS": "6000", "MCLOUD_TRANSCODE_ENCODER_THREADS": "1",
               "MCLOUD_TRANSCODE_GRACE_MS": "20000", "MCLOUD_LOG_LEVEL": "info"}
        policy = (f"{{topic: {self.topics['jobs']}, group: {self.group}, min: {MIN}, max: {max_}, "
                  f"lag_per_instance: {LAG_PER}, interval: {interval}, up_window: 0s, down_window: {down_window}s}}")
        return {"transcode": (IMAGE, count, {"env": env, "resources": "{cpus: 0.4, memory: 512M, pids: 256}",
                                             "stop_grace": "25s", "scaling": policy})}

    def publish(self, n):
        """n jobs, as mcloud-upload would make them (one row each, one message
        each), the messages produced by one kcat at once: a burst."""
        lines, rows = [], []
        for _ in range(n):
            vid, job = str(uuid.uuid4()), str(uuid.uuid4())
            self.videos.append(vid)
            rows.append(f"({wt.q(vid)}, {wt.q(wt.TENANT)}, 'autoscale test', 'uploaded', {wt.q(self.key)})")
            msg = {"v": 1, "job_id": job, "video_id": vid, "tenant": wt.TENANT, "source_key": self.key,
                   "preset": "default", "attempt": 1}
            lines.append(f"{vid}\t{json.dumps(msg, separators=(',', ':'))}")
            self.jobs[job] = vid
        self.db.exec("INSERT INTO videos (id, tenant_id, title, status, source_key) VALUES " + ", ".join(rows))
        r = subprocess.run(["kcat", "-P", "-b", os.environ["MCLOUD_KAFKA"], "-t", self.topics["jobs"], "-K", "\t"],
                           input="\n".join(lines) + "\n", capture_output=True, text=True)
        expect(r.returncode == 0, f"kcat produce to {self.topics['jobs']}: {r.stderr}")

    def done(self):
        rows = self.db.rows("SELECT status, COUNT(*) FROM videos GROUP BY status")
        return {s: int(n) for s, n in rows}

    def check_exactly_once(self):
        """Every job ran once: attempt 1, its video ready, one done event
        with the run's result. Events are at least once (transcode/job_run.c):
        a job whose offset commit a rebalance voided is redelivered and the
        next worker replays "done" (no duration) for the set already
        published; any other done event must be such a replay of the same
        attempt and set. Returns the jobs with replays."""
        events = wt.consume_all(self.topics["events"])
        done = {}
        for e in events:
            if e.get("type") == "done":
                done.setdefault(e.get("job_id"), []).append(e)
        rows = {r[0]: r[1:] for r in self.db.rows("SELECT id, status, attempt FROM jobs")}
        for job, vid in self.jobs.items():
            expect(job in rows, f"job {job} has no row")
            status, attempt = rows[job]
            expect(int(attempt) == 1, f"job {job} ran {attempt} times")
            ev = done.get(job, [])
            ran = [e for e in ev if e.get("duration_s", 0) > 0]
            expect(len(ran) == 1 and all(e.get("duration_s", 0) == 0 and e["attempt"] == ran[0]["attempt"] and
                                         e["prefix"] == ran[0]["prefix"] for e in ev if e is not ran[0]),
                   f"job {job}: done events {ev}")
        statuses = self.done()
        expect(statuses.get("ready") == len(self.videos), f"videos by status: {statuses}")
        return sorted(j for j in self.jobs if len(done.get(j, [])) > 1)

    def close(self, topics=True):
        for vid in self.videos:
            wt.delete_prefix(self.s3, f"videos/{wt.TENANT}/{vid}/")
        wt.delete_prefix(self.s3, f"sources/{wt.TENANT}/as-{self.h.id}/")
        problem = wt.delete_topics(list(self.topics.values())) if topics else None
        expect(problem is None, problem)


def autoscale(h, o):
    r = h.cli_run(o, "autoscale", "status", "--json")
    expect(r.returncode == 0, f"mcloud autoscale status --json: exit {r.returncode}: {r.stderr}")
    return {s["service"]: s for s in json.loads(r.stdout)["services"]}["transcode"]


class Watch:
    """The most instances seen running and the counts the spec went through."""

    def __init__(self):
        self.peak, self.counts = 0, []

    def look(self, st):
        self.peak = max(self.peak, st["actual"])
        if not self.counts or self.counts[-1] != st["desired"]:
            self.counts.append(st["desired"])
        return st


def start(c, down_window=DOWN_WINDOW_S):
    Agent(c, c.node(1))
    o = Orchestrator(c.h, "orch")
    wait_for("the orchestrator to become active", lambda: o.status()["role"] == "active", 60)
    t = Transcoding(c)
    c.deploy(o, t.services(down_window=down_window))
    wait_for("transcode-0 healthy", lambda: c.all_healthy(o, ["transcode-0"]))
    # (its first evaluations may come before the worker created its topic: lag unknown)
    st = wait_for("the scaler's first evaluation with the lag known",
                  lambda: (s := autoscale(c.h, o))["last"] and s["last"]["lag_known"] and s, 60)
    expect(st["desired"] == MIN and st["last"]["lag"] == 0, f"an idle platform is not at min with no lag: {st}")
    return o, t


def scenario_burst(c):
    h = c.h
    o, t = start(c)
    try:
        t0 = time.monotonic()
        w = Watch()
        w.look(autoscale(h, o))
        t.publish(JOBS)
        wait_for(f"the scaler to reach max {MAX} running transcoders",
                 lambda: w.look(autoscale(h, o))["actual"] >= MAX, cluster_test.START_S)
        reached = time.monotonic() - t0
        st = autoscale(h, o)
        ups = [d for d in st["decisions"] if d["desired"] > d["current"]]
        expect(ups and all(d["lag_known"] and d["lag"] > 0 for d in ups), f"scale-ups without lag figures: {st}")
        print(f"ok: {JOBS} jobs -> {MAX} transcoders running {reached:.0f} s after the burst "
              f"(up: {[(d['current'], d['desired'], d['lag']) for d in ups]})")

        # mcloud scale of an autoscaled service: refused, naming the policy
        r = h.cli_run(o, "scale", "transcode", "2", "--no-wait")
        said = r.stdout + r.stderr
        expect(r.returncode != 0 and "autoscaled" in said and "--min" in said, f"mcloud scale transcode 2: {said}")
        print(f"ok: mcloud scale on an autoscaled service refused: {said.strip().splitlines()[-1][:160]}")

        wait_for(f"all {JOBS} videos ready", lambda: w.look(autoscale(h, o)) and t.done().get("ready") == JOBS,
                 600)
        drained = time.monotonic() - t0
        wait_for(f"the count back at min {MIN} after the {DOWN_WINDOW_S} s window",
                 lambda: (s := w.look(autoscale(h, o)))["desired"] == MIN and s["actual"] == MIN and s, 300)
        replayed = t.check_exactly_once()
        if replayed:
            print(f"note: {len(replayed)} job(s) whose done event was replayed after a redelivery: {replayed}")
        expect(w.peak >= MAX, f"never {MAX} transcoders running at once (peak {w.peak})")
        st = autoscale(h, o)
        downs = [d for d in st["decisions"] if d["desired"] < d["current"]]
        expect(downs and all(d["lag_known"] and "down window" in d["reason"] for d in downs),
               f"scale-downs without their reason: {st['decisions']}")
        # the windows: between two steps down at least the down window
        at = sorted(d["at_ms"] for d in downs)
        expect(all(b - a >= DOWN_WINDOW_S * 1000 for a, b in zip(at, at[1:])), f"steps down too close: {at}")
        logged = [json.loads(line) for line in o.log().splitlines()
                  if line.startswith("{") and "autoscale decision" in line]
        expect(len(logged) >= 2 and all(re.fullmatch(r"\d+", x.get("lag", "")) for x in logged),
               f"the decisions are not logged with their lag: {logged}")
        print(f"ok: all {JOBS} jobs done exactly once (at most {w.peak} transcoders at once) in {drained:.0f} s; the spec "
              f"went {' -> '.join(map(str, w.counts))}; back to {MIN} after the window; "
              f"{len(logged)} decisions logged with their lag")
        table = h.cli_run(o, "autoscale", "status").stdout
        expect("transcode" in table and "last decisions" in table, f"mcloud autoscale status:\n{table}")
        print(table.rstrip())

        # --min/--max change the policy, and the count follows at once
        r = h.cli_run(o, "scale", "transcode", "--min", "2", "--max", "3", "--no-wait")
        expect(r.returncode == 0 and "scaling.min: 1 -> 2" in r.stdout, f"mcloud scale --min 2 --max 3: {r.stdout} "
               f"{r.stderr}")
        st = wait_for("the count at the new min 2", lambda: (s := autoscale(h, o))["desired"] == 2 and s, 60)
        expect(st["policy"]["max"] == 3, f"policy after --max 3: {st['policy']}")
        # (and running: no container create is left in flight at the agent's stop).
        # Which two: the one the scale-down kept (idle-first keeps any index)
        # and the lowest free index.
        wait_for("two transcode instances healthy", lambda: (ps := c.ps(o)) and len(ps) == 2 and
                 c.all_healthy(o, sorted(ps)))
        print(f"ok: mcloud scale --min 2 --max 3 changed the policy: {r.stdout.strip().splitlines()[:3]}")
    finally:
        t.close()


def lag_figures(lags):
    """min/median/max and how often the lag went over/under lag_per_instance."""
    crossings = sum((a > LAG_PER) != (b > LAG_PER) for a, b in zip(lags, lags[1:]))
    hist = {v: lags.count(v) for v in sorted(set(lags))}
    return (f"{len(lags)} evaluations, lag min {min(lags)} median {statistics.median(lags)} max {max(lags)}, "
            f"{crossings} crossings of {LAG_PER}, by value {hist}")


def scenario_trickle(c):
    """Jobs topped up after each evaluation of the scaler to lag_per_instance
    + 1: the lag the scaler reads sits on the threshold (over it right after
    a top-up, at or under it when a job ended meanwhile) for TRICKLE_WINDOWS
    down windows. A scaler that followed each reading would go 1 -> 2 -> 1
    -> 2; the windows must keep it to one change per window, never back and
    forth."""
    h = c.h
    o, t = start(c, down_window=TRICKLE_WINDOW_S)
    try:
        w = Watch()
        seen = []  # (at_ms, lag, current, desired) of each evaluation during the trickle
        last_at, near_since = 0, None
        want_ms = TRICKLE_WINDOWS * TRICKLE_WINDOW_S * 1000
        end = time.monotonic() + 300  # hang guard
        while True:
            st = w.look(autoscale(h, o))
            last = st["last"]
            if last and last["at_ms"] != last_at:
                last_at = last["at_ms"]
                expect(last["lag_known"], f"the lag became unknown during the trickle: {last}")
                if near_since is None and abs(last["lag"] - LAG_PER) <= 1:
                    near_since = last_at  # the trickle is at the threshold from here on
                if near_since is not None:
                    seen.append((last_at, last["lag"], last["current"], last["desired"]))
                    if last_at - near_since >= want_ms:
                        break
                if last["lag"] <= LAG_PER:
                    t.publish(LAG_PER + 1 - last["lag"])
            expect(time.monotonic() < end, f"the trickle never held the lag near {LAG_PER} for {want_ms} ms "
                   f"(readings: {[x[1] for x in seen] or 'none near it'})")
            time.sleep(0.2)
        lags = [x[1] for x in seen]
        figures = lag_figures(lags)
        # the precondition: the lag was near the threshold, on both sides of it, all along
        near = sum(abs(x - LAG_PER) <= 2 for x in lags)
        crossings = sum((a > LAG_PER) != (b > LAG_PER) for a, b in zip(lags, lags[1:]))
        expect(near >= 0.8 * len(lags) and crossings >= 2 * TRICKLE_WINDOWS,
               f"precondition not reached: the lag was not near {LAG_PER} on both sides for "
               f"{TRICKLE_WINDOWS} windows: {figures}")
        print(f"ok: a trickle of {len(t.jobs)} jobs kept the lag near {LAG_PER} for {TRICKLE_WINDOWS} x "
              f"{TRICKLE_WINDOW_S} s: {figures}")
        st = autoscale(h, o)
        changes = sorted((d["at_ms"], d["current"], d["desired"]) for d in st["decisions"] if d["desired"] !=
                         d["current"])
        gaps = [b[0] - a[0] for a, b in zip(changes, changes[1:])]
        expect(all(g >= TRICKLE_WINDOW_S * 1000 for g in gaps),
               f"two scale changes within one {TRICKLE_WINDOW_S} s window: {changes}")
        counts = [changes[0][1]] + [x[2] for x in changes] if changes else [MIN]
        expect(len(set(counts)) == len(counts) and len(set(w.counts)) == len(w.counts),
               f"the count went back and forth: decisions {counts}, seen by status {w.counts}")
        expect(changes and changes[0][2] > MIN, f"never scaled up with the lag over {LAG_PER}: {changes} ({figures})")
        print(f"ok: {len(changes)} scale change(s) in {(seen[-1][0] - seen[0][0]) / 1000:.0f} s of trickle, "
              f"{min(gaps) / 1000 if gaps else '-'} s apart at least; the count went {' -> '.join(map(str, counts))} "
              f"(status saw {' -> '.join(map(str, w.counts))}), never back")
    finally:
        t.close()


def scenario_kafka(c):
    """Its own Kafka broker (tests/support/private_kafka.py, stack.sh's kafka
    in the test's scratch directory), so stopping it touches nothing else:
    the orchestrator, the transcoders and the test's clients use it alone."""
    h = c.h
    port = cluster_test.port_block(2)
    k = PrivateKafka(os.path.join(h.scratch, "kafka"), port, port + 1)
    c.late.append(("the private Kafka", k.close))  # after the containers and the orchestrator: no wait on it
    # the agents ship their lines to this broker too: the run's log topic
    # goes with it (deleting it afterwards would wait for a broker that is gone)
    c.late = [step for step in c.late if step[0] != "the log topic"]
    t, up = None, True
    try:
        # the broker's JVM starts beside the agent, the orchestrator and the
        # first container (the scaler holds while it cannot read the lag)
        k.start(wait=False)
        os.environ["MCLOUD_KAFKA"] = orch_test.ENV["MCLOUD_KAFKA"] = k.addr
        o, t = start(c, down_window=KAFKA_WINDOW_S)
        k.wait()
        t.publish(KAFKA_JOBS[0])
        wait_for("the scaler to scale up", lambda: autoscale(h, o)["desired"] > MIN, 120)
        k.stop()
        up = False
        st = wait_for("the scaler to see the lag as unknown",
                      lambda: (s := autoscale(h, o))["last"] and not s["last"]["lag_known"] and s, 120)
        held, t0 = st["desired"], time.monotonic()
        # longer than the down window: a scaler taking no answer for no lag would step down meanwhile
        time.sleep(KAFKA_WINDOW_S + 3)
        st = autoscale(h, o)
        expect(st["desired"] == held and not st["last"]["lag_known"],
               f"the count moved while Kafka was down: {held} -> {st['desired']} ({st['last']})")
        holds = [d for d in st["decisions"] if not d["lag_known"]]
        expect(holds and "holding" in holds[0]["reason"], f"no hold decision recorded: {st['decisions']}")
        print(f"ok: Kafka stopped: the count holds at {held} for {time.monotonic() - t0:.0f} s, longer than the "
              f"{KAFKA_WINDOW_S} s down window ({holds[0]['reason']})")
        k.start()
        up = True
        # (the workers drained what they had fetched meanwhile: the burst's second half asks for max)
        wait_for("the scaler to read the lag again", lambda: autoscale(h, o)["last"]["lag_known"], 120)
        t.publish(KAFKA_JOBS[1])
        st = wait_for("the scaler to reach max", lambda: (s := autoscale(h, o))["desired"] == MAX and s, 300)
        ups = sorted((d["at_ms"], d["current"], d["desired"], d["lag"]) for d in st["decisions"]
                     if d["lag_known"] and d["desired"] > d["current"] and d["at_ms"] > holds[0]["at_ms"])
        expect(ups and ups[0][1] == held and ups[-1][2] == MAX,
               f"no scale-up from the held {held} to {MAX} with the lag known: {st['decisions']}")
        print(f"ok: Kafka back: scaling resumed, {' then '.join(f'{a} -> {b} (lag {lag})' for _, a, b, lag in ups)}")
        wait_for(f"all {sum(KAFKA_JOBS)} videos ready", lambda: t.done().get("ready") == sum(KAFKA_JOBS), 600)
        twice = t.check_exactly_once()
        if twice:
            print(f"note: {len(twice)} job(s) whose done event was replayed after a redelivery: {twice}")
        print(f"ok: all {sum(KAFKA_JOBS)} jobs ran once (attempt 1, their videos ready) across the outage")
    finally:
        if t:
            t.close(topics=up)  # (the topics go with the broker's state)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("scenario", choices=["burst", "kafka", "trickle"])
    args = ap.parse_args()
    problems = []
    h = c = None
    t0 = time.monotonic()
    try:
        h = orch_test.H = Harness(os.path.abspath(args.build))
        c = cluster_test.C = Cluster(h)
        expect(subprocess.run(["podman", "image", "exists", IMAGE]).returncode == 0,
               f"{IMAGE} missing: run make images (ctest's orchestrator.images fixture builds it)")
        globals()[f"scenario_{args.scenario}"](c)
    except Failure as e:
        problems.append(str(e))
    except Exception as e:  # a bug of the test itself: still clean up, still fail
        problems.append(f"{type(e).__name__}: {e}")
        raise
    finally:
        if c:
            cluster_test.dump_agent_logs(c, problems)
            problems += c.close()
        if h:
            try:
                redis("DEL", f"{h.prefix}:orch:scale:transcode", f"{h.prefix}:orch:scale:transcode:log")
            except Failure as e:
                problems.append(str(e))
            problems += h.close()
            orch_test.dump_logs(h.started, problems, tail=4000)
        if c:
            problems += cluster_test.run_cleanups(c.late)
    orch_test.exit_on(problems)
    shutil.rmtree(h.scratch, ignore_errors=True)
    print(f"PASS orchestrator autoscale {args.scenario} ({time.monotonic() - t0:.0f} s)")


if __name__ == "__main__":
    main()
