"""faults.py — the fault scheduler: injects one fault after another while
the load runs, and records for each whether it hit work in flight (uploads
mid-PATCH, jobs mid-encode, read just before the injection) and how long
the platform took to recover. What a fault killed is started again here
(scripts/stack.sh start, as an operator or a supervisor would); `restore`
puts back whatever is still out of place (also after a failure).

Recovery, per fault (kill -> ...):
  upload/minio          the component answers and an upload PATCH is acknowledged again
  transcode/sigstop     a video turns ready again (the stopped/killed job's, for sigstop)
  stream/api/dbmon      the component answers again
  mysql master          mysql.master names another server and a write on it succeeds
  redis master          the Sentinels name another master and an upload PATCH is acknowledged
                        (killed, or cut off by iptables: then it must come back demoted)
  mysql master cut off  (iptables: from its replicas and the monitors, the services still reach
                        it) it acknowledges no write, mysql.master names another server and a
                        write on it succeeds; once healed the old master rejoins as a replica
  monitors cut off      (iptables: both dbmon instances from every server) no failover: the
                        published master stays, writes never stop; recovery = the longest gap
                        between two successful writes  kafka                 the broker answers and a video turns ready again"""

import os
import signal
import subprocess
import time

import stackctl as sc
from netfault import Firewall, peers
from stackctl import log, now_ms


class Worker2:
    """A second mcloud-transcode beside the stack's, so a stopped or killed
    worker's partitions have somewhere to go (a zombie needs a successor)."""

    def __init__(self, build, work, port):
        self.argv = [os.path.join(build, "transcode", "mcloud-transcode")]
        self.work, self.port, self.proc = work, port, None

    def start(self):
        tmp = os.path.join(self.work, "worker2-tmp")
        os.makedirs(tmp, exist_ok=True)
        env = dict(os.environ, MCLOUD_REDIS=os.environ["MCLOUD_REDIS_SENTINEL"], MCLOUD_HTTP_BIND="127.0.0.1",
                   MCLOUD_TRANSCODE_PORT=str(self.port), MCLOUD_TRANSCODE_TMP_DIR=tmp)
        with open(os.path.join(self.work, "worker2.log"), "a") as f:
            self.proc = subprocess.Popen(self.argv, env=env, stdout=f, stderr=subprocess.STDOUT, cwd=self.work)
        ok = sc.wait_until(lambda: subprocess.run(["curl", "-fsS", "-o", "/dev/null", "--max-time", "2",
                                                   f"http://127.0.0.1:{self.port}/readyz"],
                                                  stderr=subprocess.DEVNULL).returncode == 0, 90, 0.5)
        return bool(ok)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Scheduler:
    def __init__(self, load, monitor, worker2, wait_s=120):
        self.load, self.mon, self.w2, self.wait_s = load, monitor, worker2, wait_s
        self.records = []
        self.stopped = set()          # pids SIGSTOPped (SIGCONT in restore)
        self.fw = Firewall()          # the suite's own iptables chain (closed in restore)
        self.initial = {}

    # ---- precondition and bookkeeping -------------------------------------------
    def _work(self):
        return len(self.load.in_flight()), len(self.mon.running)

    def _await_work(self, need, worker_pids=None):
        """Waits until the work this fault needs is in flight; returns
        (uploads mid-PATCH, jobs mid-encode) at that moment."""
        def ready():
            up, jobs = self._work()
            if worker_pids is not None:
                jobs = sum(1 for _, w in self.mon.running if _pid_of_instance(w) in worker_pids)
            met = {"upload": up > 0, "job": jobs > 0, "any": up > 0 or jobs > 0}[need]
            return (up, jobs) if met else None
        got = sc.wait_until(ready, self.wait_s, 0.05)
        return got or self._work()

    def _fresh_job(self, pids):
        """A job of the run mid-encode (running, less than half done, read
        from MySQL now) on one of PIDS: (video, pid), waited for."""
        def pick():
            vids = self.mon.ids()
            if not vids:
                return None
            q = ",".join(f"'{v}'" for v in vids)
            rows = sc.try_sql(f"SELECT video_id, worker FROM jobs WHERE status = 'running' AND progress < 0.5 "
                              f"AND video_id IN ({q}) ORDER BY progress")
            return next(((v, _pid_of_instance(w)) for v, w in rows or [] if _pid_of_instance(w) in pids), None)
        return sc.wait_until(pick, self.wait_s, 0.05)

    def _record(self, name, hit, need, t0, recovered_ms, **extra):
        up, jobs = hit
        ok_hit = {"upload": up > 0, "job": jobs > 0, "any": up > 0 or jobs > 0}[need]
        rec = {"fault": name, "at_ms": t0, "uploads_in_flight": up, "jobs_in_flight": jobs,
               "hit_work": ok_hit, "recovered": recovered_ms is not None,
               "recovery_ms": None if recovered_ms is None else recovered_ms - t0,
               "load": sc.loadavg(), **extra}
        self.records.append(rec)
        log(f"fault {name}: hit {up} uploads / {jobs} jobs in flight; recovery "
            f"{rec['recovery_ms']} ms {extra if extra else ''}; load {rec['load']}")
        return rec

    def _progress(self, t_ms, kind, timeout=180):
        if kind == "upload":
            return sc.wait_until(lambda: self.load.progress_after(t_ms), timeout)
        return sc.wait_until(lambda: self.mon.ready_after(t_ms), timeout)

    # ---- the faults ---------------------------------------------------------------
    def kill_daemon(self, comp, need, progress=None):
        """SIGKILL, then started again by stack.sh; recovered once it answers
        and, for progress "upload", once a PATCH was acknowledged after that."""
        hit = self._await_work(need)
        pid = sc.pid_of(comp)
        if pid is None:
            return self._record(f"SIGKILL {comp}", (0, 0), need, now_ms(), None, error=f"{comp} not running")
        t0 = now_ms()
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        back = sc.start(comp)
        t_back = now_ms() if back else None
        t = t_back
        if back and progress:
            t = self._progress(t_back, progress)
        return self._record(f"SIGKILL {comp}", hit, need, t0, t, back_ms=(t_back - t0) if t_back else None)

    def kill_worker(self, label, pid_fn, restart):
        """SIGKILL a worker mid-encode; recovered once the job it held is
        published (by whichever worker redid it)."""
        pid = pid_fn()
        got = self._fresh_job({pid})
        hit = (len(self.load.in_flight()), max(1, len(self.mon.running)))
        if got is None:
            return self._record(label, (hit[0], 0), "job", now_ms(), None, error="no job on the worker")
        victim = got[0]
        t0 = now_ms()
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        back = restart()
        t_back = now_ms() if back else None
        t = sc.wait_until(lambda: video_status(victim) == "ready" and now_ms(), 240)
        return self._record(label, hit, "job", t0, t if back else None, video=victim,
                            back_ms=(t_back - t0) if t_back else None)

    def stop_worker(self, session_timeout_ms):
        """SIGSTOP a worker mid-encode for longer than the session timeout,
        then SIGCONT: its partitions moved, its job is redone elsewhere; the
        zombie must not publish a stale or duplicate output (the checker)."""
        pids = {p for p in (sc.pid_of("transcode"), self.w2.proc.pid if self.w2.alive() else None) if p}
        victim = self._fresh_job(pids)
        hit = (len(self.load.in_flight()), max(1, len(self.mon.running)))
        if victim is None:
            return self._record("SIGSTOP transcode", (hit[0], 0), "job", now_ms(), None, error="no job on a worker")
        video, pid = victim
        t0 = now_ms()
        os.kill(pid, signal.SIGSTOP)
        self.stopped.add(pid)
        t_cont = t0 + session_timeout_ms + 5000
        t = None
        while now_ms() < t_cont:
            if t is None and video_status(video) == "ready":
                t = now_ms()
            time.sleep(0.5)
        os.kill(pid, signal.SIGCONT)
        self.stopped.discard(pid)
        redone = t is not None
        t = t or sc.wait_until(lambda: video_status(video) == "ready" and now_ms(), 240)
        prefix = published_prefix(video)
        time.sleep(5)   # the zombie's run goes on after SIGCONT: time to (try to) publish its output
        zombie = published_prefix(video) != prefix
        rec = self._record("SIGSTOP transcode > session timeout, SIGCONT", hit, "job", t0, None if zombie else t,
                           video=video, stopped_s=(session_timeout_ms + 5000) / 1000,
                           redone_while_stopped=redone, zombie_republished=zombie)
        if zombie:
            rec["error"] = f"the zombie worker published again after SIGCONT ({prefix} -> {published_prefix(video)})"
        return rec

    def kill_mysql_master(self, name):
        hit = self._await_work("any")
        old = sc.mysql_master()
        comp = sc.comp_at(old) if old else None
        pid = sc.pid_of(comp) if comp else None
        if pid is None:
            return self._record(name, (0, 0), "any", now_ms(), None, error=f"no running master ({old})")
        t0 = now_ms()
        os.kill(pid, signal.SIGKILL)

        def writable():
            new = sc.mysql_master()
            if not new or new == old:
                return None
            return sc.try_sql(f"INSERT INTO mcloud_chaos.probe (at) VALUES ({now_ms()})", new, timeout=5) is not None \
                and (new, now_ms())
        got = sc.wait_until(writable, 120, 0.1)
        new, t = got if got else (None, None)
        back = sc.start(comp)
        rejoin = sc.wait_until(lambda: sc.slave_field(old, "Slave_IO_Running") == "Yes"
                               and new and sc.slave_field(old, "Master_Port") == new.rsplit(":", 1)[1]
                               and now_ms(), 120, 0.5)
        return self._record(name, hit, "any", t0, t, old=old, new=new, restarted=back,
                            rejoined_ms=(rejoin - t0) if rejoin else None)

    def kill_redis_master(self):
        hit = self._await_work("upload")
        old = sc.redis_master()
        comp = sc.comp_at(old) if old else None
        pid = sc.pid_of(comp) if comp else None
        if pid is None:
            return self._record("SIGKILL redis master", (0, 0), "upload", now_ms(), None, error=f"no master ({old})")
        t0 = now_ms()
        os.kill(pid, signal.SIGKILL)
        sw = sc.wait_until(lambda: sc.redis_master() not in (None, old) and now_ms(), 120, 0.1)
        t = self._progress(sw, "upload") if sw else None
        back = sc.start(comp)
        return self._record("SIGKILL redis master (Sentinel failover)", hit, "upload", t0, t, old=old,
                            new=sc.redis_master(), switched_ms=(sw - t0) if sw else None, restarted=back)

    def partition_redis_master(self):
        """iptables (the suite's chain) drops every packet to the Redis
        master's address and port (the Sentinels, the replica and the
        services all lose it).
        Sentinel promotes the replica, the services follow; once the rule is
        gone, the old master must come back as a replica (demoted), never as
        a second master."""
        hit = self._await_work("upload")
        old = sc.redis_master()
        if not old:
            return self._record("partition redis master", (0, 0), "upload", now_ms(), None, error="no master")
        host, port = old.rsplit(":", 1)
        t0 = now_ms()
        try:
            self.fw.drop(host, port)
            sw = sc.wait_until(lambda: sc.redis_master() not in (None, old) and now_ms(), 120, 0.1)
            t = self._progress(sw, "upload") if sw else None
        finally:
            self.fw.heal()
        demoted = sc.wait_until(lambda: (sc.redis_cli(old, "ROLE") or "").startswith("slave"), 90, 0.5)
        rec = self._record("partition redis master (iptables, all peers)", hit, "upload", t0,
                           t if demoted else None, old=old, new=sc.redis_master(),
                           switched_ms=(sw - t0) if sw else None, old_demoted=bool(demoted))
        if not demoted:
            rec["error"] = f"{old} is not a replica after the partition healed"
        return rec

    def partition_mysql_master(self):
        """The MySQL master cut from its replicas (its peer address) and from
        both monitors (their source addresses), while the services still
        reach it at 127.0.0.1: with semi-sync waiting for an ack (no
        fallback to async) it must acknowledge no write; the monitors, seeing
        the replicas' IO threads lose it too, fail over. Once healed, its
        commits still wait for an ack that will never come, so it cannot be
        fenced live: if it did not rejoin by itself it is SIGKILLed and
        started again (as a supervisor would), comes back as a replica and
        truncates them (--init-rpl-role=SLAVE)."""
        hit = self._await_work("any")
        old = sc.mysql_master()
        comp = sc.comp_at(old) if old else None
        if not comp:
            return self._record("partition mysql master", (0, 0), "any", now_ms(), None, error=f"no master ({old})")
        p = peers()
        host, port = old.rsplit(":", 1)
        through = {c: sc.slave_field(v["addr"], "Master_Host") for c, v in p.items()
                   if c.startswith("mysql-") and c != comp and sc.slave_field(v["addr"], "Master_Port") == port}
        if not through or any(h != p[comp]["peer"] for h in through.values()):
            return self._record("partition mysql master", hit, "any", now_ms(), None,
                                error=f"precondition: the replicas of {old} must replicate through its peer address "
                                      f"{p[comp]['peer']} (they use {through}; scripts/stack.sh restart them)")
        marker = -now_ms()
        t0 = now_ms()
        try:
            self.fw.drop(p[comp]["peer"], port)                  # its replicas
            for mon in ("dbmon", "dbmon2"):                      # the monitors
                self.fw.drop(host, port, src=p[mon]["source"])
            time.sleep(1)
            acked = sc.try_sql(f"INSERT INTO mcloud_chaos.probe (at) VALUES ({marker})", old, timeout=5) is not None

            def writable():
                new = sc.mysql_master()
                if not new or new == old:
                    return None
                return sc.try_sql(f"INSERT INTO mcloud_chaos.probe (at) VALUES ({now_ms()})", new, timeout=5) \
                    is not None and (new, now_ms())
            got = sc.wait_until(writable, 120, 0.1)
        finally:
            self.fw.heal()
        new, t = got if got else (None, None)

        def rejoined():
            return sc.slave_field(old, "Slave_IO_Running") == "Yes" and new \
                and sc.slave_field(old, "Master_Port") == new.rsplit(":", 1)[1] and now_ms()
        t_heal = now_ms()
        waiting = sc.try_sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                             "WHERE STATE = 'Waiting for semi-sync ACK from slave'", old)
        stuck = bool(waiting) and waiting[0][0] != "0"   # then it cannot rejoin live: no point waiting
        rejoin = None if stuck else sc.wait_until(rejoined, 15, 0.5)
        restarted = False
        if not rejoin and new:
            pid = sc.pid_of(comp)
            if pid:
                os.kill(pid, signal.SIGKILL)
                time.sleep(1)
            restarted = sc.start(comp)
            rejoin = sc.wait_until(rejoined, 120, 0.5)
        ghost = [a for a in filter(None, (new, old))
                 if (sc.try_sql(f"SELECT COUNT(*) FROM mcloud_chaos.probe WHERE at = {marker}", a) or [["0"]])[0][0] != "0"]
        rec = self._record("partition mysql master (from replicas + monitors; services reach it)", hit, "any", t0,
                           t if not acked and rejoin else None, old=old, new=new, cut_master_acked_write=acked,
                           switched_ms=(t - t0) if t else None, rejoined_after_heal_ms=(rejoin - t_heal) if rejoin else None,
                           commits_awaiting_ack_after_heal=stuck, restarted_to_truncate=restarted,
                           unacked_write_visible_on=ghost)
        if acked:
            rec["error"] = f"the cut-off master {old} acknowledged a write (semi-sync fell back to async?)"
        elif not rejoin:
            rec["error"] = f"{old} did not rejoin as a replica of {new}"
        return rec

    def _restart_stuck_old_masters(self):
        """A server that is not the published master but holds commits
        waiting for a semi-sync ack (a partition interrupted after its
        failover) is SIGKILLed and started: it comes back as a replica."""
        master = sc.mysql_master()
        for comp in ("mysql-master", "mysql-replica", "mysql-replica2"):
            st = sc.status().get(comp)
            if not st or st[0] != "up" or st[1] == master:
                continue
            w = sc.try_sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                           "WHERE STATE = 'Waiting for semi-sync ACK from slave'", st[1])
            if w and w[0][0] != "0" and st[2]:
                log(f"restore: {comp} holds commits waiting for an ack: SIGKILL and start")
                os.kill(st[2], signal.SIGKILL)
                time.sleep(1)
                sc.start(comp)

    def partition_monitors(self, hold_s=12):
        """Both monitors cut from every MySQL server (their source addresses)
        for longer than dbmon.dead_after_ms, services untouched: the
        monitors see every server unreachable but must not fail over —
        the replicas' IO threads still see the master. Writes go on."""
        hit = self._await_work("any")
        old = sc.mysql_master()
        if not old:
            return self._record("partition monitors", (0, 0), "any", now_ms(), None, error="no master")
        p = peers()
        t0 = now_ms()
        writes, failed, last_ok, gap, masters = 0, 0, t0, 0, set()
        try:
            for srv in ("mysql-master", "mysql-replica", "mysql-replica2"):
                h, port = p[srv]["addr"].rsplit(":", 1)
                for mon in ("dbmon", "dbmon2"):
                    self.fw.drop(h, port, src=p[mon]["source"])
            while now_ms() - t0 < hold_s * 1000:
                masters.add(sc.mysql_master())
                writes += 1
                if sc.try_sql(f"INSERT INTO mcloud_chaos.probe (at) VALUES ({now_ms()})", old, timeout=5) is not None:
                    gap, last_ok = max(gap, now_ms() - last_ok), now_ms()
                else:
                    failed += 1
                time.sleep(0.5)
        finally:
            self.fw.heal()
        time.sleep(3)        # a failover decided just before the heal would show now
        masters.add(sc.mysql_master())
        masters.discard(None)
        rec = self._record("partition both monitors from every mysql server (no failover)", hit, "any", t0,
                           t0 + gap if masters == {old} and failed == 0 else None, master=old,
                           masters_seen=sorted(masters), writes=writes, writes_failed=failed, hold_s=hold_s)
        if masters != {old}:
            rec["error"] = f"a failover happened though only the monitors were cut off ({sorted(masters)})"
        elif failed:
            rec["error"] = f"{failed} of {writes} writes failed while only the monitors were cut off"
        return rec

    def restart_server(self, comp, need, progress, label):
        hit = self._await_work(need)
        pid = sc.pid_of(comp)
        if pid is None:
            return self._record(label, (0, 0), need, now_ms(), None, error=f"{comp} not running")
        t0 = now_ms()
        os.kill(pid, signal.SIGKILL)
        time.sleep(1)
        back = sc.start(comp)
        t_back = now_ms() if back else None
        t = self._progress(t_back, progress) if back else None
        return self._record(label, hit, need, t0, t, back_ms=(t_back - t0) if t_back else None)

    # ---- the schedule ---------------------------------------------------------------
    def run(self, rounds, session_timeout_ms, only=None):
        plan = [
            ("upload", lambda: self.kill_daemon("upload", "upload", "upload")),
            ("transcode", lambda: self.kill_worker("SIGKILL transcode", lambda: sc.pid_of("transcode"),
                                                   lambda: sc.start("transcode"))),
            ("transcode2", lambda: self.kill_worker("SIGKILL transcode (second worker)",
                                                    lambda: self.w2.proc.pid, self.w2.start)),
            ("stream", lambda: self.kill_daemon("stream", "any")),
            ("api", lambda: self.kill_daemon("api", "any")),
            ("dbmon", lambda: self.kill_daemon("dbmon", "any")),
            ("mysql", lambda: self.kill_mysql_master("SIGKILL mysql master (dbmon failover)")),
            ("mysql2", lambda: self.kill_mysql_master("SIGKILL promoted mysql master (after the old rejoined)")),
            ("mysql-partition", self.partition_mysql_master),
            ("monitor-partition", self.partition_monitors),
            ("redis", self.kill_redis_master),
            ("redis-partition", self.partition_redis_master),
            ("kafka", lambda: self.restart_server("kafka", "any", "job", "Kafka broker SIGKILL + restart")),
            ("minio", lambda: self.restart_server("s3", "upload", "upload", "MinIO SIGKILL + restart")),
            ("sigstop", lambda: self.stop_worker(session_timeout_ms)),
        ]
        for r in range(rounds):
            for key, fn in plan:
                if only and key not in only:
                    continue
                log(f"round {r + 1}/{rounds}: fault {key}; load {sc.loadavg()}")
                try:
                    rec = fn()
                except Exception as e:   # a broken fault is a failed fault, never a crash of the suite
                    rec = self._record(key, (0, 0), "any", now_ms(), None, error=repr(e))
                if not rec["recovered"]:
                    log(f"fault {key} did not recover: no further fault is injected")
                    return False
        return True

    # ---- putting things back ------------------------------------------------------------
    def snapshot(self):
        self.initial = {c: s for c, (s, _, _) in sc.status().items()}
        self.redis0 = sc.redis_master()
        self.mysql0 = sc.mysql_master()

    def restore(self, build):
        """Whatever happened: SIGCONT, the killed servers started, the original
        Redis and MySQL masters put back. Returns the problems left."""
        problems = []
        self.fw.close()
        if self.fw.leftover():
            problems.append(f"iptables chain {self.fw.chain} is still there")
        for pid in list(self.stopped):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        self._restart_stuck_old_masters()
        now = sc.status()
        for c, s in self.initial.items():
            if s == "up" and now.get(c, ("down",))[0] != "up":
                log(f"restore: starting {c}")
                if not sc.start(c):
                    problems.append(f"could not start {c}")
        if self.redis0 and sc.redis_master() != self.redis0:
            comp = sc.comp_at(self.redis0)
            log(f"restore: Redis master back to {self.redis0} ({comp})")
            rc, _ = sc.stack("promote", comp)
            if rc != 0:
                problems.append(f"could not make {self.redis0} the Redis master again")
        if self.mysql0 and sc.mysql_master() != self.mysql0:
            log(f"restore: MySQL master back to {self.mysql0} (mcloud db switchover)")
            env = dict(os.environ, MCLOUD_REDIS=sc.redis_master() or os.environ.get("MCLOUD_REDIS", ""))
            r = subprocess.run([os.path.join(build, "cli", "mcloud"), "db", "switchover", self.mysql0],
                               env=env, capture_output=True, text=True, timeout=180)
            if r.returncode != 0 or sc.mysql_master() != self.mysql0:
                problems.append(f"could not restore the MySQL master {self.mysql0}: {r.stderr.strip()[-300:]}")
        return problems


def _pid_of_instance(instance):
    """jobs.worker is the instance name host-pid (common/service.c)."""
    try:
        return int(instance.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return None


def published_prefix(video):
    rows = sc.try_sql(f"SELECT IFNULL(published_prefix, '') FROM videos WHERE id = '{video}'")
    return rows[0][0] if rows else None


def video_status(video):
    rows = sc.try_sql(f"SELECT status FROM videos WHERE id = '{video}'")
    return rows[0][0] if rows else None
