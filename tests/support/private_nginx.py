"""private_nginx.py — tests/support/nginx.sh for Python callers: a private
nginx serving one directory on a free loopback port, stopped (its own pid
only) when the `with` block ends.

    with PrivateNginx(root_dir, work_dir) as ng:
        urllib.request.urlopen(ng.url + "/720p.mp4")
        ng.access_log()   # lines: status bytes "range" "request line"
"""

import os
import subprocess

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nginx.sh")


def free_port():
    return int(subprocess.run(["bash", SCRIPT, "free-port"], check=True, capture_output=True,
                              text=True).stdout)


class PrivateNginx:
    def __init__(self, root, workdir, port=None):
        self.root = root
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.pid = None

    def start(self):
        r = subprocess.run(["bash", SCRIPT, "start", self.root, str(self.port), self.workdir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"private nginx did not start: {r.stderr.strip()}")
        self.pid = int(r.stdout)
        return self

    def stop(self):
        if self.pid is not None:
            subprocess.run(["bash", SCRIPT, "stop", self.workdir], check=False)
            self.pid = None

    def access_log(self):
        with open(os.path.join(self.workdir, "access.log")) as f:
            return f.read().splitlines()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
