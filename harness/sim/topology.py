"""`Topology`: nodes x devices joined by intra-node and inter-node links, and its closed-form collective times.

Model (what the link-level simulation in `harness.sim.collective_sim` reproduces exactly when nothing contends):

- Ranks are numbered node-major: rank ``r`` lives on node ``r // devices_per_node``. The ring visits the ranks in
  that order and wraps around (``r -> r+1 mod p``), so it crosses nodes ``nodes`` times (once per node, when
  ``nodes >= 2``) and stays inside a node for the other ``p - nodes`` hops.
- Every ordered pair of ranks has its own link direction, of class ``intra`` (same node) or ``inter``; a class is
  an alpha-beta `LinkCost` plus a sharing discipline (``fifo`` or ``fair``) for concurrent transfers on one link.
  The machine's NIC is not a shared resource of its own: a flat ring sends one flow per node and direction across
  it, so this is exact for rings; the heap-ordered tree ignores node boundaries and can send several flows out of
  one node at once, each at the full inter-node bandwidth (optimistic for trees on many-GPU nodes).
- Ring steps (reduce-scatter, all-gather, all-reduce): each rank's step is a ``sendrecv``: it sends one chunk to
  its successor and receives one from its predecessor, and starts the next step when both have completed
  (delivered). Then the rank behind the slowest hop sends back-to-back and the collective takes
  ``(steps) x max_hop(alpha + chunk/B)``: every ring step is as slow as its slowest hop.
- Ring broadcast: a pipelined chain ``0 -> 1 -> ... -> p-1`` in ``p`` chunks with the same sendrecv rule; its time
  is ``sum over the p-1 chain hops of D(c) + (p-1) * max over them of D(c)``.
- Tree (binary, heap order over the ring order, not pipelined, whole buffer per edge): a rank forwards once all
  its inputs have arrived, so a reduce or a broadcast takes the longest root-to-rank path (the sum of its edges'
  ``alpha + S/B``), and an all-reduce twice that.
- p2p: one message over a hop of the slowest class for that message size.

With one link class all of this reduces to `harness.sim.collectives.collective_ns`.

Measured collectives (`collective_pricing`): while a run is under way the harness may install a pricer for the
scenario's measured collective tables (`harness.timing.collective_tables.TablePricer`, installed by
`harness.executors.execute_task` when ``results/timings/<table_set>/collectives/`` exists). Then
`topology_collective_ns` asks the pricer, which replays the table (exact -> interpolation -> fitted startup +
bus bandwidth) and falls back to this module's alpha-beta closed form (`alpha_beta_collective_ns`) where the table
has no rows for the collective at the topology's rank count. Only the closed-form path consults it: the
link-level simulation (`harness.sim.collective_sim`) always simulates the links.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from harness.sim.collectives import LinkCost, check_op_algorithm, ring_chunk_bytes

SHARING_DISCIPLINES = ("fifo", "fair")
INTRA, INTER = "intra", "inter"
# Order in which classes are listed and tie-broken (the inter-node link first: it is usually the slow one).
CLASS_ORDER = (INTER, INTRA)


@dataclass(frozen=True)
class Topology:
    """``nodes`` machines with ``devices_per_node`` ranks each; ``intra``/``inter`` are the two link classes."""

    nodes: int
    devices_per_node: int
    intra: LinkCost
    inter: LinkCost
    intra_sharing: str = "fair"
    inter_sharing: str = "fair"

    def __post_init__(self) -> None:
        for name in ("nodes", "devices_per_node"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Topology.{name}: expected an integer >= 1, got {value!r}")
        for name in ("intra_sharing", "inter_sharing"):
            value = getattr(self, name)
            if value not in SHARING_DISCIPLINES:
                raise ValueError(f"Topology.{name}: expected one of {', '.join(SHARING_DISCIPLINES)}, got {value!r}")

    @classmethod
    def from_config(cls, cluster: Any, network: Any) -> Topology:
        """From a `ClusterSpec` and a `NetworkSpec` (`harness.config.blocks`)."""
        return cls(
            nodes=cluster.nodes,
            devices_per_node=cluster.devices_per_node,
            intra=LinkCost.from_spec(network.intra_node),
            inter=LinkCost.from_spec(network.inter_node),
            intra_sharing=network.intra_node.sharing,
            inter_sharing=network.inter_node.sharing,
        )

    # ------------------------------------------------------------------------------------------- structure

    @property
    def n_ranks(self) -> int:
        return self.nodes * self.devices_per_node

    def node_of(self, rank: int) -> int:
        return rank // self.devices_per_node

    def ring_order(self) -> range:
        """The ring visits ranks in node-major order and wraps around."""
        return range(self.n_ranks)

    def ring_next(self, rank: int) -> int:
        return (rank + 1) % self.n_ranks

    def hop_class(self, src: int, dst: int) -> str:
        """``"intra"`` if both ranks share a node, else ``"inter"``."""
        return INTRA if self.node_of(src) == self.node_of(dst) else INTER

    def cost(self, link_class: str) -> LinkCost:
        return self.intra if link_class == INTRA else self.inter

    def sharing(self, link_class: str) -> str:
        return self.intra_sharing if link_class == INTRA else self.inter_sharing

    def ring_hop_class(self, rank: int) -> str:
        """Class of the ring hop ``rank -> rank+1``."""
        return self.hop_class(rank, self.ring_next(rank))

    def ring_hop_classes(self) -> tuple[str, ...]:
        """The classes the ring uses: inter if ``nodes >= 2``, intra if ``devices_per_node >= 2``."""
        if self.n_ranks == 1:
            return ()
        present = {INTER: self.nodes >= 2, INTRA: self.devices_per_node >= 2}
        return tuple(c for c in CLASS_ORDER if present[c])

    def chain_hop_counts(self) -> dict[str, int]:
        """How many hops of each class the open chain ``0 -> 1 -> ... -> p-1`` takes."""
        return {INTER: self.nodes - 1, INTRA: self.n_ranks - self.nodes}

    def ring_is_uniform(self) -> bool:
        """True when every ring hop has the same cost and sharing (then every rank behaves alike)."""
        kinds = {(self.cost(c), self.sharing(c)) for c in self.ring_hop_classes()}
        return len(kinds) <= 1

    def ring_representatives(self) -> int:
        """How many consecutive ranks the link-level ring must simulate to be exact by symmetry.

        1 when the ring is uniform (every rank identical); otherwise one node's ``devices_per_node`` ranks, with
        the last one's successor standing for the next node's first rank (nodes are identical, so rank ``r``
        and rank ``r + devices_per_node`` behave the same). Valid only while all traffic on the links is
        rank-symmetric, i.e. comes from ring collectives over the whole topology.
        """
        return 1 if self.ring_is_uniform() else self.devices_per_node

    def slowest_ring_class(self, message_bytes: float | None = None) -> str:
        """The ring hop class with the largest ``alpha + message/B`` (ties: inter first).

        Without a message size: the lowest bandwidth, then the highest latency.
        """
        classes = self.ring_hop_classes()
        if not classes:
            raise ValueError("a single-rank topology has no hops")
        if message_bytes is None:
            return min(classes, key=lambda c: (self.cost(c).bytes_per_ns, -self.cost(c).alpha_ns))
        return max(classes, key=lambda c: self.cost(c).message_ns(message_bytes))  # max keeps the first on ties

    def bottleneck(self, message_bytes: float | None = None) -> LinkCost:
        """The `LinkCost` of the slowest ring hop (see `slowest_ring_class`)."""
        return self.cost(self.slowest_ring_class(message_bytes))

    def p2p_hop(self, size_bytes: float) -> tuple[int, int]:
        """The ``(src, dst)`` pair a p2p message uses: the first ring hop of the slowest class for that size."""
        if self.slowest_ring_class(size_bytes) == INTER:
            return self.devices_per_node - 1, self.devices_per_node
        return 0, 1

    def tree_depth_ns(self, size_bytes: float) -> int:
        """Longest root-to-rank path of the heap binary tree, each edge costing ``alpha + size/B`` of its class."""
        p = self.n_ranks
        edge_ns = {c: self.cost(c).message_ns(size_bytes) for c in (INTRA, INTER)}
        dist = [0] * p
        for rank in range(1, p):
            parent = (rank - 1) // 2
            dist[rank] = dist[parent] + edge_ns[self.hop_class(parent, rank)]
        return max(dist)


#: ``(op, algorithm, size_bytes, topology) -> ns``: prices a collective from measured tables (module docstring)
CollectivePricer = Callable[[str, str, float, "Topology"], int]
_PRICER: ContextVar[CollectivePricer | None] = ContextVar("collective_pricer", default=None)


@contextlib.contextmanager
def collective_pricing(pricer: CollectivePricer | None) -> Iterator[CollectivePricer | None]:
    """Inside the block, `topology_collective_ns` prices collectives with ``pricer`` (None: the closed form)."""
    token = _PRICER.set(pricer)
    try:
        yield pricer
    finally:
        _PRICER.reset(token)


def topology_collective_ns(op: str, algorithm: str, size_bytes: float, topology: Topology) -> int:
    """Time (ns) of ``op`` over every rank of ``topology``: the installed measured-table pricer if any
    (`collective_pricing`), else the alpha-beta closed form (`alpha_beta_collective_ns`)."""
    check_op_algorithm(op, algorithm)
    if size_bytes < 0:
        raise ValueError(f"size_bytes: expected a number >= 0, got {size_bytes!r}")
    pricer = _PRICER.get()
    if pricer is None or topology.n_ranks == 1:
        return alpha_beta_collective_ns(op, algorithm, size_bytes, topology)
    return int(pricer(op, algorithm, size_bytes, topology))


def alpha_beta_collective_ns(op: str, algorithm: str, size_bytes: float, topology: Topology) -> int:
    """Closed-form time (ns) of ``op`` over every rank of ``topology`` (model in the module docstring)."""
    check_op_algorithm(op, algorithm)
    if size_bytes < 0:
        raise ValueError(f"size_bytes: expected a number >= 0, got {size_bytes!r}")
    p = topology.n_ranks
    if p == 1:
        return 0
    if op == "p2p":
        return topology.bottleneck(size_bytes).message_ns(size_bytes)
    if algorithm == "tree":
        depth_ns = topology.tree_depth_ns(size_bytes)
        return 2 * depth_ns if op == "all_reduce" else depth_ns
    chunk = ring_chunk_bytes(size_bytes, p)
    if op == "broadcast":  # pipelined chain in p chunks
        counts = topology.chain_hop_counts()
        hop_ns = {c: topology.cost(c).message_ns(chunk) for c, n in counts.items() if n > 0}
        return sum(counts[c] * hop_ns[c] for c in hop_ns) + (p - 1) * max(hop_ns.values())
    step_ns = max(topology.cost(c).message_ns(chunk) for c in topology.ring_hop_classes())
    steps = 2 * (p - 1) if op == "all_reduce" else p - 1
    return steps * step_ns
