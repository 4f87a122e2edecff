"""`NetworkLinks`: the link directions of a `Topology` inside one simulation, one `Link` per ordered rank pair.

Links are created on first use (a 1,024-rank ring touches 1,024 of the ~10^6 possible pairs), with the cost and
sharing discipline of their class (intra-node or inter-node, `Topology.hop_class`). Collective engines
(`harness.sim.collective_sim.CollectiveEngine`) send over them; engines that share one `NetworkLinks` contend for
its links.

``symmetric=True`` lets ring collectives simulate only representative ranks (`Topology.ring_representatives`):
exact only while every flow on the network comes from a ring collective over the whole topology, so engines refuse
to run anything else (tree, broadcast, p2p) on a symmetric network that more than one engine shares.
"""

from __future__ import annotations

import simpy

from harness.sim.links import Link
from harness.sim.topology import Topology


class NetworkLinks:
    """Per-direction links of ``topology`` in ``env``; ``link(src, dst)`` creates each on first use."""

    def __init__(self, env: simpy.Environment, topology: Topology, symmetric: bool = False):
        self.env = env
        self.topology = topology
        self.symmetric = symmetric
        self.n_engines = 0
        self._links: dict[tuple[int, int], Link] = {}

    def link(self, src: int, dst: int) -> Link:
        """The link direction ``src -> dst`` (ranks in ``0 .. n_ranks-1``, ``src != dst``)."""
        key = (src, dst)
        link = self._links.get(key)
        if link is None:
            p = self.topology.n_ranks
            if not (0 <= src < p and 0 <= dst < p) or src == dst:
                raise ValueError(f"no link {src}->{dst} in a topology of {p} ranks")
            link_class = self.topology.hop_class(src, dst)
            cost = self.topology.cost(link_class)
            link = Link.from_cost(self.env, f"{link_class}:{src}->{dst}", cost.bytes_per_ns, cost.alpha_ns,
                                  self.topology.sharing(link_class))
            self._links[key] = link
        return link

    def links(self) -> list[Link]:
        """Every link created so far."""
        return list(self._links.values())

    def attach(self) -> None:
        """Called by each engine that sends over this network."""
        self.n_engines += 1
