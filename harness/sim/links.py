"""`Link`: one direction of a network link in a SimPy simulation, with FIFO or fair-share (processor-sharing) use.

A transfer of ``size_bytes`` is serialised at ``bytes_per_ns`` and its last byte arrives ``latency_ns`` later;
`Link.transfer` returns the event that fires at that arrival (the link owns its delays: callers never compute
them). Time is integer ns; serialisation times go through `harness.sim.units.transfer_ns` (round up).

FIFO (``sharing="fifo"``): one message serialises at a time, in submission order; the next one starts serialising
as soon as the previous one has left (latency is pipelined, as on a wire or an ASTRA-sim congestion-aware link).
A transfer costs one SimPy event: its arrival time is known when it is submitted.

Fair share (``sharing="fair"``): every message in serialisation gets ``bytes_per_ns / n`` (egalitarian processor
sharing, the "fast algorithm" with a virtual-work clock): the link keeps ``work_bytes``, the bytes each active flow
has received so far, and each flow a finish tag ``work_bytes_at_start + size``. Rates change only when a flow starts
or finishes. Exactly one wake-up is pending, for the earliest finish tag; SimPy events cannot be cancelled, so a
wake-up made stale by a later start carries an old epoch number and is ignored.

Rounding rule (fair share): a wake-up is scheduled ``transfer_ns(remaining_bytes_of_first_flow * n, bytes_per_ns)``
ns ahead, i.e. at the first integer ns at or after the exact fluid finish; at a wake-up every flow whose remaining
bytes are within float tolerance of zero (``1e-12 * tag + 1e-9`` bytes) finishes, and ``work_bytes`` advances by
the whole elapsed interval. So ``n`` equal flows started together all finish at exactly
``transfer_ns(n * S, B)`` and arrive ``latency_ns`` later, and no wake-up is ever scheduled 0 ns ahead of a flow
that still has bytes to send (the zero-delay event storm of harness_anchors.md §4.4 cannot happen).
"""

from __future__ import annotations

from heapq import heappop, heappush
from itertools import count

import simpy
from simpy.events import NORMAL

from harness.errors import SimulationError
from harness.sim.units import gbps_to_bytes_per_ns, transfer_ns, us_to_ns

SHARING_DISCIPLINES = ("fifo", "fair")
_TAG_RTOL = 1e-12
_TAG_ATOL_BYTES = 1e-9


class Reservation:
    """Links carrying ``reservation`` refuse transfers before ``until_ns`` (set by a replaying collective engine)."""

    __slots__ = ("until_ns",)

    def __init__(self) -> None:
        self.until_ns = -1


class _Delivery(simpy.Event):
    """An event the link triggers itself, ``delay_ns`` after the moment it decides the arrival time."""

    def deliver_in(self, delay_ns: int, size_bytes: float) -> None:
        self._ok = True
        self._value = size_bytes
        self.env.schedule(self, NORMAL, delay_ns)


class Link:
    """One direction of a link: ``transfer(size_bytes)`` -> event firing when the last byte arrives.

    Args:
        env: the simulation environment (integer ns; use `harness.sim.clock.GuardedEnvironment`).
        name: a label for reports and error messages.
        bandwidth_gbps: per-direction bandwidth, gigabits per second.
        latency_us: one-way latency per message, microseconds.
        sharing: ``"fifo"`` or ``"fair"`` (see the module docstring).

    Counters: ``bytes_sent`` / ``transfers_started`` (submitted), ``bytes_delivered`` / ``transfers_delivered``
    (arrived), ``busy_ns`` (time spent serialising at least one message; FIFO books it at submission).

    Example::

        env = GuardedEnvironment()
        uplink = Link(env, "node0->node1", bandwidth_gbps=100, latency_us=5, sharing="fair")
        done = uplink.transfer(1_000_000)   # 80 us of serialisation + 5 us latency
        env.run(done); env.now  # -> 85000
    """

    def __init__(self, env: simpy.Environment, name: str, bandwidth_gbps: float, latency_us: float,
                 sharing: str = "fifo"):
        self._setup(env, name, gbps_to_bytes_per_ns(bandwidth_gbps), us_to_ns(latency_us), sharing)

    @classmethod
    def from_cost(cls, env: simpy.Environment, name: str, bytes_per_ns: float, latency_ns: int,
                  sharing: str = "fifo") -> Link:
        """Build from simulator units directly (``bytes_per_ns``, integer ``latency_ns``)."""
        link = cls.__new__(cls)
        link._setup(env, name, float(bytes_per_ns), int(latency_ns), sharing)
        return link

    def _setup(self, env: simpy.Environment, name: str, bytes_per_ns: float, latency_ns: int, sharing: str) -> None:
        if sharing not in SHARING_DISCIPLINES:
            raise ValueError(f"link {name}: sharing: expected one of {', '.join(SHARING_DISCIPLINES)}, got {sharing!r}")
        if not bytes_per_ns > 0 or latency_ns < 0:
            raise ValueError(f"link {name}: expected bytes_per_ns > 0 and latency_ns >= 0, "
                             f"got {bytes_per_ns!r} and {latency_ns!r}")
        self.env = env
        self.name = name
        self.bytes_per_ns = bytes_per_ns
        self.latency_ns = latency_ns
        self.sharing = sharing
        self.bytes_sent = 0.0
        self.bytes_delivered = 0.0
        self.transfers_started = 0
        self.transfers_delivered = 0
        self.busy_ns = 0
        # Set by a collective engine that replays known isolated runs on this link (collective_sim.py); any
        # other transfer before the reservation ends would make those replays wrong, so it is refused loudly.
        self.reservation: Reservation | None = None
        # FIFO state: when the last submitted message finishes serialising.
        self._busy_until_ns = 0
        # Fair-share state: virtual work clock, active flows heap (tag, seq, size, event), pending wake-up epoch.
        self._work_bytes = 0.0
        self._last_update_ns = 0
        self._flows: list[tuple[float, int, float, _Delivery]] = []
        self._seq = count()
        self._epoch = 0
        self.transfer = self._transfer_fifo if sharing == "fifo" else self._transfer_fair

    def __repr__(self) -> str:
        return (f"Link({self.name!r}, bytes_per_ns={self.bytes_per_ns}, latency_ns={self.latency_ns}, "
                f"sharing={self.sharing!r})")

    def transfer(self, size_bytes: float) -> simpy.Event:  # replaced per instance in _setup
        """Send ``size_bytes``; the returned event fires (value ``size_bytes``) when the last byte arrives."""
        raise NotImplementedError

    def is_idle(self) -> bool:
        """No message is serialising or waiting to (messages in flight over the latency do not count)."""
        if self.sharing == "fair":
            return not self._flows
        return self._busy_until_ns <= self.env.now

    # ------------------------------------------------------------------------------------------------ common

    def _start(self, now_ns: int, size_bytes: float) -> None:
        if self.reservation is not None and now_ns < self.reservation.until_ns:
            raise SimulationError(
                f"link {self.name}: a transfer at t={now_ns} ns hits a reservation until t={self.reservation.until_ns} "
                "ns made by a collective engine replaying an isolated run; run the other traffic on a shared "
                "network (NetworkLinks) instead of the engine's private links"
            )
        if size_bytes < 0:
            raise ValueError(f"link {self.name}: size_bytes: expected a number >= 0, got {size_bytes!r}")
        self.bytes_sent += size_bytes
        self.transfers_started += 1

    def _on_delivered(self, event: simpy.Event) -> None:
        self.bytes_delivered += event._value
        self.transfers_delivered += 1

    # -------------------------------------------------------------------------------------------------- FIFO

    def _transfer_fifo(self, size_bytes: float) -> simpy.Event:
        now_ns = self.env.now
        self._start(now_ns, size_bytes)
        serialise_ns = transfer_ns(size_bytes, self.bytes_per_ns)
        start_ns = self._busy_until_ns if self._busy_until_ns > now_ns else now_ns
        self._busy_until_ns = start_ns + serialise_ns
        self.busy_ns += serialise_ns
        arrival = self.env.timeout(self._busy_until_ns + self.latency_ns - now_ns, size_bytes)
        arrival.callbacks.append(self._on_delivered)
        return arrival

    # -------------------------------------------------------------------------------------------- fair share

    def _transfer_fair(self, size_bytes: float) -> simpy.Event:
        now_ns = self.env.now
        self._start(now_ns, size_bytes)
        delivery = _Delivery(self.env)
        delivery.callbacks.append(self._on_delivered)
        if size_bytes == 0:  # nothing to serialise: only the latency
            delivery.deliver_in(self.latency_ns, size_bytes)
            return delivery
        self._advance(now_ns)
        heappush(self._flows, (self._work_bytes + size_bytes, next(self._seq), size_bytes, delivery))
        self._schedule_wakeup()
        return delivery

    def _advance(self, now_ns: int) -> None:
        """Bring the virtual work clock to ``now_ns`` (every active flow got ``B / n`` bytes per ns)."""
        elapsed_ns = now_ns - self._last_update_ns
        if elapsed_ns and self._flows:
            self._work_bytes += elapsed_ns * self.bytes_per_ns / len(self._flows)
            self.busy_ns += elapsed_ns
        self._last_update_ns = now_ns

    def _schedule_wakeup(self) -> None:
        self._epoch += 1
        if not self._flows:
            return
        first_tag = self._flows[0][0]
        remaining_bytes = first_tag - self._work_bytes
        if remaining_bytes <= _TAG_RTOL * first_tag + _TAG_ATOL_BYTES:
            delay_ns = 0  # finished at this very instant (a start landed on its wake-up time)
        else:
            delay_ns = transfer_ns(remaining_bytes * len(self._flows), self.bytes_per_ns)
        wakeup = self.env.timeout(delay_ns, self._epoch)
        wakeup.callbacks.append(self._wake)

    def _wake(self, wakeup: simpy.Event) -> None:
        if wakeup._value != self._epoch:
            return  # stale: a flow started after this wake-up was scheduled
        self._advance(self.env.now)
        flows, work_bytes, latency_ns = self._flows, self._work_bytes, self.latency_ns
        while flows and flows[0][0] - work_bytes <= _TAG_RTOL * flows[0][0] + _TAG_ATOL_BYTES:
            _, _, size_bytes, delivery = heappop(flows)
            delivery.deliver_in(latency_ns, size_bytes)
        if not flows:
            self._work_bytes = 0.0  # idle: restart the virtual clock so it never loses precision
        self._schedule_wakeup()
