"""benchlib.py — what the benchmark drivers under tests/bench/ share: their
progress log on stderr, reading a process's /proc status (peak RSS), and
the servers they run, killed first when the driver is told to stop."""

import signal
import sys

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
