"""Gaps in the tests of `harness.fidelity.netns` found by a mutation audit.

Closed here:
- `tbf_burst_bytes` refuses a zero rate; `tbf_args` queues 8 MiB (8,388,608 bytes).
- `StarNetwork` takes 200 ranks but not 201, a 16-character prefix but not 17 or one starting with a digit.
- rank addresses start at ``.1``; `list_namespaces` keeps only names that START with the prefix; `clean_stale`
  deletes only ``<prefix><dead pid>-`` names (a live pid, no dash after the pid, another prefix are kept).
- `_pid_alive` counts a pid it may not signal (PermissionError) as alive; `_sh` raises on failure by default.
- `netns_unavailable_reason` names root, the missing tool, and a failing ``ip netns list`` (any non-zero code).
- `close` deletes every namespace created, once; `qdisc_stats` parses sent/packets/dropped/overlimits
  into the right fields, asks each switch port ``p<i>`` for its own counters and leaves out one without.
- With real namespaces: both ends of every veth get the tbf at the rate, the MTU is the one asked for, ``lo``
  is up, ``exec_prefix(r)`` runs in rank r's namespace; a leftover namespace with our own name (pid reuse) is
  replaced, stale ones of dead pids are removed on entry, and a build that fails half way removes what it made.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

import harness.fidelity.netns as netns
from harness.fidelity.netns import (
    NetnsUnavailable,
    StarNetwork,
    clean_stale,
    list_namespaces,
    netns_unavailable_reason,
    tbf_args,
    tbf_burst_bytes,
)

PREFIX = "h6mgap"  # not a prefix of any other test's or study's namespaces
DEAD_PID = 4_194_303  # above any pid this machine hands out
REASON = netns_unavailable_reason()
needs_netns = pytest.mark.skipif(REASON is not None, reason=f"network namespaces unavailable: {REASON}")


# ------------------------------------------------------------------------------------------ pure helpers


@pytest.mark.parametrize("rate", [0, 0.0, -5.0])
def test_tbf_burst_refuses_a_rate_that_is_not_positive(rate):
    with pytest.raises(ValueError, match="rate_mbit"):
        tbf_burst_bytes(rate, 1500)


def test_tbf_queue_limit_is_eight_mebibytes():
    args = tbf_args(100.0, 1500)
    assert args[args.index("limit") + 1] == "8388608"
    assert args[args.index("burst") + 1] == "6250"  # 100 Mbit/s = 12.5 MB/s, half a millisecond: 6,250 B


def test_rank_counts_up_to_two_hundred_are_taken_and_more_refused():
    assert StarNetwork(n_ranks=200, rate_mbit=1.0).n_ranks == 200
    with pytest.raises(ValueError, match="n_ranks"):
        StarNetwork(n_ranks=201, rate_mbit=1.0)


def test_prefix_is_at_most_sixteen_characters_and_starts_with_a_letter():
    assert StarNetwork(n_ranks=2, rate_mbit=1.0, prefix="a" * 16).prefix == "a" * 16
    for bad in ("a" * 17, "1abc", ""):
        with pytest.raises(ValueError, match="prefix"):
            StarNetwork(n_ranks=2, rate_mbit=1.0, prefix=bad)


def test_names_and_addresses_of_the_ranks():
    net = StarNetwork(n_ranks=3, rate_mbit=1.0, prefix="pre", tag="77")
    assert [net.rank_addr(r) for r in range(3)] == ["10.231.0.1", "10.231.0.2", "10.231.0.3"]
    assert net.switch_ns == "pre77-sw" and net.rank_ns(2) == "pre77-r2"
    assert net.exec_prefix(1) == ["ip", "netns", "exec", "pre77-r1"]


class _FakeSh:
    """Stands in for `netns._sh`: records every command, answers ``ip netns list`` with ``listing``."""

    def __init__(self, listing: str = "", outputs: dict[tuple[str, str], str] | None = None) -> None:
        self.listing, self.outputs, self.calls = listing, outputs or {}, []

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        self.calls.append(args)
        out = self.listing if args[:3] == ("ip", "netns", "list") else ""
        if "qdisc" in args and "-s" in args:
            out = self.outputs.get((args[3], args[-1]), "")
        return subprocess.CompletedProcess(list(args), 0, stdout=out, stderr="")


def test_list_namespaces_keeps_only_names_that_start_with_the_prefix(monkeypatch):
    listing = "h6mgap12-r0 (id: 3)\nxh6mgap12-r1 (id: 4)\nother\n\nh6mgap9-sw\n"
    monkeypatch.setattr(netns, "_sh", _FakeSh(listing))
    assert list_namespaces(PREFIX) == ["h6mgap12-r0", "h6mgap9-sw"]


def test_clean_stale_deletes_only_namespaces_of_dead_pids(monkeypatch):
    live = os.getpid()
    listing = "\n".join([f"{PREFIX}{DEAD_PID}-r0 (id: 1)", f"{PREFIX}{live}-r0 (id: 2)", f"{PREFIX}{DEAD_PID}x",
                         f"{PREFIX}-sw", f"{PREFIX}{DEAD_PID}-sw"])
    fake = _FakeSh(listing)
    monkeypatch.setattr(netns, "_sh", fake)
    deleted = clean_stale(PREFIX)
    assert deleted == [f"{PREFIX}{DEAD_PID}-r0", f"{PREFIX}{DEAD_PID}-sw"]
    assert [c for c in fake.calls if c[:3] == ("ip", "netns", "del")] == [("ip", "netns", "del", n) for n in deleted]


def test_a_pid_that_may_not_be_signalled_is_alive(monkeypatch):
    def kill(pid, sig):
        raise PermissionError if pid == 1 else ProcessLookupError

    monkeypatch.setattr(netns.os, "kill", kill)
    assert netns._pid_alive(1) is True
    assert netns._pid_alive(2) is False


def test_sh_raises_on_a_failing_command_unless_told_not_to():
    with pytest.raises(NetnsUnavailable, match="`false` failed"):
        netns._sh("false")
    assert netns._sh("false", check=False).returncode == 1


def test_unavailable_reason_names_root_a_missing_tool_and_a_failing_probe(monkeypatch):
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert "needs root" in netns_unavailable_reason()
    monkeypatch.setattr(netns.os, "geteuid", lambda: 0)
    monkeypatch.setattr(netns.shutil, "which", lambda tool: None if tool == "tc" else "/sbin/" + tool)
    assert "`tc`" in netns_unavailable_reason()
    monkeypatch.setattr(netns.shutil, "which", lambda tool: "/sbin/" + tool)
    failed = subprocess.CompletedProcess(["ip"], 2, stdout="", stderr="  no netns support \n")
    monkeypatch.setattr(netns.subprocess, "run", lambda *a, **k: failed)
    assert netns_unavailable_reason() == "`ip netns list` failed: no netns support"
    monkeypatch.setattr(netns.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(["ip"], 0, "", ""))
    assert netns_unavailable_reason() is None


def test_close_deletes_every_created_namespace_once(monkeypatch):
    fake = _FakeSh()
    monkeypatch.setattr(netns, "_sh", fake)
    net = StarNetwork(n_ranks=2, rate_mbit=1.0, prefix="pre", tag="5")
    net._created.extend(["pre5-sw", "pre5-r0", "pre5-r1"])
    net.close()
    net.close()
    assert sorted(fake.calls) == [("ip", "netns", "del", n) for n in ("pre5-r0", "pre5-r1", "pre5-sw")]


def test_qdisc_stats_reads_each_port_into_the_right_fields(monkeypatch):
    def shown(sent, pkts, dropped, over):
        return (f"qdisc tbf 8001: root refcnt 3 rate 100Mbit burst 6250b lat 670ms \n Sent {sent} bytes {pkts} pkt "
                f"(dropped {dropped}, overlimits {over} requeues 0) \n backlog 0b 0p requeues 0\n")

    outputs = {("pre5-r0", "eth0"): shown(1000, 10, 1, 2), ("pre5-sw", "p0"): shown(2000, 20, 3, 4),
               ("pre5-r1", "eth0"): shown(3000, 30, 5, 6), ("pre5-sw", "p1"): shown(4000, 40, 7, 8)}
    monkeypatch.setattr(netns, "_sh", _FakeSh(outputs=outputs))
    stats = StarNetwork(n_ranks=2, rate_mbit=100.0, prefix="pre", tag="5").qdisc_stats()
    assert stats == {
        "r0.eth0": {"sent_bytes": 1000, "packets": 10, "dropped": 1, "overlimits": 2},
        "sw.p0": {"sent_bytes": 2000, "packets": 20, "dropped": 3, "overlimits": 4},
        "r1.eth0": {"sent_bytes": 3000, "packets": 30, "dropped": 5, "overlimits": 6},
        "sw.p1": {"sent_bytes": 4000, "packets": 40, "dropped": 7, "overlimits": 8},
    }


def test_qdisc_stats_leaves_out_a_port_that_shows_no_counters(monkeypatch):
    sent = " Sent 10 bytes 1 pkt (dropped 0, overlimits 0 requeues 0)\n"
    outputs = {("pre5-r0", "eth0"): sent, ("pre5-sw", "p0"): sent, ("pre5-r1", "eth0"): sent,
               ("pre5-sw", "p1"): "Cannot find device \"p1\"\n"}
    monkeypatch.setattr(netns, "_sh", _FakeSh(outputs=outputs))
    stats = StarNetwork(n_ranks=2, rate_mbit=100.0, prefix="pre", tag="5").qdisc_stats()
    assert sorted(stats) == ["r0.eth0", "r1.eth0", "sw.p0"]


# ------------------------------------------------------------------------------------------ real namespaces


def _run(cmd: list[str]) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def _tbf(ns: str, dev: str) -> dict:
    (qdisc,) = json.loads(_run(["ip", "netns", "exec", ns, "tc", "-j", "qdisc", "show", "dev", dev]))
    return qdisc


@needs_netns
@pytest.mark.netns
def test_every_veth_end_is_rate_limited_with_the_asked_mtu_and_lo_up(no_leftovers):
    with StarNetwork(n_ranks=2, rate_mbit=100, mtu_bytes=9000, prefix=PREFIX) as net:
        for rank in range(2):
            for ns, dev in ((net.rank_ns(rank), "eth0"), (net.switch_ns, f"p{rank}")):
                qdisc = _tbf(ns, dev)
                assert qdisc["kind"] == "tbf" and qdisc["options"]["rate"] == 12_500_000  # bytes/s of 100 Mbit/s
                assert " mtu 9000 " in _run(["ip", "-n", ns, "link", "show", dev])
            assert "<LOOPBACK,UP" in _run(["ip", "-n", net.rank_ns(rank), "link", "show", "lo"])
            shown = _run(net.exec_prefix(rank) + ["ip", "-4", "addr", "show", "dev", "eth0"])
            assert f"inet 10.231.0.{rank + 1}/24" in shown
        assert "<LOOPBACK,UP" in _run(["ip", "-n", net.switch_ns, "link", "show", "lo"])


@needs_netns
@pytest.mark.netns
def test_a_leftover_with_our_own_name_is_replaced_and_stale_ones_are_removed(no_leftovers):
    net = StarNetwork(n_ranks=2, rate_mbit=100, prefix=PREFIX)
    stale = f"{PREFIX}{DEAD_PID}-r0"
    for name in (net.switch_ns, stale):
        subprocess.run(["ip", "netns", "add", name], check=True)
    with net:
        assert list_namespaces(PREFIX) == sorted([net.switch_ns, net.rank_ns(0), net.rank_ns(1)])
    assert list_namespaces(PREFIX) == []


@needs_netns
@pytest.mark.netns
def test_a_build_that_fails_half_way_removes_what_it_made(no_leftovers, monkeypatch):
    monkeypatch.setattr(netns, "tbf_args", lambda rate, mtu: ["tbf", "rate", "not-a-rate"])
    with pytest.raises(NetnsUnavailable, match="tc"):
        with StarNetwork(n_ranks=2, rate_mbit=100, prefix=PREFIX):
            pass
    assert list_namespaces(PREFIX) == []
