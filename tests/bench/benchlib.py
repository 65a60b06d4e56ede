"""benchlib.py — what the benchmark drivers under tests/bench/ share: their
progress log on stderr, reading a process's /proc status (peak RSS) and its
threads' CPU over time, and the servers they run, killed first when the
driver is told to stop."""

import os
import signal
import sys
import time

LIVE = set()    # servers running now (objects with .proc), stopped first on SIGTERM


def log(msg):
    print(f"# {msg}", file=sys.stderr, flush=True)


def proc_status(pid, field):
    """A kB field of /proc/<pid>/status, or 0."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def stop_servers_on_signal(driver):
    """SIGTERM or SIGINT kills the live servers (their clients then fail at
    once), then unwinds through the driver's clean-up."""
    def on_signal(*_):
        for srv in list(LIVE):
            srv.proc.kill()
        sys.exit(f"{driver}: terminated")
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)


class ThreadSampler:
    """Per-thread CPU of one process over time: every `interval` seconds, in a
    background thread, each thread's name (/proc/<pid>/task/<tid>/comm; the
    engine names its threads: transcode/engine.h), its time on a CPU and its
    time runnable but waiting for one (/proc/<pid>/task/<tid>/schedstat, ns),
    and the machine's idle time from /proc/stat. Running + waiting for a CPU
    is what the thread wanted: on a shared machine it tells a thread that
    was blocked (on a queue, on I/O) from one that was only crowded out.
    stop() returns the samples:
    [(t, {tid: (name, cpu_s, runqueue_s)}, machine_idle_cores_s)], t in
    monotonic seconds."""

    def __init__(self, pid, interval=0.1):
        import threading
        self.pid, self.interval = pid, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")   # /proc/stat's unit

    def start(self):
        self._thread.start()
        return self

    def _threads(self):
        out = {}
        try:
            tids = os.listdir(f"/proc/{self.pid}/task")
        except OSError:
            return out
        for tid in tids:
            try:
                with open(f"/proc/{self.pid}/task/{tid}/comm") as f:
                    name = f.read().rstrip("\n")
                with open(f"/proc/{self.pid}/task/{tid}/schedstat") as f:
                    run_ns, wait_ns = f.read().split()[:2]
            except OSError:
                continue   # the thread ended between listdir and open
            out[int(tid)] = (name, int(run_ns) / 1e9, int(wait_ns) / 1e9)
        return out

    def _idle(self):
        with open("/proc/stat") as f:
            cpu = f.readline().split()
        return (int(cpu[4]) + int(cpu[5])) / self._tick   # idle + iowait, all CPUs

    def _run(self):
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._threads(), self._idle()))
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), self._threads(), self._idle()))
        return self.samples


def thread_groups(samples, group):
    """Turns ThreadSampler samples into per-interval CPU by group:
    [(t0, t1, {group: cpu_s}, {group: runqueue_s}, machine_idle_s)].
    group(name) -> str. A thread first seen after the first sample is charged
    from zero (it started in the interval); one that ended loses at most one
    interval; a renamed thread counts from its new name's first sample."""
    out = []
    prev_threads, prev_idle, prev_t = samples[0][1], samples[0][2], samples[0][0]
    for t, threads, idle in samples[1:]:
        cpu, rq = {}, {}
        for tid, (name, run_s, wait_s) in threads.items():
            before = prev_threads.get(tid)
            if before and before[0] == name:
                run_s, wait_s = run_s - before[1], wait_s - before[2]
            elif before:
                run_s = wait_s = 0.0
            g = group(name)
            cpu[g] = cpu.get(g, 0.0) + max(run_s, 0.0)
            rq[g] = rq.get(g, 0.0) + max(wait_s, 0.0)
        out.append((prev_t, t, cpu, rq, idle - prev_idle))
        prev_threads, prev_idle, prev_t = threads, idle, t
    return out
