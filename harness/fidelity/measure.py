"""Worker program for the fidelity study: one process = one torch.distributed (gloo) rank.

Run by `harness.fidelity.launch` as ``python -m harness.fidelity.measure <kind> --out DIR ...`` with
``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``WORLD_SIZE`` (and, across network namespaces,
``GLOO_SOCKET_IFNAME``) in the environment. Each rank writes ``rank<r>.json`` with its raw per-repeat times in
nanoseconds; the launcher takes, per repeat, the max over ranks and then the median over repeats
(the usual "slowest rank decides" collective timing, as nccl-tests and Vidur's profiler do).

Kinds:
- ``pingpong``: ranks pair up (0<->1, 2<->3, ... all pairs at once); the even rank sends S bytes and receives
  them back. One-way time = round trip / 2 (Hockney's alpha-beta setting). Only ping-pong feeds the alpha/beta fit.
- ``allreduce``: ``dist.all_reduce`` (sum, float32) of S bytes; gloo's CPU all-reduce is its ring
  (reduce-scatter + all-gather in segments).
- ``pingpong_allreduce``: both, interleaved repeat by repeat, so calibration and target share the machine's load.
- ``dp_step``: one data-parallel SGD step of a small MLP: forward + backward, gradients flattened into one
  buffer, one all-reduce (no overlap with backward), unflatten, SGD update.
- ``compute``: the same step on a single process with no process group (``WORLD_SIZE`` 1): the measured
  compute that the prediction adds to the simulated all-reduce.

Every kind pins torch to one intra-op thread, so a rank uses one core, as it does when ranks share the CPUs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from datetime import timedelta
from pathlib import Path

from harness.files import write_text_atomic

FLOAT32_BYTES = 4
#: upper bound on round trips timed together for one ping-pong repeat (small messages need several)
MAX_ROUND_TRIPS_PER_REPEAT = 16
#: ping-pong repeats time at least this many bytes (or MAX_ROUND_TRIPS_PER_REPEAT round trips)
PINGPONG_BYTES_PER_REPEAT = 1 << 20


# ---------------------------------------------------------------------------------------------------- model


def build_mlp(width: int, depth: int, seed: int):
    """A plain MLP (Linear+ReLU blocks), seeded so every rank starts from the same weights."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    layers = []
    for _ in range(depth):
        linear = torch.nn.Linear(width, width)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(width, width, generator=generator) / math.sqrt(width))
            linear.bias.zero_()
        layers += [linear, torch.nn.ReLU()]
    return torch.nn.Sequential(*layers[:-1])


def mlp_param_count(width: int, depth: int) -> int:
    return depth * (width * width + width)


# ---------------------------------------------------------------------------------------------------- kinds


def _timed_ns(fn) -> int:
    start_ns = time.perf_counter_ns()
    fn()
    return time.perf_counter_ns() - start_ns


def round_trips_for(size_bytes: int) -> int:
    """How many ping-pong round trips one repeat times together (more for small messages)."""
    return max(1, min(MAX_ROUND_TRIPS_PER_REPEAT, PINGPONG_BYTES_PER_REPEAT // max(size_bytes, 1)))


def _interleaved(make_op, sizes_bytes: list, warmup: int, repeats: int) -> list[list[int]]:
    """Times (ns) of ``make_op(size)()`` per size and repeat; repeats are interleaved across sizes.

    Interleaving (repeat r of every size before repeat r+1 of any) spreads bursts of noise from other tenants
    of the machine over all sizes instead of spoiling one size. A barrier starts every timed call.
    """
    import torch.distributed as dist

    ops = [make_op(size_bytes) for size_bytes in sizes_bytes]
    for op in ops:
        for _ in range(warmup):
            op()
    times_ns: list[list[int]] = [[] for _ in sizes_bytes]
    for _ in range(repeats):
        for i, op in enumerate(ops):
            dist.barrier()
            times_ns[i].append(_timed_ns(op))
    return times_ns


def pingpong_op(size_bytes: int):
    """One repeat of ping-pong: ``round_trips_for(size)`` round trips between pairs (2k, 2k+1), all at once."""
    import torch
    import torch.distributed as dist

    rank, world = dist.get_rank(), dist.get_world_size()
    peer = rank ^ 1 if (rank ^ 1) < world else -1  # odd world size: the last rank only joins the barriers
    buffer = torch.ones(size_bytes // FLOAT32_BYTES, dtype=torch.float32)
    n_trips = round_trips_for(size_bytes)

    def round_trips() -> None:
        if peer < 0:
            return
        for _ in range(n_trips):
            if rank % 2 == 0:
                dist.send(buffer, peer)
                dist.recv(buffer, peer)
            else:
                dist.recv(buffer, peer)
                dist.send(buffer, peer)

    return round_trips


def allreduce_op(size_bytes: int):
    import torch
    import torch.distributed as dist

    buffer = torch.ones(size_bytes // FLOAT32_BYTES, dtype=torch.float32)
    return lambda: dist.all_reduce(buffer)


#: kind -> the ops it times per size; "pingpong_allreduce" interleaves both, so the ping-pong that calibrates
#: alpha and beta sees the same load on the machine as the all-reduce it then predicts
OPS_OF_KIND = {"pingpong": ("pingpong",), "allreduce": ("allreduce",), "pingpong_allreduce": ("pingpong", "allreduce")}


def measure_sized(kind: str, sizes_bytes: list[int], warmup: int, repeats: int) -> list[dict]:
    """Rows ``{op, size_bytes, times_ns}``; ping-pong times are ONE-WAY (round trips / 2)."""
    specs = [(op, size) for op in OPS_OF_KIND[kind] for size in sizes_bytes]
    makers = {"pingpong": pingpong_op, "allreduce": allreduce_op}
    ops = {(op, size): makers[op](size) for op, size in specs}
    times_ns = _interleaved(lambda spec: ops[spec], specs, warmup, repeats)
    rows = []
    for (op, size), row in zip(specs, times_ns):
        if op == "pingpong":
            row = [t // (2 * round_trips_for(size)) for t in row]
        rows.append({"op": op, "size_bytes": size, "times_ns": row})
    return rows


def _dp_step_fn(width: int, depth: int, batch: int, distributed: bool):
    """Build one SGD step closure; the all-reduce happens only when ``distributed``."""
    import torch

    model = build_mlp(width, depth, seed=0)
    params = [p for p in model.parameters()]
    generator = torch.Generator().manual_seed(1 + (int(os.environ.get("RANK", "0")) if distributed else 0))
    inputs = torch.randn(batch, width, generator=generator)
    targets = torch.randn(batch, width, generator=generator)
    learning_rate = 1e-3
    world = 1
    if distributed:
        import torch.distributed as dist

        world = dist.get_world_size()

    def step() -> None:
        for p in params:
            p.grad = None
        loss = torch.nn.functional.mse_loss(model(inputs), targets)
        loss.backward()
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        if distributed:
            dist.all_reduce(flat)
        flat.div_(world)
        offset = 0
        with torch.no_grad():
            for p in params:
                n = p.numel()
                p.add_(flat[offset : offset + n].view_as(p), alpha=-learning_rate)
                offset += n

    return step


def measure_dp_step(width: int, depth: int, batch: int, warmup: int, repeats: int, distributed: bool) -> list[int]:
    step = _dp_step_fn(width, depth, batch, distributed)
    for _ in range(warmup):
        step()
    times_ns = []
    for _ in range(repeats):
        if distributed:
            import torch.distributed as dist

            dist.barrier()
        times_ns.append(_timed_ns(step))
    return times_ns


# ---------------------------------------------------------------------------------------------------- main


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m harness.fidelity.measure")
    parser.add_argument("kind", choices=[*OPS_OF_KIND, "dp_step", "compute"])
    parser.add_argument("--out", type=Path, required=True, help="folder for rank<r>.json")
    parser.add_argument("--sizes-bytes", type=int, nargs="*", default=[], help="message sizes (multiples of 4)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--width", type=int, default=1024, help="MLP width (dp_step, compute)")
    parser.add_argument("--depth", type=int, default=4, help="MLP depth (dp_step, compute)")
    parser.add_argument("--batch", type=int, default=32, help="batch rows per rank (dp_step, compute)")
    parser.add_argument("--timeout-s", type=float, default=120.0, help="gloo operation timeout")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.repeats < 1 or args.warmup < 0:
        raise SystemExit(f"--repeats / --warmup: expected at least 1 / 0, got {args.repeats} / {args.warmup}")
    for size_bytes in args.sizes_bytes:
        if size_bytes <= 0 or size_bytes % FLOAT32_BYTES:
            raise SystemExit(f"--sizes-bytes: expected positive multiples of {FLOAT32_BYTES}, got {size_bytes}")
    import torch  # after the argument checks: a bad call fails in well under a second

    torch.set_num_threads(1)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    record: dict = {"kind": args.kind, "rank": rank, "world_size": world, "rows": []}
    if args.kind == "compute":
        times_ns = measure_dp_step(args.width, args.depth, args.batch, args.warmup, args.repeats, False)
        record["rows"].append({"param_count": mlp_param_count(args.width, args.depth), "times_ns": times_ns})
    else:
        import torch.distributed as dist

        dist.init_process_group(
            "gloo",
            init_method=f"tcp://{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
            rank=rank,
            world_size=world,
            timeout=timedelta(seconds=args.timeout_s),
        )
        try:
            if args.kind == "dp_step":
                times_ns = measure_dp_step(args.width, args.depth, args.batch, args.warmup, args.repeats, True)
                record["rows"].append({"param_count": mlp_param_count(args.width, args.depth), "times_ns": times_ns})
            else:
                record["rows"] = measure_sized(args.kind, args.sizes_bytes, args.warmup, args.repeats)
            dist.barrier()
        finally:
            dist.destroy_process_group()
    for row in record["rows"]:
        row["median_ns_this_rank"] = int(statistics.median(row["times_ns"]))
    write_text_atomic(args.out / f"rank{rank}.json", json.dumps(record))
    return 0


if __name__ == "__main__":
    from methods.process_exit import leave_process

    leave_process(main())  # gloo can abort the process in its teardown; the record is written by now
