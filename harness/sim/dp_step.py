"""The data-parallel training-step engine: per-layer compute, DDP-style gradient buckets, all-reduce with or
without overlap, step after step in one SimPy simulation.

Follows PyTorch DDP (Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
VLDB 2020): gradients are grouped into buckets in backward order (last layer first); a bucket is closed as soon
as it holds at least ``bucket_cap_bytes`` (whole layers only, so a layer larger than the cap is a bucket of its
own); every bucket is all-reduced on ONE communication stream, so all-reduces run one at a time in bucket order.

- ``overlap=True``: a bucket's all-reduce is queued the moment backward has produced its last gradient, and runs
  while backward goes on.
- ``overlap=False``: every all-reduce is queued after backward ends.

A step is forward (all layers) + backward (layers in reverse) and ends when the last all-reduce has finished (the
optimizer waits for every gradient); the next step starts then, so no step overlaps another. Each all-reduce takes
the closed form over the topology (``model="closed_form"``, `harness.sim.topology.topology_collective_ns`) or
runs at link level (``model="link_level"``, `harness.sim.collective_sim.CollectiveEngine`). The two agree exactly,
since the engine's stream never runs two collectives at once. During a harness run whose table set has measured
collective tables, the closed form is replaced by them where they cover the all-reduce
(`harness.sim.topology.collective_pricing`); the link level is unaffected.

Choices where DDP differs: no small first bucket (DDP's 1 MiB ``first_bucket_cap``), no optimizer time, a bucket
holding only zero-byte gradients is not all-reduced.

Per step it records ``step_time_ns``, ``compute_ns`` (forward + backward), ``comm_ns`` (total time the stream
was busy), ``exposed_comm_ns = step_time - compute`` (communication not hidden behind compute), ``n_buckets`` and
``events_processed``. Nothing is carried from one step to the next: by default every step is simulated, with one
event per bucket becoming ready (buckets are queued with `CollectiveEngine.enqueue`, so an all-reduce nobody waits
for by itself costs no completion event; the step waits for the drained stream). Same inputs give identical outputs.

``repeat_steady=True`` stops simulating once the steps cannot change: a step starts on a drained stream and idle
links, so it is a function of the engine's inputs and of which collectives the link-level engine has recorded. Once
two steps in a row simulated no collective at link level (the closed form never does; with ``reuse_isolated``
every distinct all-reduce has been recorded after the first step), the first of them has left no event behind and
the second ran from the state every later step starts from (up to a time shift): every later record equals the
second's but for ``step``, so it is copied, and the clock is moved to the end of the last step. Exact, not an
extrapolation (tested against simulating every step); the stream's and links' counters cover the simulated steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import simpy

from harness.sim.clock import GuardedEnvironment
from harness.sim.collective_sim import CollectiveEngine
from harness.sim.collectives import check_op_algorithm
from harness.sim.topology import Topology, topology_collective_ns

MODELS = ("closed_form", "link_level")


@dataclass(frozen=True)
class Bucket:
    """Gradients all-reduced together: ``layers`` in backward order (highest index first)."""

    layers: tuple[int, ...]
    size_bytes: int


@dataclass(frozen=True)
class StepRecord:
    """One simulated training step (integer ns)."""

    step: int
    step_time_ns: int
    compute_ns: int
    comm_ns: int
    exposed_comm_ns: int
    n_buckets: int
    events_processed: int


def _non_negative_ints(name: str, values: Sequence[int]) -> list[int]:
    out = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise ValueError(f"{name}[{i}]: expected an integer >= 0, got {value!r}")
        out.append(int(value))
    return out


def assign_buckets(grad_bytes: Sequence[int], bucket_cap_bytes: int) -> list[Bucket]:
    """DDP bucketing: walk layers from last to first, close a bucket once it holds >= ``bucket_cap_bytes``.

    The trailing bucket is kept if it holds any bytes; zero-byte gradients join whichever bucket is open.
    """
    if int(bucket_cap_bytes) != bucket_cap_bytes or bucket_cap_bytes < 1:
        raise ValueError(f"bucket_cap_bytes: expected an integer >= 1, got {bucket_cap_bytes!r}")
    sizes = _non_negative_ints("grad_bytes", grad_bytes)
    buckets: list[Bucket] = []
    layers: list[int] = []
    filled = 0
    for layer in reversed(range(len(sizes))):
        layers.append(layer)
        filled += sizes[layer]
        if filled >= bucket_cap_bytes:
            buckets.append(Bucket(tuple(layers), filled))
            layers, filled = [], 0
    if filled > 0:
        buckets.append(Bucket(tuple(layers), filled))
    return buckets


class _ClosedFormStream:
    """A communication stream whose collectives take the closed form (the `CollectiveEngine` queue interface)."""

    def __init__(self, env: simpy.Environment, topology: Topology):
        self.env, self.topology = env, topology
        self.busy_ns = 0
        self._free_at_ns = 0
        self._time_ns: dict[tuple[str, str, float], int] = {}

    def enqueue(self, op: str, algorithm: str, size_bytes: float) -> None:
        key = (op, algorithm, size_bytes)
        run_ns = self._time_ns.get(key)
        if run_ns is None:
            run_ns = self._time_ns[key] = topology_collective_ns(op, algorithm, size_bytes, self.topology)
        now_ns = self.env.now
        self._free_at_ns = max(now_ns, self._free_at_ns) + run_ns
        self.busy_ns += run_ns

    def drained(self) -> simpy.Event:
        return self.env.timeout(max(0, self._free_at_ns - self.env.now))


class DataParallelEngine:
    """Simulates data-parallel training steps; see the module docstring for the model.

    Args:
        forward_ns, backward_ns: per-layer compute times (integer ns), layer 0 first.
        grad_bytes: per-layer gradient sizes in bytes (what one rank all-reduces).
        bucket_cap_bytes: DDP bucket size cap.
        topology: the ranks and links the all-reduce runs over.
        algorithm: ``"ring"`` or ``"tree"`` all-reduce.
        overlap: start each bucket's all-reduce as soon as backward produced it (else after backward).
        model: ``"closed_form"`` or ``"link_level"``.
        reuse_isolated: link level only: replay identical all-reduces (exact, see `CollectiveEngine`).
    """

    def __init__(self, forward_ns: Sequence[int], backward_ns: Sequence[int], grad_bytes: Sequence[int],
                 bucket_cap_bytes: int, topology: Topology, algorithm: str = "ring", overlap: bool = True,
                 model: str = "closed_form", reuse_isolated: bool = True):
        forward = _non_negative_ints("forward_ns", forward_ns)
        backward = _non_negative_ints("backward_ns", backward_ns)
        if not (len(forward) == len(backward) == len(grad_bytes)) or not forward:
            raise ValueError(
                "forward_ns, backward_ns and grad_bytes: expected one entry per layer (same length >= 1), got "
                f"{len(forward)}, {len(backward)} and {len(grad_bytes)}"
            )
        check_op_algorithm("all_reduce", algorithm)
        if model not in MODELS:
            raise ValueError(f"model: expected one of {', '.join(MODELS)}, got {model!r}")
        self.buckets = assign_buckets(grad_bytes, bucket_cap_bytes)
        self.algorithm, self.overlap, self.model = algorithm, bool(overlap), model
        self.forward_total_ns = sum(forward)
        self.backward_total_ns = sum(backward)
        # Backward time between consecutive bucket-ready moments, then the tail after the last bucket.
        self._segments_ns = [sum(backward[layer] for layer in b.layers) for b in self.buckets]
        self._tail_ns = self.backward_total_ns - sum(self._segments_ns)
        self.env = GuardedEnvironment()
        if model == "link_level":
            self.stream = CollectiveEngine(self.env, topology, reuse_isolated=reuse_isolated)
        else:
            self.stream = _ClosedFormStream(self.env, topology)

    def run(self, n_steps: int, repeat_steady: bool = False) -> list[StepRecord]:
        """``n_steps`` consecutive steps, one record each; ``repeat_steady``: copy the steady step's record instead
        of simulating it again (module docstring)."""
        if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
            raise ValueError(f"n_steps: expected an integer >= 1, got {n_steps!r}")
        records: list[StepRecord] = []
        self.env.run(self.env.process(self._train(int(n_steps), records, bool(repeat_steady))))
        if isinstance(self.stream, CollectiveEngine):
            self.stream.sync_link_counters()
        return records

    def _simulated(self) -> int:
        """Collectives simulated at link level so far (the closed form: none)."""
        return getattr(self.stream, "collectives_simulated", 0)

    def _train(self, n_steps: int, records: list[StepRecord], repeat_steady: bool) -> simpy.events.ProcessGenerator:
        env, stream, timeout = self.env, self.stream, self.env.timeout
        compute_ns = self.forward_total_ns + self.backward_total_ns
        quiet_steps = 0  # steps in a row that simulated no collective at link level
        for step in range(n_steps):
            if repeat_steady and quiet_steps == 2:  # records[-1] is the steady step (module docstring)
                steady = records[-1]
                rest = [getattr(steady, f.name) for f in fields(StepRecord)[1:]]  # all but `step`
                records.extend(StepRecord(later, *rest) for later in range(step, n_steps))
                yield timeout((n_steps - step) * steady.step_time_ns)
                return
            simulated_before = self._simulated()
            start_ns, busy_before_ns, events_before = env.now, stream.busy_ns, env.events_processed
            if self.overlap:
                pending_ns = self.forward_total_ns
                for bucket, segment_ns in zip(self.buckets, self._segments_ns):
                    pending_ns += segment_ns
                    if pending_ns:
                        yield timeout(pending_ns)
                        pending_ns = 0
                    stream.enqueue("all_reduce", self.algorithm, bucket.size_bytes)
                if pending_ns + self._tail_ns:
                    yield timeout(pending_ns + self._tail_ns)
            else:
                if compute_ns:
                    yield timeout(compute_ns)
                for bucket in self.buckets:
                    stream.enqueue("all_reduce", self.algorithm, bucket.size_bytes)
            yield stream.drained()  # the optimizer waits for every bucket
            step_time_ns = env.now - start_ns
            records.append(StepRecord(
                step=step,
                step_time_ns=step_time_ns,
                compute_ns=compute_ns,
                comm_ns=stream.busy_ns - busy_before_ns,
                exposed_comm_ns=step_time_ns - compute_ns,
                n_buckets=len(self.buckets),
                events_processed=env.events_processed - events_before,
            ))
            quiet_steps = quiet_steps + 1 if self._simulated() == simulated_before else 0


def simulate_dp_steps(forward_ns: Sequence[int], backward_ns: Sequence[int], grad_bytes: Sequence[int],
                      bucket_cap_bytes: int, topology: Topology, algorithm: str = "ring", overlap: bool = True,
                      model: str = "closed_form", n_steps: int = 1, reuse_isolated: bool = True,
                      repeat_steady: bool = False) -> list[StepRecord]:
    """Simulate ``n_steps`` data-parallel training steps; returns one `StepRecord` per step (``repeat_steady``:
    `DataParallelEngine.run`).

    Example::

        topo = Topology(nodes=2, devices_per_node=8, intra=LinkCost(2_000, 450.0), inter=LinkCost(5_000, 50.0))
        records = simulate_dp_steps([1_000_000] * 4, [2_000_000] * 4, [50 << 20] * 4, 25 << 20, topo)
        records[0].step_time_ns, records[0].exposed_comm_ns
    """
    engine = DataParallelEngine(forward_ns, backward_ns, grad_bytes, bucket_cap_bytes, topology,
                                algorithm=algorithm, overlap=overlap, model=model, reuse_isolated=reuse_isolated)
    return engine.run(n_steps, repeat_steady=repeat_steady)
