"""private_kafka.py — a private Kafka broker for a test that stops and
starts Kafka, so it never touches the stack's shared one: scripts/stack.sh's
own kafka component (the same cached install, configuration and KRaft
format) run with a state directory and two ports of the caller's
(MCLOUD_STACK, MCLOUD_PORT_KAFKA, MCLOUD_PORT_KAFKA_CONTROLLER), no topics
made at start (MCLOUD_KAFKA_TOPICS empty: clients create their own).
close() stops it (its own pid file only) and removes its state.

    k = PrivateKafka(os.path.join(scratch, "kafka"), port, controller_port)
    k.start()            # waits until it answers (stack.sh's kafka_ready)
    k.addr               # 127.0.0.1:PORT, for MCLOUD_KAFKA
    k.start(wait=False); ...; k.wait()   # its JVM's start beside other work
    k.stop(); k.start()  # an outage
    k.close()
"""

import os
import shutil
import subprocess

STACK_SH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "stack.sh")


class PrivateKafka:
    def __init__(self, state_dir, port, controller_port, bind="127.0.0.1"):
        self.state_dir = state_dir
        self.addr = f"{bind}:{port}"
        self.env = {**os.environ, "MCLOUD_STACK": state_dir, "MCLOUD_BIND": bind,
                    "MCLOUD_PORT_KAFKA": str(port), "MCLOUD_PORT_KAFKA_CONTROLLER": str(controller_port),
                    "MCLOUD_KAFKA_TOPICS": ""}
        self.started = False
        self.starting = None

    def _stack(self, *args):
        return subprocess.Popen(["bash", STACK_SH, *args], env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    def _check(self, proc, what):
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"private Kafka ({self.state_dir}): stack.sh {what} failed: {err.strip()[-2000:]}")

    def start(self, wait=True):
        self.started = True  # (a half-started broker is stopped by close() too)
        self.starting = self._stack("start", "kafka")
        if wait:
            self.wait()
        return self

    def wait(self):
        """Until a start(wait=False) is done (raises when it failed)."""
        proc, self.starting = self.starting, None
        if proc:
            self._check(proc, "start kafka")

    def stop(self):
        self.wait()
        self._check(self._stack("stop", "kafka"), "stop kafka")

    def close(self):
        """Stops it (when started) and removes its state; None, or the problem."""
        problem = None
        if self.started:
            try:
                self.stop()
            except RuntimeError as e:
                problem = str(e)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return problem
