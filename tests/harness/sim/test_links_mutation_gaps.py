"""Gaps in the tests of `harness.sim.links` found by a mutation audit.

Closed here: a negative latency given in simulator units (`Link.from_cost`) is refused; a fair-share link with a
message in serialisation is not idle; a reservation refuses a transfer up to its last ns and allows one at its end;
a negative size is refused by a fair-share link too (the FIFO path also trips over `transfer_ns`). Fair share:
one pending wake-up, landing on the finish (a hand-counted number of events: waking early, acting on a stale
wake-up, finishing one flow per wake-up or queueing a zero-byte message all gave the same times with more events);
the work clock restarts at 0 when the link goes idle (else a float loses a small flow after a huge one).
"""

from __future__ import annotations

import pytest

from harness.errors import SimulationError
from harness.sim.clock import GuardedEnvironment
from harness.sim.links import Link, Reservation


def test_a_negative_latency_in_simulator_units_is_refused():
    with pytest.raises(ValueError, match="latency_ns >= 0"):
        Link.from_cost(GuardedEnvironment(), "l", 1.0, -5)


@pytest.mark.parametrize("sharing", ["fifo", "fair"])
def test_a_link_is_busy_while_it_serialises_and_idle_once_the_last_byte_left(sharing):
    env = GuardedEnvironment()
    link = Link.from_cost(env, "l", 1.0, 50, sharing)  # 1 byte/ns: 100 bytes leave by t=100, arrive at t=150
    done = link.transfer(100)
    env.run(until=99)
    assert not link.is_idle()
    env.run(until=120)  # serialised, still in flight over the latency: idle
    assert link.is_idle() and not done.processed
    env.run(done)
    assert env.now == 150


def _transfer_at(t_ns: int, until_ns: int) -> None:
    env = GuardedEnvironment()
    link = Link.from_cost(env, "l", 1.0, 0)
    link.reservation = Reservation()
    link.reservation.until_ns = until_ns

    def later():
        yield env.timeout(t_ns)
        yield link.transfer(10)

    env.run(env.process(later()))


def test_a_reservation_holds_up_to_its_last_ns_and_ends_at_its_end():
    with pytest.raises(SimulationError, match="reservation until t=100"):
        _transfer_at(99, 100)
    _transfer_at(100, 100)  # the reservation is over: allowed


@pytest.mark.parametrize("sharing", ["fifo", "fair"])
@pytest.mark.parametrize("size", [-1, -0.5])
def test_a_negative_size_is_refused_by_either_discipline(sharing, size):
    link = Link.from_cost(GuardedEnvironment(), "l", 1.0, 0, sharing)
    with pytest.raises(ValueError, match="size_bytes"):
        link.transfer(size)


def test_two_equal_fair_flows_cost_two_wakeups_and_two_deliveries():
    """Exactly one wake-up is pending at a time and it lands on the finish: 2 x 1000 B at 1 B/ns started together
    take a stale wake-up (made stale by the second start), the wake-up that finishes both at t=2000, and the two
    deliveries 5 ns later: 4 events. Waking early, acting on a stale wake-up or finishing one flow per wake-up
    gives the same times with more events."""
    env = GuardedEnvironment()
    link = Link.from_cost(env, "l", 1.0, 5, "fair")
    first, second = link.transfer(1000), link.transfer(1000)
    env.run()
    assert first.processed and second.processed and env.now == 2005
    assert env.events_processed == 4


def test_an_idle_fair_link_restarts_its_work_clock_so_a_small_flow_after_a_huge_one_keeps_its_time():
    """After 2**60 bytes the work clock would sit at 2**60, where a float cannot hold 2**60 + 8; restarted at 0 on
    idle, the next 8 bytes take their 8 ns at 1 byte/ns."""
    env = GuardedEnvironment()
    link = Link.from_cost(env, "l", 1.0, 0, "fair")
    env.run(link.transfer(2**60))
    assert env.now == 2**60
    small = link.transfer(8)
    env.run(small)
    assert env.now == 2**60 + 8


def test_a_zero_byte_message_on_a_fair_link_is_its_latency_and_one_event():
    env = GuardedEnvironment()
    link = Link.from_cost(env, "l", 1.0, 7, "fair")
    done = link.transfer(0)
    env.run()
    assert done.processed and env.now == 7 and env.events_processed == 1 and link.is_idle()


def test_a_flow_that_finishes_the_instant_another_starts_is_delivered_then():
    """1 byte/ns, 5 ns latency: A (100 bytes) is done at t=100, when B (50 bytes) starts; A arrives at 105, B has
    the link alone and arrives at 155."""
    env = GuardedEnvironment()
    link = Link.from_cost(env, "l", 1.0, 5, "fair")
    arrivals = {}

    def start_b(_event):
        link.transfer(50).callbacks.append(lambda _e: arrivals.__setitem__("B", env.now))

    env.timeout(100).callbacks.append(start_b)  # scheduled before A's wake-up: runs first at t=100
    link.transfer(100).callbacks.append(lambda _e: arrivals.__setitem__("A", env.now))
    env.run()
    assert arrivals == {"A": 105, "B": 155}


def test_equal_fair_flows_finishing_together_are_delivered_in_start_order():
    env = GuardedEnvironment()
    link = Link.from_cost(env, "l", 1.0, 0, "fair")
    order = []
    for i in range(3):
        link.transfer(100).callbacks.append(lambda _e, i=i: order.append(i))
    env.run()
    assert order == [0, 1, 2] and env.now == 300
