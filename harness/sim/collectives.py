"""Alpha-beta closed forms of the collectives (pure functions, integer nanoseconds, no SimPy).

Follows the standard alpha-beta cost model (Thakur, Rabenseifner & Gropp, "Optimization of collective
communication operations in MPICH", IJHPCA 2005; Patarasuk & Yuan 2009 for the bandwidth-optimal ring):
a message of ``m`` bytes over a link costs ``alpha + m / B``. Here ``alpha`` is the link latency in ns and
``m / B`` is rounded up to whole ns by `harness.sim.units.transfer_ns`, once per message.

Conventions:
- ``size_bytes`` is the FULL buffer of one rank: the reduce-scatter input, the all-gather output, the all-reduce
  buffer, the broadcast buffer, the point-to-point message (nccl-tests' convention). A ring step therefore moves
  a chunk of ``size_bytes / n_ranks`` bytes (fractional bytes allowed), and for the ring
  ``all_reduce(S) == reduce_scatter(S) + all_gather(S)`` holds exactly.
- ``n_ranks == 1`` costs 0 for every operation.

Algorithms (``p`` ranks, ``c = S / p``, ``D(m) = alpha + transfer_ns(m, B)``):

=================  =========  ===================================================================================
op                 algorithm  time
=================  =========  ===================================================================================
reduce_scatter     ring       ``(p-1) * D(c)``
all_gather         ring       ``(p-1) * D(c)``
all_reduce         ring       ``2 (p-1) * D(c)``  (reduce-scatter then all-gather)
all_reduce         tree       ``2 h * D(S)`` with ``h = floor(log2 p)``: a binary tree (heap order, rank i's parent
                              is ``(i-1)//2``), NOT pipelined: reduce to rank 0 then broadcast back, every edge
                              carrying the whole buffer. (NCCL's pipelined double binary tree approaches
                              ``2 log2(p) alpha + S / B``; this model is the simple non-pipelined bound.)
broadcast          tree       ``h * D(S)``: the broadcast half of the tree above
broadcast          ring       ``2 (p-1) * D(c)``: a pipelined chain 0 -> 1 -> ... -> p-1 with the buffer cut in
                              ``p`` chunks of ``c`` bytes; the last chunk leaves the root after ``p-1`` steps and
                              needs ``p-1`` hops
p2p                (any)      ``D(S)``: one message between two ranks (the algorithm is ignored)
=================  =========  ===================================================================================

Startup-plus-bus-bandwidth form (`StartupBandwidth`, `startup_bandwidth_ns`): what a measured collective library
does as a whole rather than link by link, ``t = startup + factor(op, p) * S / busbw(p)``, where ``factor`` is
nccl-tests' bus-bandwidth factor (``2 (p-1)/p`` all-reduce, ``(p-1)/p`` reduce-scatter / all-gather, 1 broadcast
and p2p; nccl-tests ``doc/PERFORMANCE.md``), ``startup`` the per-collective cost a tiny message pays (the flat
20-40 us of NCCL's small all-reduces; NCCL's own tuning model has the same ``latency + bytes / bw`` shape), and
``busbw`` the effective bus bandwidth at that rank count. Its two numbers come from a measured table (an imported
nccl-tests or Vidur profile, `harness.timing.collective_tables`) or from a fit to calibration runs
(`fit_startup_bandwidth`), never from the point being predicted.

reduce_scatter and all_gather have no tree form here (NCCL also runs them as rings only): asking for one raises
``ValueError``.

Rounding and monotonicity: the closed forms are non-decreasing in ``size_bytes`` always. They are non-decreasing
in ``n_ranks`` whenever ``alpha_ns >= n_ranks - 1``: the per-step ceiling can save up to one ns per step when a
smaller chunk crosses an integer, e.g. with ``alpha = 0`` and ``S/B = 4`` ns the ring reduce-scatter takes
``2*ceil(4/3) = 4`` ns on 3 ranks but ``3*ceil(4/4) = 3`` ns on 4. Real links have latencies of microseconds, so
the condition holds up to thousands of ranks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.sim.units import gbps_to_bytes_per_ns, transfer_ns, us_to_ns

OPS = ("all_reduce", "reduce_scatter", "all_gather", "broadcast", "p2p")
ALGORITHMS = ("ring", "tree")
# Which algorithms each op supports (p2p ignores the algorithm).
SUPPORTED_ALGORITHMS: dict[str, tuple[str, ...]] = {
    "all_reduce": ("ring", "tree"),
    "reduce_scatter": ("ring",),
    "all_gather": ("ring",),
    "broadcast": ("ring", "tree"),
    "p2p": ("ring", "tree"),
}


@dataclass(frozen=True)
class LinkCost:
    """The alpha-beta cost of one link direction: ``alpha_ns`` per message plus ``size / bytes_per_ns``."""

    alpha_ns: int
    bytes_per_ns: float

    def __post_init__(self) -> None:
        if not isinstance(self.alpha_ns, int) or self.alpha_ns < 0:
            raise ValueError(f"LinkCost.alpha_ns: expected an integer >= 0 (ns), got {self.alpha_ns!r}")
        if not self.bytes_per_ns > 0 or self.bytes_per_ns == float("inf"):
            raise ValueError(f"LinkCost.bytes_per_ns: expected a finite number > 0, got {self.bytes_per_ns!r}")

    @classmethod
    def from_spec(cls, link_spec: Any) -> LinkCost:
        """From a `harness.config.blocks.LinkSpec`: ``latency_us``, and the payload rate ``bandwidth_gbps *
        protocol_efficiency`` (payload bytes per wire byte; 1 when the spec has no such field)."""
        efficiency = getattr(link_spec, "protocol_efficiency", 1.0)
        return cls(alpha_ns=us_to_ns(link_spec.latency_us),
                   bytes_per_ns=gbps_to_bytes_per_ns(link_spec.bandwidth_gbps * efficiency))

    def message_ns(self, size_bytes: float) -> int:
        """``alpha + transfer_ns(size_bytes)``: one message over this link, from send to last byte arrived."""
        return self.alpha_ns + transfer_ns(size_bytes, self.bytes_per_ns)


def check_op_algorithm(op: str, algorithm: str) -> None:
    """Raise ``ValueError`` naming the known values if ``op``/``algorithm`` is unknown or unsupported."""
    if op not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unknown collective op {op!r}; known: {', '.join(OPS)}")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown collective algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    if algorithm not in SUPPORTED_ALGORITHMS[op]:
        raise ValueError(
            f"{op} has no {algorithm!r} algorithm in this model; known for {op}: "
            f"{', '.join(SUPPORTED_ALGORITHMS[op])}"
        )


def _check_size_ranks(size_bytes: float, n_ranks: int) -> None:
    if size_bytes < 0:
        raise ValueError(f"size_bytes: expected a number >= 0, got {size_bytes!r}")
    if int(n_ranks) != n_ranks or n_ranks < 1:
        raise ValueError(f"n_ranks: expected an integer >= 1, got {n_ranks!r}")


def tree_height(n_ranks: int) -> int:
    """Height of the heap-ordered binary tree over ``n_ranks`` ranks: ``floor(log2 n_ranks)``."""
    return int(n_ranks).bit_length() - 1


def ring_chunk_bytes(size_bytes: float, n_ranks: int) -> float:
    """The chunk one ring step moves: ``size_bytes / n_ranks`` (fractional bytes allowed)."""
    return size_bytes / n_ranks


# ----------------------------------------------------------------------------------------------- closed forms


def p2p_ns(size_bytes: float, link: LinkCost) -> int:
    """One message of ``size_bytes`` over ``link``: ``alpha + S/B``."""
    _check_size_ranks(size_bytes, 2)
    return link.message_ns(size_bytes)


def ring_reduce_scatter_ns(size_bytes: float, n_ranks: int, link: LinkCost) -> int:
    """Ring reduce-scatter of a ``size_bytes`` buffer per rank: ``(p-1) (alpha + (S/p)/B)``."""
    _check_size_ranks(size_bytes, n_ranks)
    if n_ranks == 1:
        return 0
    return (n_ranks - 1) * link.message_ns(ring_chunk_bytes(size_bytes, n_ranks))


def ring_all_gather_ns(size_bytes: float, n_ranks: int, link: LinkCost) -> int:
    """Ring all-gather whose OUTPUT is ``size_bytes`` per rank: ``(p-1) (alpha + (S/p)/B)``."""
    return ring_reduce_scatter_ns(size_bytes, n_ranks, link)


def ring_all_reduce_ns(size_bytes: float, n_ranks: int, link: LinkCost) -> int:
    """Ring all-reduce = ring reduce-scatter + ring all-gather of the same buffer."""
    return ring_reduce_scatter_ns(size_bytes, n_ranks, link) + ring_all_gather_ns(size_bytes, n_ranks, link)


def ring_broadcast_ns(size_bytes: float, n_ranks: int, link: LinkCost) -> int:
    """Pipelined-chain broadcast in ``p`` chunks: ``2 (p-1) (alpha + (S/p)/B)``."""
    return ring_all_reduce_ns(size_bytes, n_ranks, link)


def tree_broadcast_ns(size_bytes: float, n_ranks: int, link: LinkCost) -> int:
    """Binary-tree broadcast, not pipelined: ``floor(log2 p) (alpha + S/B)``."""
    _check_size_ranks(size_bytes, n_ranks)
    return tree_height(n_ranks) * link.message_ns(size_bytes) if n_ranks > 1 else 0


def tree_all_reduce_ns(size_bytes: float, n_ranks: int, link: LinkCost) -> int:
    """Binary-tree reduce then broadcast, not pipelined: ``2 floor(log2 p) (alpha + S/B)``."""
    return 2 * tree_broadcast_ns(size_bytes, n_ranks, link)


_CLOSED_FORMS = {
    ("all_reduce", "ring"): ring_all_reduce_ns,
    ("all_reduce", "tree"): tree_all_reduce_ns,
    ("reduce_scatter", "ring"): ring_reduce_scatter_ns,
    ("all_gather", "ring"): ring_all_gather_ns,
    ("broadcast", "ring"): ring_broadcast_ns,
    ("broadcast", "tree"): tree_broadcast_ns,
}


def collective_ns(op: str, algorithm: str, size_bytes: float, n_ranks: int, link: LinkCost) -> int:
    """Closed-form time (ns) of ``op`` with ``algorithm`` over ``n_ranks`` ranks all joined by ``link``.

    >>> nvlink = LinkCost(alpha_ns=2_000, bytes_per_ns=450.0)
    >>> collective_ns("all_reduce", "ring", 1 << 20, 8, nvlink)
    32088
    """
    check_op_algorithm(op, algorithm)
    _check_size_ranks(size_bytes, n_ranks)
    if n_ranks == 1:
        return 0
    if op == "p2p":
        return p2p_ns(size_bytes, link)
    return _CLOSED_FORMS[(op, algorithm)](size_bytes, n_ranks, link)


# ----------------------------------------------------------------------------------------------- bytes on the wire


def tree_children(rank: int, n_ranks: int) -> list[int]:
    """Children of ``rank`` in the heap-ordered binary tree over ``n_ranks`` ranks."""
    return [child for child in (2 * rank + 1, 2 * rank + 2) if child < n_ranks]


def bytes_on_wire_per_rank(op: str, algorithm: str, size_bytes: float, n_ranks: int) -> float:
    """Bytes the busiest rank sends during the collective (every rank, for the ring all-* ops).

    Ring reduce-scatter / all-gather: ``(p-1)/p * S``; ring all-reduce: twice that; ring broadcast: ``S`` (every
    rank but the last forwards all chunks); tree broadcast: ``2 S`` (a rank with two children; ``S`` for p=2);
    tree all-reduce: ``S`` up plus ``S`` per child down (``3 S`` for p >= 5); p2p: ``S`` (the sender).
    """
    check_op_algorithm(op, algorithm)
    _check_size_ranks(size_bytes, n_ranks)
    p = n_ranks
    if p == 1:
        return 0.0
    if op in ("reduce_scatter", "all_gather"):
        return (p - 1) * ring_chunk_bytes(size_bytes, p)
    if op == "all_reduce" and algorithm == "ring":
        return 2 * (p - 1) * ring_chunk_bytes(size_bytes, p)
    if op == "p2p" or (op == "broadcast" and algorithm == "ring"):
        return float(size_bytes)
    # Trees: a rank sends S per child (broadcast) and, in an all-reduce, S to its parent unless it is the root.
    sends_up = 1 if op == "all_reduce" else 0
    busiest = 0
    for rank in range(min(p, 3)):  # ranks 0..2 cover every child count the heap tree can have at its top
        busiest = max(busiest, len(tree_children(rank, p)) + (sends_up if rank > 0 else 0))
    return busiest * float(size_bytes)


# ----------------------------------------------------------------------------------------------- startup + busbw


def bus_factor(op: str, n_ranks: int) -> float:
    """nccl-tests' bus-bandwidth factor: bytes each rank's link carries per byte of ``size_bytes``."""
    if op not in SUPPORTED_ALGORITHMS:
        raise ValueError(f"unknown collective op {op!r}; known: {', '.join(OPS)}")
    _check_size_ranks(0, n_ranks)
    p = n_ranks
    if op == "all_reduce":
        return 2.0 * (p - 1) / p
    if op in ("reduce_scatter", "all_gather"):
        return (p - 1) / p
    return 1.0  # broadcast, p2p


@dataclass(frozen=True)
class StartupBandwidth:
    """A collective's cost as one startup plus its bus bytes at an effective bus bandwidth (see the docstring).

    ``startup_ns`` is paid once per collective (not per ring step); ``busbw_bytes_per_ns`` is the effective bus
    bandwidth at this rank count (nccl-tests' ``busbw``: 1 byte/ns = 1 GB/s).
    """

    startup_ns: float
    busbw_bytes_per_ns: float

    def __post_init__(self) -> None:
        if not (self.startup_ns >= 0 and self.startup_ns != float("inf")):
            raise ValueError(f"StartupBandwidth.startup_ns: expected a finite number >= 0, got {self.startup_ns!r}")
        if not (self.busbw_bytes_per_ns > 0 and self.busbw_bytes_per_ns != float("inf")):
            raise ValueError(
                f"StartupBandwidth.busbw_bytes_per_ns: expected a finite number > 0, got {self.busbw_bytes_per_ns!r}")


def startup_bandwidth_ns(op: str, size_bytes: float, n_ranks: int, params: StartupBandwidth) -> int:
    """``startup + factor(op, p) * size / busbw`` in whole ns (one rank -> 0; the transfer rounded up).

    >>> startup_bandwidth_ns("all_reduce", 1 << 20, 8, StartupBandwidth(25_000, 150.0))
    37234
    """
    _check_size_ranks(size_bytes, n_ranks)
    if n_ranks == 1:
        return 0
    return round(params.startup_ns) + transfer_ns(bus_factor(op, n_ranks) * size_bytes, params.busbw_bytes_per_ns)


def fit_startup_bandwidth(op: str, n_ranks: int, size_bytes, time_ns, spread=None) -> StartupBandwidth:
    """Fit ``startup`` and ``busbw`` of one op at one rank count to measured (size, time) pairs.

    Minimises the weighted squared RELATIVE residuals ``sum(w_i^2 ((startup + f S_i / busbw) / t_i - 1)^2)`` with
    both parameters >= 0 (`scipy.optimize.nnls`), ``f`` the bus factor. ``spread`` (optional) is each
    measurement's relative spread ``(p90 - p10) / median``; then ``w_i = 1 / max(spread_i, 0.05)``: a point whose
    repeats scatter over a factor of three (small messages on a busy host) counts less than a tight one, the
    usual inverse-uncertainty weighting; without it every point counts alike. Raises ``ValueError`` for fewer
    than two distinct sizes, non-positive times, or data with no size dependence.
    """
    import numpy as np
    from scipy.optimize import nnls

    bus = bus_factor(op, n_ranks) * np.asarray(size_bytes, dtype=float)
    times = np.asarray(time_ns, dtype=float)
    if bus.shape != times.shape or bus.ndim != 1 or np.unique(bus).size < 2:
        raise ValueError("expected matching 1-D sizes and times with at least two distinct sizes")
    if not (np.all(np.isfinite(times)) and np.all(times > 0) and np.all(bus >= 0)):
        raise ValueError("expected finite times > 0 and sizes >= 0")
    weights = np.ones_like(times) if spread is None else 1.0 / np.maximum(np.asarray(spread, dtype=float), 0.05)
    scale_a = float(np.median(times))  # columns of order one for nnls
    scale_b = float(np.median(times[bus > 0] / bus[bus > 0]))
    design = np.column_stack([scale_a / times, scale_b * bus / times]) * weights[:, None]
    (a, b), _ = nnls(design, weights)
    if b * scale_b * bus.max() <= 1e-9 * scale_a:
        raise ValueError("no size dependence in the data (fitted bandwidth term = 0)")
    return StartupBandwidth(startup_ns=float(a * scale_a), busbw_bytes_per_ns=float(1.0 / (b * scale_b)))
