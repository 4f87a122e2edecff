"""Network namespaces + veth + tbf (harness.fidelity.netns): built, used by gloo, and ALWAYS cleaned up.

Skips with the reason where namespaces cannot be built (not root, no iproute2). Uses its own name prefix, so a
study running at the same time is never touched, and checks after every test that nothing is left behind.
"""

from __future__ import annotations

import subprocess

import pytest

from harness.fidelity.netns import (
    StarNetwork,
    clean_stale,
    list_namespaces,
    netns_unavailable_reason,
    tbf_args,
)

PREFIX = "h6test"
REASON = netns_unavailable_reason()
needs_netns = pytest.mark.skipif(REASON is not None, reason=f"network namespaces unavailable: {REASON}")


def test_bad_parameters_are_clear_errors():
    with pytest.raises(ValueError, match="n_ranks"):
        StarNetwork(n_ranks=1, rate_mbit=100)
    with pytest.raises(ValueError, match="rate_mbit"):
        StarNetwork(n_ranks=2, rate_mbit=0)
    with pytest.raises(ValueError, match="prefix"):
        StarNetwork(n_ranks=2, rate_mbit=100, prefix="Bad-Prefix")


def test_tbf_burst_is_half_a_millisecond_of_the_rate_but_at_least_two_frames():
    args = tbf_args(1000.0, 1500)
    assert args[:3] == ["tbf", "rate", "1000mbit"]
    assert int(args[args.index("burst") + 1]) == 62_500
    args = tbf_args(10.0, 1500)
    assert int(args[args.index("burst") + 1]) == 2 * 1514


@needs_netns
@pytest.mark.netns
def test_star_network_is_built_rate_limited_and_removed(no_leftovers):
    with StarNetwork(n_ranks=2, rate_mbit=100, prefix=PREFIX) as net:
        assert set(list_namespaces(PREFIX)) == {net.switch_ns, net.rank_ns(0), net.rank_ns(1)}
        for rank in range(2):
            shown = subprocess.run(net.exec_prefix(rank) + ["tc", "qdisc", "show", "dev", net.rank_ifname],
                                   capture_output=True, text=True, check=True).stdout
            assert "tbf" in shown and "100Mbit" in shown
        stats = net.qdisc_stats()
        assert set(stats) == {"r0.eth0", "r1.eth0", "sw.p0", "sw.p1"}
    assert list_namespaces(PREFIX) == []


@needs_netns
@pytest.mark.netns
def test_namespaces_are_removed_when_the_body_raises(no_leftovers):
    with pytest.raises(RuntimeError, match="boom"):
        with StarNetwork(n_ranks=2, rate_mbit=100, prefix=PREFIX):
            raise RuntimeError("boom")
    assert list_namespaces(PREFIX) == []


@needs_netns
@pytest.mark.netns
def test_stale_namespaces_of_dead_processes_are_cleaned(no_leftovers):
    dead_pid = 4_194_303  # above any pid this machine hands out (pid_max defaults to 4194304 at most)
    stale = f"{PREFIX}{dead_pid}-r0"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    assert clean_stale(PREFIX) == [stale]
    assert list_namespaces(PREFIX) == []


@needs_netns
@pytest.mark.netns
def test_gloo_runs_across_the_namespaces(no_leftovers):
    from harness.fidelity.launch import InNamespaces, reduce_rows, run_ranks

    sizes = [4096, 65536]
    args = ["--sizes-bytes", *map(str, sizes), "--warmup", "1", "--repeats", "2"]
    with StarNetwork(n_ranks=2, rate_mbit=100, prefix=PREFIX) as net:
        rows = reduce_rows(run_ranks("pingpong", 2, args, InNamespaces(net), timeout_s=120))
        sent = net.qdisc_stats()["r0.eth0"]["sent_bytes"]
    assert all(row["time_ns_median"] > 0 for row in rows)
    # the traffic really went through the rate-limited veth, and the rate limit holds: 64 KiB at 100 Mbit/s
    # cannot arrive faster than its bits allow (minus the half-millisecond burst), whatever the noise
    assert sent > 65536
    assert rows[1]["time_ns_median"] > 0.5 * 65536 * 8 / 100e6 * 1e9
