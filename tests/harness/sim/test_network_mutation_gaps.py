"""Gaps in the tests of `harness.sim.network` found by a mutation audit.

`NetworkLinks.link` refuses a link from a rank to itself and ranks past the last one (on either end); none of
these was tested.
"""

from __future__ import annotations

import pytest

from harness.sim.clock import GuardedEnvironment
from harness.sim.collectives import LinkCost
from harness.sim.network import NetworkLinks
from harness.sim.topology import Topology


@pytest.mark.parametrize("src, dst", [(1, 1), (4, 0), (0, 4), (-1, 0)])
def test_a_self_link_and_ranks_outside_the_topology_are_refused(src, dst):
    topo = Topology(nodes=2, devices_per_node=2, intra=LinkCost(10, 8.0), inter=LinkCost(100, 1.0))
    net = NetworkLinks(GuardedEnvironment(), topo)
    with pytest.raises(ValueError, match=f"no link {src}->{dst} in a topology of 4 ranks"):
        net.link(src, dst)
    assert net.links() == []
