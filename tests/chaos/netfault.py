"""netfault.py — network partitions for the fault suite, with iptables on
loopback (this kernel has no tc netem).

Every rule lives in one chain of this stack's own, named after its MySQL
master port (mcloud-chaos-<port>: other stacks on this host — helpers', the
lead's, CI's — run their own suites at the same time), reached by one jump
from INPUT. Every rule names this stack's addresses AND ports, so nothing
else on the host is matched. `Firewall.close` deletes the rules one by one,
then the jump and the chain; it runs whatever happens (the suite's finally,
atexit, SIGTERM), and `open` first removes a chain of this stack that an
earlier, killed run left behind. No other chain is ever flushed or touched.

The addresses come from `scripts/stack.sh peers`: each MariaDB server's peer
address (its replicas' MASTER_HOST; the services reach it at 127.0.0.1) and
each monitor's source address, so a rule can cut one link and not the others."""

import atexit
import os
import subprocess

import stackctl as sc
from stackctl import log

IPT = "iptables"


def _ipt(*args):
    r = subprocess.run([IPT, "-w", "10", *args], capture_output=True, text=True)
    return r.returncode == 0, r.stderr.strip()


class Firewall:
    def __init__(self, tag=None):
        tag = tag or os.environ.get("MCLOUD_PORT_MYSQL_MASTER", "13306")
        self.chain = f"mcloud-chaos-{tag}"[:28]
        self.rules = []     # rule specs in self.chain, in order
        self.is_open = False

    def _jump(self):
        return ["INPUT", "-i", "lo", "-j", self.chain]

    def open(self):
        self._remove_chain()                 # a chain a killed earlier run of this stack left
        ok, err = _ipt("-N", self.chain)
        if not ok:
            raise RuntimeError(f"iptables -N {self.chain}: {err}")
        self.is_open = True
        atexit.register(self.close)
        ok, err = _ipt("-I", *self._jump())
        if not ok:
            self.close()
            raise RuntimeError(f"iptables -I INPUT -j {self.chain}: {err}")

    def drop(self, dst, dport, src=None):
        """Drops TCP to dst:dport (from src when given) and the answers back:
        the link is cut both ways. Returns the two rules."""
        if not self.is_open:
            self.open()
        rules = []
        fwd = (["-s", src] if src else []) + ["-d", dst, "-p", "tcp", "--dport", str(dport), "-j", "DROP"]
        back = ["-s", dst] + (["-d", src] if src else []) + ["-p", "tcp", "--sport", str(dport), "-j", "DROP"]
        for spec in (fwd, back):
            ok, err = _ipt("-A", self.chain, *spec)
            if not ok:
                raise RuntimeError(f"iptables -A {self.chain} {' '.join(spec)}: {err}")
            self.rules.append(spec)
            rules.append(spec)
        return rules

    def heal(self):
        """Deletes every rule of the chain (one by one; the chain stays)."""
        for spec in list(self.rules):
            while _ipt("-D", self.chain, *spec)[0]:
                pass
            self.rules.remove(spec)

    def close(self):
        if not self.is_open:
            return
        self.heal()
        self._remove_chain()
        self.is_open = False

    def _remove_chain(self):
        while _ipt("-D", *self._jump())[0]:
            pass
        r = subprocess.run([IPT, "-w", "10", "-S", self.chain], capture_output=True, text=True)
        if r.returncode != 0:
            return                              # no such chain
        for line in r.stdout.splitlines():     # "-A chain spec...": our own rules only
            f = line.split()
            if len(f) > 2 and f[0] == "-A" and f[1] == self.chain:
                _ipt("-D", self.chain, *f[2:])
        ok, out = _ipt("-X", self.chain)
        if not ok:
            log(f"warning: iptables -X {self.chain}: {out}")

    def leftover(self):
        """True while the chain exists (the suite checks it is gone at the end)."""
        return subprocess.run([IPT, "-w", "10", "-S", self.chain], capture_output=True).returncode == 0


def peers():
    """{'mysql-master': {'addr': '127.0.0.1:13306', 'peer': '127.0.0.11'}, ...,
    'dbmon': {'addr': ..., 'source': '127.0.0.21'}} from `stack.sh peers`."""
    rc, out = sc.stack("peers", timeout=30)
    if rc != 0:
        raise RuntimeError("scripts/stack.sh peers failed")
    res = {}
    for line in out.splitlines():
        f = line.split()
        if len(f) == 4:
            res[f[0]] = {"addr": f[1], f[2]: f[3]}
    return res
