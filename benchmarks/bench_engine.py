"""Benchmark of the SimPy simulator core (`harness.sim`): raw engine speed and a 1,024-GPU data-parallel job.

Run on one core, as the target is stated for one core:

    taskset -c 0 .venv/bin/python benchmarks/bench_engine.py            # full (about a minute)
    taskset -c 0 .venv/bin/python benchmarks/bench_engine.py --quick    # fewer steps, for a smoke run

Part (a), raw speed, each measured in this run:
- processes doing ``yield env.timeout(1)`` in plain ``simpy.Environment`` and in `GuardedEnvironment` (the ratio is
  the cost of the stopped-clock guard);
- link transfers per second: back-to-back messages on one FIFO link, and flows churning on one fair-share link;
- one ring all-reduce over 128 x 8 ranks at link level, with the symmetry shortcut (one node's 8 ranks simulated)
  and without it (all 1,024 ranks): both must give the same time.

Part (b), the target: 10,000 training steps of data-parallel LLaMA-7B on 1,024 GPUs (128 nodes x 8) with a ring
all-reduce AT LINK LEVEL, target <= 10 s on one core. Setting (stated, not measured on GPUs):
- gradients: the 291 parameter tensors of LLaMA-7B (6.74 B parameters) in fp16 = 13.48 GB per step; DDP buckets of
  25 MiB filled with whole tensors in backward order (a tensor above the cap gets its own bucket, as in PyTorch
  DDP), which gives 226 buckets;
- compute: 8,192 tokens per GPU per step; each matmul tensor costs 2 x tokens x params FLOPs forward at 400 TFLOP/s
  (about 40 % of an H100's dense bf16 peak), backward twice that; norms 20 us forward; the embedding gather 50 us;
- network: the project defaults (`NetworkSpec`): NVLink-class 3,600 Gbit/s, 2 us inside a node; one 400 Gbit/s
  NIC, 5 us, between nodes; fair sharing; overlap on.
The link-level engine simulates each distinct all-reduce (6 bucket sizes) link by link once, then replays the
recorded duration for identical all-reduces on idle links (exact: the DDP stream runs one all-reduce at a time
on links nothing else uses; `harness.sim.collective_sim`). Every step is still simulated event by event (one
event per bucket becoming ready, at which its all-reduce is queued on the stream; one when the stream drains). For honesty the table also shows: the same job with the closed form,
ONE step at link level without replay (and what 10,000 such steps would cost, extrapolated, not run), and a
harder variant with the gradient cut into 25 MiB pieces (515 buckets, as with a flat gradient buffer).

Times are CPU seconds of this process (``time.process_time``) and wall seconds; the machine is shared, so the load
average is printed too. Wall time is what the target is about; CPU time shows what the engine costs by itself.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import simpy

from harness.config.blocks import ClusterSpec, NetworkSpec
from harness.sim.clock import GuardedEnvironment
from harness.sim.collective_sim import CollectiveEngine
from harness.sim.dp_step import DataParallelEngine
from harness.sim.links import Link
from harness.sim.network import NetworkLinks
from harness.sim.topology import Topology

TARGET_WALL_S = 10.0
MIB = 1 << 20


@dataclass
class Row:
    what: str
    work: str
    cpu_s: float
    wall_s: float
    events: int
    note: str = ""

    @property
    def events_per_s(self) -> float:
        return self.events / self.cpu_s if self.cpu_s > 0 else float("nan")


class Timer:
    def __enter__(self) -> Timer:
        self.cpu0, self.wall0 = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu_s = time.process_time() - self.cpu0
        self.wall_s = time.perf_counter() - self.wall0


# ------------------------------------------------------------------------------------------------- part (a)


def bench_timeouts(env: simpy.Environment, n_procs: int, n_timeouts: int) -> tuple[Timer, int]:
    def tick() -> simpy.events.ProcessGenerator:
        for _ in range(n_timeouts):
            yield env.timeout(1)

    for _ in range(n_procs):
        env.process(tick())
    with Timer() as t:
        env.run()
    return t, n_procs * (n_timeouts + 2)  # + process start and end events


def bench_fifo_link(n_messages: int) -> tuple[Timer, int, int]:
    env = GuardedEnvironment()
    link = Link(env, "fifo", bandwidth_gbps=400, latency_us=5, sharing="fifo")

    def on_delivered(_event: simpy.Event) -> None:  # keep a window of 64 messages in flight
        if link.transfers_started < n_messages:
            link.transfer(65_536).callbacks.append(on_delivered)

    with Timer() as t:
        for _ in range(64):
            link.transfer(65_536).callbacks.append(on_delivered)
        env.run()
    assert link.transfers_delivered == n_messages
    return t, env.events_processed, n_messages


def bench_fair_link(n_flows: int) -> tuple[Timer, int, int]:
    env = GuardedEnvironment()
    link = Link(env, "fair", bandwidth_gbps=400, latency_us=5, sharing="fair")
    sizes = [4_096 * (1 + (i * 7919) % 97) for i in range(n_flows)]  # varied sizes, deterministic

    def arrivals() -> simpy.events.ProcessGenerator:
        for size in sizes:  # a new flow every 200 ns: about 20 flows share the link at any time
            link.transfer(size)
            yield env.timeout(200)

    env.process(arrivals())
    with Timer() as t:
        env.run()
    assert link.transfers_delivered == n_flows
    return t, env.events_processed, n_flows


def bench_ring(topology: Topology, symmetric: bool) -> tuple[Timer, int, int, int]:
    env = GuardedEnvironment()
    network = NetworkLinks(env, topology, symmetric=symmetric)
    engine = CollectiveEngine(env, topology, network)
    with Timer() as t:
        done = engine.submit("all_reduce", "ring", 25 * MIB)
        env.run()
    transfers = sum(link.transfers_delivered for link in network.links())
    return t, env.events_processed, transfers, done.value


# ------------------------------------------------------------------------------------------------- part (b)


def llama7b_tensors() -> list[tuple[str, int]]:
    """(kind, parameters) of LLaMA-7B's tensors in forward order (d=4096, d_ff=11008, 32 layers, vocab 32000)."""
    d, d_ff, vocab, n_layers = 4096, 11008, 32000, 32
    tensors = [("embedding", vocab * d)]
    for _ in range(n_layers):
        tensors += [("norm", d)] + [("matmul", d * d)] * 4 + [("norm", d)] + [("matmul", d * d_ff)] * 3
    return tensors + [("norm", d), ("matmul", vocab * d)]


def llama7b_layers(tokens: int = 8192, flop_per_s: float = 4e14) -> tuple[list[int], list[int], list[int]]:
    forward_ns, grad_bytes = [], []
    for kind, params in llama7b_tensors():
        if kind == "matmul":
            forward_ns.append(round(2 * tokens * params / flop_per_s * 1e9))
        else:
            forward_ns.append(50_000 if kind == "embedding" else 20_000)
        grad_bytes.append(2 * params)  # fp16
    return forward_ns, [2 * f for f in forward_ns], grad_bytes


def split_into_pieces(forward_ns: list[int], backward_ns: list[int], grad_bytes: list[int], piece_bytes: int):
    """The same gradient as a flat buffer cut into ``piece_bytes`` pieces (compute shared out in proportion)."""
    fwd, bwd, grads = [], [], []
    for f, b, g in zip(forward_ns, backward_ns, grad_bytes):
        n = max(1, -(-g // piece_bytes))
        for i in range(n):
            size = min(piece_bytes, g - i * piece_bytes)
            fwd.append(round(f * size / g))
            bwd.append(round(b * size / g))
            grads.append(size)
    return fwd, bwd, grads


def bench_dp(topology: Topology, layers, n_steps: int, model: str, reuse: bool = True):
    engine = DataParallelEngine(*layers, bucket_cap_bytes=25 * MIB, topology=topology, algorithm="ring",
                                overlap=True, model=model, reuse_isolated=reuse)
    with Timer() as t:
        records = engine.run(n_steps)
    if len({(r.step_time_ns, r.comm_ns, r.exposed_comm_ns) for r in records}) != 1:
        raise RuntimeError("identical steps gave different records")
    return t, engine, records


def headline_only(steps: int, repeat: int) -> None:
    topology = Topology.from_config(ClusterSpec(nodes=128, devices_per_node=8), NetworkSpec())
    layers = llama7b_layers()
    for i in range(repeat):
        t, engine, records = bench_dp(topology, layers, steps, "link_level")
        verdict = "MET" if t.wall_s <= TARGET_WALL_S else f"MISSED by {t.wall_s / TARGET_WALL_S:.2f}x"
        print(f"run {i + 1}: {steps:,} link-level steps: {t.wall_s:.2f} s wall, {t.cpu_s:.2f} s cpu, "
              f"{engine.env.events_processed:,} events, step {records[0].step_time_ns / 1e6:.1f} ms -> {verdict} "
              f"(load average {os.getloadavg()[0]:.1f})")


# ------------------------------------------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10_000, help="training steps for part (b)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes for a smoke run")
    parser.add_argument("--headline-only", action="store_true",
                        help="only the target row (10,000 link-level steps), repeated --repeat times")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the target row with --headline-only")
    args = parser.parse_args()
    steps = 200 if args.quick else args.steps
    scale = 10 if args.quick else 1

    print(f"cpu affinity: {sorted(os.sched_getaffinity(0))}   load average at start: {os.getloadavg()}")
    if args.headline_only:
        headline_only(steps, args.repeat)
        return
    rows: list[Row] = []

    n_procs, n_timeouts = 100, 10_000 // scale
    for env_cls in (simpy.Environment, GuardedEnvironment):
        t, events = bench_timeouts(env_cls(), n_procs, n_timeouts)
        rows.append(Row(f"timeouts, {env_cls.__name__}", f"{n_procs} procs x {n_timeouts}", t.cpu_s, t.wall_s,
                        events))
    plain, guarded = rows[-2], rows[-1]
    guarded.note = f"guard costs {plain.events_per_s / guarded.events_per_s - 1:+.0%} per event"

    t, events, n = bench_fifo_link(200_000 // scale)
    rows.append(Row("FIFO link transfers", f"{n:,} messages", t.cpu_s, t.wall_s, events,
                    f"{n / t.cpu_s:,.0f} transfers/s"))
    t, events, n = bench_fair_link(100_000 // scale)
    rows.append(Row("fair-share link flows", f"{n:,} flows", t.cpu_s, t.wall_s, events,
                    f"{n / t.cpu_s:,.0f} flows/s"))

    topology = Topology.from_config(ClusterSpec(nodes=128, devices_per_node=8), NetworkSpec())
    ring_times = []
    for symmetric in (True, False):
        t, events, transfers, elapsed_ns = bench_ring(topology, symmetric)
        ring_times.append(elapsed_ns)
        rows.append(Row(f"ring all-reduce 25 MiB, 1024 ranks, {'8 ranks (symmetry)' if symmetric else 'all ranks'}",
                        f"{transfers:,} transfers", t.cpu_s, t.wall_s, events,
                        f"simulated {elapsed_ns / 1e6:.3f} ms"))
    if ring_times[0] != ring_times[1]:
        raise RuntimeError(f"symmetry shortcut changed the answer: {ring_times}")

    layers = llama7b_layers()
    ddp_tensors = f"{steps:,} steps x 226 buckets"
    t, engine, records = bench_dp(topology, layers, steps, "link_level")
    headline = Row("DP LLaMA-7B 1024 GPUs, LINK LEVEL (replay)", ddp_tensors, t.cpu_s, t.wall_s,
                   engine.env.events_processed,
                   f"{engine.stream.collectives_simulated} simulated + {engine.stream.collectives_replayed:,} replayed")
    rows.append(headline)
    step = records[0]
    t, engine_cf, records_cf = bench_dp(topology, layers, steps, "closed_form")
    rows.append(Row("DP LLaMA-7B 1024 GPUs, closed form", ddp_tensors, t.cpu_s, t.wall_s,
                    engine_cf.env.events_processed, "same records" if records_cf[0].step_time_ns ==
                    step.step_time_ns else "DIFFERENT step time"))
    t, engine_full, records_full = bench_dp(topology, layers, 1, "link_level", reuse=False)
    same = records_full[0].step_time_ns == step.step_time_ns
    rows.append(Row("DP LLaMA-7B 1024 GPUs, link level, NO replay", "1 step x 226 buckets", t.cpu_s, t.wall_s,
                    engine_full.env.events_processed,
                    f"{'same' if same else 'DIFFERENT'} step; x{steps:,} steps ~ {t.cpu_s * steps / 3600:,.1f} cpu h "
                    "(extrapolated, not run)"))
    pieces = split_into_pieces(*layers, 25 * MIB)
    t, engine_pieces, records_pieces = bench_dp(topology, pieces, steps, "link_level")
    rows.append(Row("DP LLaMA-7B, flat gradient in 25 MiB pieces, LINK LEVEL", f"{steps:,} steps x "
                    f"{records_pieces[0].n_buckets} buckets", t.cpu_s, t.wall_s, engine_pieces.env.events_processed,
                    f"{engine_pieces.stream.collectives_simulated} simulated"))

    print()
    print(f"{'what':<62} {'work':<26} {'cpu s':>7} {'wall s':>7} {'events':>11} {'events/s':>10}  note")
    for row in rows:
        print(f"{row.what:<62} {row.work:<26} {row.cpu_s:>7.2f} {row.wall_s:>7.2f} {row.events:>11,} "
              f"{row.events_per_s:>10,.0f}  {row.note}")
    print()
    print(f"simulated step (226 buckets): step {step.step_time_ns / 1e6:.1f} ms = compute {step.compute_ns / 1e6:.1f} ms"
          f" + exposed comm {step.exposed_comm_ns / 1e6:.1f} ms (comm busy {step.comm_ns / 1e6:.1f} ms); "
          f"25 MiB pieces: step {records_pieces[0].step_time_ns / 1e6:.1f} ms")
    verdict = "MET" if headline.wall_s <= TARGET_WALL_S else f"MISSED by {headline.wall_s / TARGET_WALL_S:.2f}x"
    print(f"target: {steps:,} steps of the 1,024-GPU job at link level in <= {TARGET_WALL_S:.0f} s wall on one core: "
          f"{headline.wall_s:.2f} s wall, {headline.cpu_s:.2f} s cpu -> {verdict}"
          + ("" if steps == 10_000 else f" (ran {steps:,} steps, not 10,000)"))
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
