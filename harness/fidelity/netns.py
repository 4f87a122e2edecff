"""A real slow network on one machine: each rank in its own network namespace, a switch namespace in the middle.

Topology (a star, like ranks on hosts behind one switch)::

    ns <prefix><pid>-r0 [eth0 10.231.0.1] ==veth== [p0] \
    ns <prefix><pid>-r1 [eth0 10.231.0.2] ==veth== [p1]  +-- br0 in ns <prefix><pid>-sw
    ...                                                  /

Every veth end gets a ``tc tbf`` token-bucket qdisc at the same rate on egress, so each rank has a full-duplex
port: an uplink (its ``eth0`` egress) and a downlink (the switch-side ``p<i>`` egress). A message from rank i to
rank j crosses uplink i then downlink j. ``netem`` (delay) is not available on these machines, so the links add
only rate limits; the latency is whatever the kernel and gloo add (it is fitted from ping-pong).

tbf settings: ``burst`` is half a millisecond of the rate, at least two full frames (100 Mbit/s: 6,250 B;
1 Gbit/s: 62,500 B). A full bucket lets ``burst`` bytes pass unthrottled, so it should be small; but with a
burst of a few frames 1 Gbit/s fell to 0.4-0.6 of its rate on this VM (qdisc timer overhead), while half a
millisecond kept 4 MiB ping-pongs within a few per cent of the rate (measured while choosing these values).
``limit`` is generous (8 MiB) so a TCP burst is queued, not dropped (drops would add retransmission timeouts
that no alpha-beta model has). Drop counters are read back by `StarNetwork.qdisc_stats`.

Needs root and ``ip netns``. Everything created carries ``<prefix><pid>-`` in its name and is deleted in
``__exit__`` (and namespaces left by a killed earlier run, whose pid no longer exists, are deleted on entry).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

DEFAULT_PREFIX = "h6fid"
SUBNET = "10.231.0"
ETH_HEADER_BYTES = 14


class NetnsUnavailable(RuntimeError):
    """Network namespaces cannot be built here (not root, or no ``ip``); the message says which."""


def netns_unavailable_reason() -> str | None:
    """None when namespaces + veth + tbf can be built here, else a sentence saying why not."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth pairs and tc qdiscs are privileged)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"the `{tool}` command (iproute2) is not installed"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"`ip netns list` failed: {probe.stderr.strip()}"
    return None


def _sh(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), capture_output=True, text=True)
    if check and done.returncode != 0:
        raise NetnsUnavailable(f"`{' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done


def list_namespaces(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Names of existing network namespaces that start with ``prefix``."""
    done = _sh("ip", "netns", "list", check=False)
    names = [line.split()[0] for line in done.stdout.splitlines() if line.strip()]
    return sorted(name for name in names if name.startswith(prefix))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(prefix: str = DEFAULT_PREFIX) -> list[str]:
    """Delete namespaces ``<prefix><pid>-*`` whose creating process is gone; returns the names deleted."""
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)-")
    deleted = []
    for name in list_namespaces(prefix):
        match = pattern.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _sh("ip", "netns", "del", name, check=False)
            deleted.append(name)
    return deleted


def tbf_burst_bytes(rate_mbit: float, mtu_bytes: int) -> int:
    """The token bucket's depth: half a millisecond of the rate, at least two full frames."""
    if rate_mbit <= 0:
        raise ValueError(f"rate_mbit: expected a number > 0, got {rate_mbit}")
    rate_bytes_per_s = rate_mbit * 1e6 / 8
    return int(max(2 * (mtu_bytes + ETH_HEADER_BYTES), rate_bytes_per_s * 0.5e-3))


def tbf_args(rate_mbit: float, mtu_bytes: int) -> list[str]:
    """``tc`` arguments of the token bucket: rate, `tbf_burst_bytes` and an 8 MiB queue."""
    burst_bytes = tbf_burst_bytes(rate_mbit, mtu_bytes)
    return ["tbf", "rate", f"{rate_mbit:g}mbit", "burst", str(burst_bytes), "limit", str(8 << 20)]


@dataclass
class StarNetwork:
    """Context manager: ``n_ranks`` namespaces joined by rate-limited veths through a bridge namespace.

    Example::

        with StarNetwork(n_ranks=2, rate_mbit=100) as net:
            subprocess.run(net.exec_prefix(0) + ["python", "-c", "print('in rank 0')"])
    """

    n_ranks: int
    rate_mbit: float
    mtu_bytes: int = 1500
    prefix: str = DEFAULT_PREFIX
    # names are <prefix><tag>-*; a numeric tag is read as the owning process's pid, and `clean_stale` reclaims the
    # namespaces of a pid that is gone: keep the default (this process) unless another live process owns them
    tag: str = field(default_factory=lambda: str(os.getpid()))
    _created: list[str] = field(default_factory=list, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 2 <= self.n_ranks <= 200:
            raise ValueError(f"n_ranks: expected 2..200, got {self.n_ranks}")
        if self.rate_mbit <= 0:
            raise ValueError(f"rate_mbit: expected a number > 0, got {self.rate_mbit}")
        if not re.fullmatch(r"[a-z][a-z0-9]{0,15}", self.prefix):
            raise ValueError(f"prefix: expected lowercase letters/digits (<= 16), got {self.prefix!r}")

    # names -------------------------------------------------------------------------------------------
    @property
    def switch_ns(self) -> str:
        return f"{self.prefix}{self.tag}-sw"

    def rank_ns(self, rank: int) -> str:
        return f"{self.prefix}{self.tag}-r{rank}"

    def rank_addr(self, rank: int) -> str:
        return f"{SUBNET}.{rank + 1}"

    @property
    def rank_ifname(self) -> str:
        return "eth0"

    def exec_prefix(self, rank: int) -> list[str]:
        """Command prefix that runs a program inside rank ``rank``'s namespace."""
        return ["ip", "netns", "exec", self.rank_ns(rank)]

    # lifecycle ---------------------------------------------------------------------------------------
    def __enter__(self) -> StarNetwork:
        reason = netns_unavailable_reason()
        if reason:
            raise NetnsUnavailable(reason)
        clean_stale(self.prefix)
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _add_ns(self, name: str) -> None:
        _sh("ip", "netns", "del", name, check=False)  # a leftover with our own pid (pid reuse)
        _sh("ip", "netns", "add", name)
        self._created.append(name)
        _sh("ip", "-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        tbf = tbf_args(self.rate_mbit, self.mtu_bytes)
        self._add_ns(self.switch_ns)
        _sh("ip", "-n", self.switch_ns, "link", "add", "br0", "type", "bridge")
        _sh("ip", "-n", self.switch_ns, "link", "set", "br0", "up")
        for rank in range(self.n_ranks):
            ns, port = self.rank_ns(rank), f"p{rank}"
            self._add_ns(ns)
            # created directly inside the two namespaces: no name ever appears in the root namespace
            _sh("ip", "link", "add", "name", self.rank_ifname, "netns", ns, "mtu", str(self.mtu_bytes),
                "type", "veth", "peer", "name", port, "netns", self.switch_ns, "mtu", str(self.mtu_bytes))
            _sh("ip", "-n", ns, "addr", "add", f"{self.rank_addr(rank)}/24", "dev", self.rank_ifname)
            _sh("ip", "-n", ns, "link", "set", self.rank_ifname, "up")
            _sh("ip", "-n", self.switch_ns, "link", "set", port, "master", "br0")
            _sh("ip", "-n", self.switch_ns, "link", "set", port, "up")
            _sh("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", self.rank_ifname, "root", *tbf)
            _sh("ip", "netns", "exec", self.switch_ns, "tc", "qdisc", "replace", "dev", port, "root", *tbf)

    def close(self) -> None:
        """Delete every namespace this object created (their veths go with them). Safe to call twice."""
        while self._created:
            _sh("ip", "netns", "del", self._created.pop(), check=False)

    # inspection --------------------------------------------------------------------------------------
    def qdisc_stats(self) -> dict[str, dict[str, int]]:
        """Sent bytes, packets, drops and overlimits of every tbf qdisc, keyed ``r<i>.eth0`` / ``sw.p<i>``."""
        stats: dict[str, dict[str, int]] = {}
        for rank in range(self.n_ranks):
            for key, ns, dev in ((f"r{rank}.eth0", self.rank_ns(rank), self.rank_ifname),
                                 (f"sw.p{rank}", self.switch_ns, f"p{rank}")):
                out = _sh("ip", "netns", "exec", ns, "tc", "-s", "qdisc", "show", "dev", dev, check=False).stdout
                match = re.search(r"Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)", out)
                if match:
                    sent, pkts, dropped, over = (int(g) for g in match.groups())
                    stats[key] = {"sent_bytes": sent, "packets": pkts, "dropped": dropped, "overlimits": over}
        return stats
