"""benchlib.py — what the benchmark drivers under tests/bench/ share: their
progress log on stderr and reading a process's /proc status (peak RSS)."""

import sys


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
