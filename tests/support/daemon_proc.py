"""daemon_proc.py — how the Python integration tests stop a daemon they
started as a child: SIGTERM, a bounded wait (SIGKILL past it), then its
stderr read for sanitizer reports and its exit status checked. Callers
raise their own failure with the problem this returns. Also the one
polling wait the tests share (wait_for), and a plain bounded stop of a
helper child (terminate)."""

import signal
import subprocess
import time

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ERROR: ThreadSanitizer")
# A hang guard for a graceful stop, not a performance bound (sanitizer builds are slow).
STOP_TIMEOUT_S = 120


def terminate(proc, timeout=30):
    """SIGTERM to a child, a bounded wait, SIGKILL past it. True when it
    exited by itself (or had already)."""
    if proc.poll() is not None:
        return True
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


def stop_problem(proc, logf, name, read_log):
    """Stops proc (its log file logf is closed after); None when it exited 0
    with no sanitizer report in read_log()'s text, else what went wrong."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            logf.close()
            return f"{name} did not stop on SIGTERM"
    logf.close()
    text = read_log()
    for marker in SANITIZER_MARKERS:
        if marker in text:
            return f"{name}: sanitizer report on stderr:\n{text[-8000:]}"
    if proc.returncode != 0:
        return f"{name} exited {proc.returncode}:\n{text[-3000:]}"
    return None


def wait_for(what, pred, limit, failure, tolerated=()):
    """pred() every 0.1 s until it returns something true (returned), for at
    most limit seconds (a hang guard, never a performance bound); OSError,
    ValueError and the `tolerated` exceptions count as "not yet". Past the
    limit: raises failure(message) naming what and the last result."""
    end = time.monotonic() + limit
    last = None
    while time.monotonic() < end:
        try:
            last = pred()
            if last:
                return last
        except (OSError, ValueError, *tolerated) as e:
            last = e
        time.sleep(0.1)
    raise failure(f"timed out after {limit} s waiting for {what} (last: {last})")
