"""What the simulator predicts for the fidelity runs: the network of each setting as a `Topology`, gloo's ring.

Model of gloo's CPU all-reduce (torch ``ProcessGroupGloo`` -> ``gloo::allreduce``, algorithm left UNSPECIFIED,
which gloo runs as its ring; read from gloo's ``allreduce.cc``/``allreduce.h``): a ring reduce-scatter then a
ring all-gather, ``2 (p-1)`` steps of ``S/p`` bytes, each step's chunk sent as ``k`` separate messages
(segments of at most ``kMaxSegmentSize = 1 MiB``, ``k >= 2``: ``numSegments = roundUp(max(ceil(S / 1 MiB),
2p), p)``, ``k = numSegments / p``). ``gloo_ring`` -- our model -- charges alpha per MESSAGE, as the alpha-beta
model does: ``2 (p-1) (k alpha + S / (p B))``. gloo keeps two segments in flight, which hides WIRE latency;
but here alpha is software (syscalls and thread wake-ups at both ends: netem is unavailable, so no link adds
propagation delay), and every segment's wait wakes gloo's worker thread again. ``textbook_ring`` (one alpha
per step, ``2 (p-1) (alpha + S / (p B))``) is reported beside it.

Networks:
- ``loopback``: ranks are processes on one machine; a "link" is CPU work: gloo's one transport thread per
  process copies every byte a rank sends and every byte it receives through the kernel's TCP loopback. In
  ping-pong a rank does one of the two at a time; in a ring step every rank sends a chunk AND receives one,
  on that same thread, so a ring hop gets HALF the ping-pong bandwidth (``duplex="half"``, our model; the
  ping-pong at ``p`` ranks already contains the sharing of the cores by ``p`` processes). ``duplex="full"``
  (the ping-pong bandwidth in each direction at once, what a NIC would give) is reported beside it.
  Topology: one node, ``p`` devices, intra link ``LinkCost(alpha, B_pingpong / 2)``.
- ``netns``: each rank in its own namespace with a full-duplex tbf-limited port into a bridge (see
  `harness.fidelity.netns`). A ring hop i -> i+1 crosses uplink i and downlink i+1, each carrying exactly that
  one flow, so it is one inter-node link per hop at the configured rate. Topology: ``p`` nodes of one device,
  inter link ``LinkCost(alpha_fit, rate * TCP payload efficiency)``; the efficiency ``MSS / (MTU + 14)`` =
  1448 / 1514 for MTU 1500 (TCP/IP headers with timestamps, Ethernet header; tbf counts frame bytes) is a
  protocol constant, not a fitted number.

Data-parallel step: measured compute on one process (times ``max(1, p / cores)`` when ranks outnumber cores,
as they then share CPUs) plus one all-reduce of all gradients after backward (the measured step does the same:
no overlap), through the DP step engine `harness.sim.dp_step` with a single bucket.
"""

from __future__ import annotations

import math
from typing import Literal

from harness.sim.collectives import LinkCost
from harness.sim.topology import Topology, topology_collective_ns

GLOO_MAX_SEGMENT_BYTES = 1 << 20  # gloo AllreduceOptionsImpl::kMaxSegmentSize
ETH_HEADER_BYTES = 14
TCP_IP_HEADER_BYTES = 52  # IPv4 (20) + TCP (20) + timestamps option (12)

Setting = Literal["loopback", "netns"]
Algorithm = Literal["gloo_ring", "textbook_ring"]
SimModel = Literal["closed_form", "link_level"]
ALGORITHMS: tuple[str, ...] = ("gloo_ring", "textbook_ring")
DUPLEX: tuple[str, ...] = ("half", "full")


def gloo_segments_per_rank(size_bytes: int, n_ranks: int, element_bytes: int = 4) -> int:
    """Segments per ring chunk in gloo's ring all-reduce (``k`` in the module docstring)."""
    if n_ranks < 1 or size_bytes < 0 or element_bytes < 1:
        raise ValueError(f"expected n_ranks >= 1, size_bytes >= 0 and element_bytes >= 1, got {n_ranks}, {size_bytes},"
                         f" {element_bytes}")
    max_segment = element_bytes * max(1, GLOO_MAX_SEGMENT_BYTES // element_bytes)
    wanted = max(math.ceil(size_bytes / max_segment), 2 * n_ranks)
    n_segments = math.ceil(wanted / n_ranks) * n_ranks
    return n_segments // n_ranks


def tcp_payload_efficiency(mtu_bytes: int) -> float:
    """TCP payload bytes per byte a tbf qdisc counts: ``(MTU - 52) / (MTU + 14)`` (0.956 for MTU 1500)."""
    if mtu_bytes <= TCP_IP_HEADER_BYTES:
        raise ValueError(f"mtu_bytes: expected > {TCP_IP_HEADER_BYTES}, got {mtu_bytes}")
    return (mtu_bytes - TCP_IP_HEADER_BYTES) / (mtu_bytes + ETH_HEADER_BYTES)


def loopback_hop(alpha_ns: float, pingpong_bytes_per_ns: float, duplex: str = "half") -> LinkCost:
    """A ring hop on loopback: ping-pong latency; half the ping-pong bandwidth (``duplex="half"``) or all of it."""
    if duplex not in DUPLEX:
        raise ValueError(f"unknown duplex {duplex!r}; known: {', '.join(DUPLEX)}")
    share = 2 if duplex == "half" else 1
    return LinkCost(alpha_ns=round(alpha_ns), bytes_per_ns=pingpong_bytes_per_ns / share)


def netns_hop(alpha_ns: float, rate_mbit: float, mtu_bytes: int = 1500) -> LinkCost:
    """A ring hop through the tbf star: fitted latency, configured rate times the TCP payload efficiency."""
    rate_bytes_per_ns = rate_mbit * 1e6 / 8 / 1e9
    return LinkCost(alpha_ns=round(alpha_ns), bytes_per_ns=rate_bytes_per_ns * tcp_payload_efficiency(mtu_bytes))


def topology_for(setting: Setting, n_ranks: int, hop: LinkCost) -> Topology:
    """The simulator's view of the measured network (see the module docstring)."""
    if setting == "loopback":
        return Topology(nodes=1, devices_per_node=n_ranks, intra=hop, inter=hop)
    if setting == "netns":
        return Topology(nodes=n_ranks, devices_per_node=1, intra=hop, inter=hop)
    raise ValueError(f"unknown setting {setting!r}; known: loopback, netns")


def _with_segments(hop: LinkCost, segments: int) -> LinkCost:
    return LinkCost(alpha_ns=hop.alpha_ns * segments, bytes_per_ns=hop.bytes_per_ns)


def allreduce_topology(setting: Setting, n_ranks: int, size_bytes: int, hop: LinkCost, algorithm: Algorithm) -> Topology:
    """The topology whose plain ring equals ``algorithm`` on this network (segments folded into alpha)."""
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    segments = gloo_segments_per_rank(size_bytes, n_ranks) if algorithm == "gloo_ring" else 1
    return topology_for(setting, n_ranks, _with_segments(hop, segments))


def predict_allreduce_ns(
    setting: Setting, n_ranks: int, size_bytes: int, hop: LinkCost, algorithm: Algorithm, model: SimModel
) -> int:
    """Simulated all-reduce time (ns): closed form (`topology_collective_ns`) or link-level SimPy simulation."""
    topology = allreduce_topology(setting, n_ranks, size_bytes, hop, algorithm)
    if model == "closed_form":
        return topology_collective_ns("all_reduce", "ring", size_bytes, topology)
    if model == "link_level":
        from harness.sim.collective_sim import simulate_collective_ns

        return simulate_collective_ns("all_reduce", "ring", size_bytes, topology)
    raise ValueError(f"unknown model {model!r}; known: closed_form, link_level")


def cpu_share_factor(n_ranks: int, n_cores: int) -> float:
    """How much slower one rank computes when ``n_ranks`` single-threaded ranks share ``n_cores`` cores."""
    if n_ranks < 1 or n_cores < 1:
        raise ValueError(f"expected n_ranks, n_cores >= 1, got {n_ranks}, {n_cores}")
    return max(1.0, n_ranks / n_cores)


def predict_dp_step_ns(
    setting: Setting,
    n_ranks: int,
    compute_ns: int,
    grad_bytes: int,
    hop: LinkCost,
    algorithm: Algorithm,
    model: SimModel,
) -> int:
    """Simulated step: ``compute_ns`` (already scaled for CPU sharing) then one all-reduce of ``grad_bytes``.

    Runs the DP step engine (`harness.sim.dp_step.simulate_dp_steps`) with one layer, one bucket and no overlap,
    which is what the measured step does.
    """
    from harness.sim.dp_step import simulate_dp_steps

    topology = allreduce_topology(setting, n_ranks, grad_bytes, hop, algorithm)
    records = simulate_dp_steps(
        forward_ns=[0],
        backward_ns=[int(compute_ns)],
        grad_bytes=[int(grad_bytes)],
        bucket_cap_bytes=int(grad_bytes),
        topology=topology,
        algorithm="ring",
        overlap=False,
        model=model,
        n_steps=1,
    )
    return int(records[0].step_time_ns)
