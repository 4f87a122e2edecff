"""Link-level simulation of the collectives of `harness.sim.collectives` over a `Topology` (SimPy).

Every ring/tree step is a real `Link.transfer` on the link direction of its hop, so FIFO queueing and fair
sharing apply, with the data dependencies of the algorithm (models in `harness.sim.topology`):

- ring reduce-scatter / all-gather / all-reduce: each rank runs ``sendrecv`` steps (send a chunk of
  ``size / p`` to its successor, receive one from its predecessor, start the next step when both completed);
- ring broadcast: a pipelined chain ``0 -> ... -> p-1`` in ``p`` chunks, one chunk in flight per hop;
- tree all-reduce / broadcast: heap-ordered binary tree, whole buffer per edge, forward when all inputs arrived;
- p2p: one transfer over a hop of the slowest class.

With nothing else on the links the result EQUALS `harness.sim.topology.topology_collective_ns` (same integer
rounding, `harness.sim.units.transfer_ns`); with other traffic on the same links it shows contention.

Scale (design notes):
- Symmetry: on a symmetric network a ring simulates one representative rank when every hop is alike, else one
  node's ranks with the last one's successor standing for the next node (nodes are identical). This is exact
  while all traffic is rank-symmetric (ring collectives over the whole topology); trees, chains and p2p are not
  symmetric and simulate every rank they touch.
- Events only at transfer starts/finishes: runs are callback-driven state machines, not one process per rank.
- `CollectiveEngine` is one communicator with one stream (like an NCCL communicator): its collectives run one
  after the other in submission order. An engine that owns its network (the default) therefore always runs on
  idle links, so a collective's duration is a pure function of ``(op, algorithm, size)``: with
  ``reuse_isolated=True`` the first run of each key is simulated at link level and later identical ones replay
  its recorded duration as one event (exact, not an approximation; their link counters are booked in bulk by
  `CollectiveEngine.sync_link_counters`). While replays are scheduled the links are reserved, and any other
  transfer on them raises `SimulationError` rather than silently breaking exactness; the private network must
  carry nothing but the engine's own collectives. Engines that share a `NetworkLinks` (contention studies) never
  replay.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import simpy

from harness.errors import SimulationError
from harness.sim.clock import GuardedEnvironment
from harness.sim.collectives import check_op_algorithm, ring_chunk_bytes
from harness.sim.links import Link, Reservation
from harness.sim.network import NetworkLinks
from harness.sim.topology import Topology

Done = Callable[[], None]


# ------------------------------------------------------------------------------------------------ ring (sendrecv)


class _RingRank:
    """One ring rank: sends step ``sent`` once its previous send and its predecessor's have been delivered."""

    __slots__ = ("run", "link", "pred", "succ", "sent", "delivered")

    def __init__(self, run: _RingRun, link: Link):
        self.run, self.link = run, link
        self.pred = self.succ = self
        self.sent = 0  # steps started
        self.delivered = 0  # steps whose chunk has arrived at the successor

    def try_send(self) -> None:
        step = self.sent
        if step < self.run.steps and self.delivered == step and self.pred.delivered >= step:
            self.sent = step + 1
            self.link.transfer(self.run.chunk_bytes).callbacks.append(self.on_delivered)

    def on_delivered(self, _event: simpy.Event) -> None:
        self.delivered += 1
        if self.delivered == self.run.steps:
            self.run.rank_done()
        self.try_send()
        self.succ.try_send()


class _RingRun:
    """``steps`` ring steps of ``chunk_bytes`` over ranks ``0 .. n_simulated-1`` (a periodic window of the ring)."""

    def __init__(self, network: NetworkLinks, steps: int, chunk_bytes: float, n_simulated: int):
        p = network.topology.n_ranks
        self.steps, self.chunk_bytes = steps, chunk_bytes
        self.ranks = [_RingRank(self, network.link(r, (r + 1) % p)) for r in range(n_simulated)]
        for r, rank in enumerate(self.ranks):
            rank.pred = self.ranks[r - 1]
            rank.succ = self.ranks[(r + 1) % n_simulated]
        self.ranks_left = n_simulated

    def links(self) -> list[Link]:
        return [rank.link for rank in self.ranks]

    def start(self, on_done: Done) -> None:
        self.on_done = on_done
        for rank in self.ranks:
            rank.try_send()

    def rank_done(self) -> None:
        self.ranks_left -= 1
        if self.ranks_left == 0:
            self.on_done()


# ------------------------------------------------------------------------------------- chain broadcast (pipelined)


class _ChainRun:
    """Rank ``r`` forwards chunk ``j`` to ``r+1`` once it has it and its chunk ``j-1`` has been delivered."""

    def __init__(self, network: NetworkLinks, n_chunks: int, chunk_bytes: float):
        p = network.topology.n_ranks
        self.n_chunks, self.chunk_bytes = n_chunks, chunk_bytes
        self.senders = [network.link(r, r + 1) for r in range(p - 1)]
        self.sent = [0] * (p - 1)
        self.delivered = [0] * (p - 1)
        self._callbacks = [self._make_on_delivered(r) for r in range(p - 1)]

    def links(self) -> list[Link]:
        return list(self.senders)

    def start(self, on_done: Done) -> None:
        self.on_done = on_done
        self._try_send(0)

    def _try_send(self, r: int) -> None:
        chunk = self.sent[r]
        if chunk < self.n_chunks and self.delivered[r] == chunk and (r == 0 or self.delivered[r - 1] > chunk):
            self.sent[r] = chunk + 1
            self.senders[r].transfer(self.chunk_bytes).callbacks.append(self._callbacks[r])

    def _make_on_delivered(self, r: int) -> Callable[[simpy.Event], None]:
        last = len(self.senders) - 1

        def on_delivered(_event: simpy.Event) -> None:
            self.delivered[r] += 1
            if r == last and self.delivered[r] == self.n_chunks:
                self.on_done()
                return
            self._try_send(r)
            if r < last:
                self._try_send(r + 1)

        return on_delivered


# ------------------------------------------------------------------------------------------------- binary tree


class _TreeRun:
    """Heap-ordered binary tree: optional reduce to rank 0, then broadcast; whole buffer on every edge."""

    def __init__(self, network: NetworkLinks, size_bytes: float, reduce_first: bool):
        self.size_bytes, self.reduce_first = size_bytes, reduce_first
        self.p = p = network.topology.n_ranks
        self.children = [[c for c in (2 * r + 1, 2 * r + 2) if c < p] for r in range(p)]
        self.up = [None] + [network.link(r, (r - 1) // 2) for r in range(1, p)] if reduce_first else []
        self.down = [None] + [network.link((r - 1) // 2, r) for r in range(1, p)]
        self.waiting_children = [len(c) for c in self.children]
        self.broadcast_left = p - 1

    def links(self) -> list[Link]:
        return [link for link in self.up + self.down if link is not None]

    def start(self, on_done: Done) -> None:
        self.on_done = on_done
        if not self.reduce_first:
            self._broadcast_from(0)
            return
        for rank in range(1, self.p):
            if not self.children[rank]:  # leaves send up at once
                self._send_up(rank)

    def _send_up(self, rank: int) -> None:
        parent = (rank - 1) // 2
        self.up[rank].transfer(self.size_bytes).callbacks.append(lambda _e: self._reduced_into(parent))

    def _reduced_into(self, rank: int) -> None:
        self.waiting_children[rank] -= 1
        if self.waiting_children[rank] == 0:
            if rank == 0:
                self._broadcast_from(0)
            else:
                self._send_up(rank)

    def _broadcast_from(self, rank: int) -> None:
        for child in self.children[rank]:
            self.down[child].transfer(self.size_bytes).callbacks.append(lambda _e, c=child: self._received(c))

    def _received(self, rank: int) -> None:
        self.broadcast_left -= 1
        if self.broadcast_left == 0:
            self.on_done()
        else:
            self._broadcast_from(rank)


# ---------------------------------------------------------------------------------------------------- p2p


class _P2PRun:
    def __init__(self, network: NetworkLinks, size_bytes: float):
        src, dst = network.topology.p2p_hop(size_bytes)
        self.link, self.size_bytes = network.link(src, dst), size_bytes

    def links(self) -> list[Link]:
        return [self.link]

    def start(self, on_done: Done) -> None:
        self.link.transfer(self.size_bytes).callbacks.append(lambda _e: on_done())


class _NoRun:
    """A collective over one rank: nothing to send."""

    def links(self) -> list[Link]:
        return []

    def start(self, on_done: Done) -> None:
        on_done()


# ---------------------------------------------------------------------------------------------------- engine


@dataclass
class _Recorded:
    """What an isolated run did (its duration and, per link, the counters it added) and how often it was
    replayed since the links were last booked."""

    duration_ns: int
    links: tuple[Link, ...]
    deltas: tuple[tuple, ...]  # per link: (d_bytes_sent, d_bytes_delivered, d_started, d_delivered, d_busy_ns)
    unbooked_replays: int = 0


_COUNTERS = ("bytes_sent", "bytes_delivered", "transfers_started", "transfers_delivered", "busy_ns")


def _counters(link: Link) -> tuple:
    return tuple(getattr(link, name) for name in _COUNTERS)


class CollectiveEngine:
    """One communicator (one stream) running collectives over ``topology`` at link level.

    Args:
        env: the simulation environment.
        topology: ranks and link classes.
        network: links to send over; ``None`` (default) gives the engine its own private, symmetric network.
            Pass one `NetworkLinks` to several engines to make them contend.
        reuse_isolated: replay the duration of an identical earlier collective instead of re-simulating it; used
            only on a private network, where it is exact (see the module docstring). Replays book their link
            counters lazily: call `sync_link_counters` before reading the links' counters.

    Attributes:
        collectives_simulated, collectives_replayed: how each collective was run.
        busy_ns: total time the stream has run (or, for replays already scheduled, will run) collectives.

    Example::

        env = GuardedEnvironment()
        engine = CollectiveEngine(env, topology)
        proc = engine.start("all_reduce", "ring", 25 << 20)
        env.run(proc)            # proc.value: elapsed ns (includes waiting behind earlier collectives)
    """

    def __init__(self, env: simpy.Environment, topology: Topology, network: NetworkLinks | None = None,
                 reuse_isolated: bool = True):
        if network is None:
            network = NetworkLinks(env, topology, symmetric=True)
        elif network.topology != topology or network.env is not env:
            raise ValueError("network belongs to another topology or environment")
        self.env, self.topology, self.network = env, topology, network
        network.attach()
        self.reuse_isolated = reuse_isolated
        self.collectives_simulated = 0
        self.collectives_replayed = 0
        self.busy_ns = 0
        self._pending: deque[tuple[str, str, float, simpy.Event, int]] = deque()
        self._simulating = False  # a link-level run is in progress
        self._free_at_ns = 0  # when the replays scheduled so far end
        self._recorded: dict[tuple[str, str, float], _Recorded] = {}
        # One reservation shared by every link a recorded run used: while replays are scheduled, nothing else
        # may send on them (checked by Link).
        self._reservation = Reservation()
        self._checked_requests: set[tuple[str, str]] = set()
        self._drain_waiters: list[simpy.Event] = []
        self._wakeup_pending = False

    # ----------------------------------------------------------------------------------------------- public

    def submit(self, op: str, algorithm: str, size_bytes: float) -> simpy.Event:
        """Queue a collective on the stream; the event fires with the ns elapsed since this call."""
        return self._queue(op, algorithm, size_bytes, wanted=True)

    def enqueue(self, op: str, algorithm: str, size_bytes: float) -> None:
        """Queue a collective nobody waits for by itself (wait for the stream with `drained`).

        The collective runs exactly as with `submit`; only its completion event is spared, which halves the events
        of a stream of replayed collectives (the DDP step engine queues every bucket this way).
        """
        self._queue(op, algorithm, size_bytes, wanted=False)

    def drained(self) -> simpy.Event:
        """An event that fires once every collective queued so far has finished."""
        now_ns = self.env.now
        if not self._pending and not self._simulating:
            return self.env.timeout(self._free_at_ns - now_ns if self._free_at_ns > now_ns else 0)
        waiter = self.env.event()
        self._drain_waiters.append(waiter)
        return waiter

    def start(self, op: str, algorithm: str, size_bytes: float) -> simpy.Process:
        """`submit` wrapped in a process whose value is the elapsed ns."""
        done = self.submit(op, algorithm, size_bytes)

        def wait() -> simpy.events.ProcessGenerator:
            return (yield done)

        return self.env.process(wait())

    def sync_link_counters(self) -> None:
        """Book the link counters of every replay so far (replays skip this per call, for speed)."""
        for recorded in self._recorded.values():
            for link, delta in zip(recorded.links, recorded.deltas):
                for name, d in zip(_COUNTERS, delta):
                    setattr(link, name, getattr(link, name) + recorded.unbooked_replays * d)
            recorded.unbooked_replays = 0

    # ---------------------------------------------------------------------------------------------- private

    def _queue(self, op: str, algorithm: str, size_bytes: float, wanted: bool) -> simpy.Event | None:
        key = (op, algorithm, size_bytes)
        recorded = self._recorded.get(key)  # recorded keys were validated when they were simulated
        if (recorded is not None and not self._pending and not self._simulating and self.reuse_isolated
                and self.network.n_engines == 1):
            # Only replays ahead, so the stream's future is known: schedule this one directly.
            now_ns = self.env.now
            free_at_ns = self._free_at_ns
            return self._schedule_replay(recorded, now_ns, free_at_ns if free_at_ns > now_ns else now_ns, wanted)
        if (op, algorithm) not in self._checked_requests:
            self._check_request(op, algorithm)
        if not size_bytes >= 0:
            raise ValueError(f"size_bytes: expected a number >= 0, got {size_bytes!r}")
        done = self.env.event() if wanted else None
        self._pending.append((op, algorithm, size_bytes, done, self.env.now))
        self._start_pending()
        return done

    def _check_request(self, op: str, algorithm: str) -> None:
        check_op_algorithm(op, algorithm)
        ring_symmetric = algorithm == "ring" and op in ("all_reduce", "reduce_scatter", "all_gather")
        if self.network.symmetric and self.network.n_engines > 1 and not ring_symmetric:
            raise SimulationError(
                f"{algorithm} {op} is not rank-symmetric, but this network is shared by several engines and "
                "simulates ring collectives on representative ranks only; use NetworkLinks(symmetric=False)"
            )
        if self.network.n_engines == 1:  # the symmetric-sharing check depends on the engine count
            self._checked_requests.add((op, algorithm))

    def _isolated(self) -> bool:
        """Only this engine sends over its network, so every collective runs on idle links."""
        return self.reuse_isolated and self.network.n_engines == 1

    def _start_pending(self) -> None:
        """Start queued collectives while the stream allows: replays back to back, a simulation when free."""
        now_ns = self.env.now
        while self._pending and not self._simulating:
            op, algorithm, size_bytes, done, submitted_ns = self._pending[0]
            key = (op, algorithm, size_bytes)
            if key in self._recorded and self._isolated():
                self._pending.popleft()
                replay = self._schedule_replay(self._recorded[key], submitted_ns, max(now_ns, self._free_at_ns),
                                               done is not None)
                if done is not None:
                    replay.callbacks.append(lambda event, done=done: done.succeed(event.value))
            elif self._free_at_ns <= now_ns:
                self._pending.popleft()
                self._simulate(key, submitted_ns, done)
            else:  # a simulation must wait for the replays ahead of it: call back when they end
                if not self._wakeup_pending:
                    self._wakeup_pending = True
                    self.env.timeout(self._free_at_ns - now_ns).callbacks.append(self._wake_up)
                return
        if not self._pending and not self._simulating and self._drain_waiters:
            waiters, self._drain_waiters = self._drain_waiters, []
            drained = self.env.timeout(self._free_at_ns - now_ns if self._free_at_ns > now_ns else 0)
            drained.callbacks.append(lambda _event: [waiter.succeed() for waiter in waiters])

    def _wake_up(self, _event: simpy.Event) -> None:
        self._wakeup_pending = False
        self._start_pending()

    def _simulate(self, key: tuple[str, str, float], submitted_ns: int, done: simpy.Event | None) -> None:
        self._simulating = True
        self.collectives_simulated += 1
        run = self._make_run(*key)
        used = tuple(set(run.links()))
        before = [_counters(link) for link in used] if self._isolated() else None
        started_ns = self.env.now

        def finished() -> None:
            now_ns = self.env.now
            if before is not None and self._isolated():  # still alone on the network: safe to replay later
                deltas = tuple(tuple(n - o for n, o in zip(_counters(link), old)) for link, old in zip(used, before))
                self._recorded[key] = _Recorded(now_ns - started_ns, used, deltas)
                for link in used:
                    link.reservation = self._reservation
            self.busy_ns += now_ns - started_ns
            self._simulating = False
            self._free_at_ns = now_ns
            if done is not None:
                done.succeed(now_ns - submitted_ns)
            self._start_pending()

        run.start(finished)

    def _make_run(self, op: str, algorithm: str, size_bytes: float):
        topo, net = self.topology, self.network
        p = topo.n_ranks
        if p == 1:
            return _NoRun()
        if op == "p2p":
            return _P2PRun(net, size_bytes)
        if algorithm == "tree":
            return _TreeRun(net, size_bytes, reduce_first=(op == "all_reduce"))
        chunk = ring_chunk_bytes(size_bytes, p)
        if op == "broadcast":
            return _ChainRun(net, p, chunk)
        steps = 2 * (p - 1) if op == "all_reduce" else p - 1
        n_simulated = topo.ring_representatives() if net.symmetric else p
        return _RingRun(net, steps, chunk, n_simulated)

    def _schedule_replay(self, recorded: _Recorded, submitted_ns: int, start_ns: int,
                         wanted: bool) -> simpy.Event | None:
        """Book a replay from ``start_ns``; an event firing at its end (value: elapsed ns) only if ``wanted``."""
        end_ns = start_ns + recorded.duration_ns
        self._free_at_ns = self._reservation.until_ns = end_ns
        recorded.unbooked_replays += 1
        self.collectives_replayed += 1
        self.busy_ns += recorded.duration_ns
        if wanted:
            return self.env.timeout(end_ns - self.env.now, end_ns - submitted_ns)
        return None


def simulate_collective_ns(op: str, algorithm: str, size_bytes: float, topology: Topology) -> int:
    """Link-level time (ns) of one collective alone on ``topology`` (builds and runs its own environment)."""
    env = GuardedEnvironment()
    engine = CollectiveEngine(env, topology, reuse_isolated=False)
    done = engine.submit(op, algorithm, size_bytes)
    env.run()
    if not done.processed:
        raise SimulationError(f"{algorithm} {op} of {size_bytes} bytes never completed (a model bug)")
    return done.value
