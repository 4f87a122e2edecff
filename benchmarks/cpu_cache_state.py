"""How much of a CPU op's table time is the cache state it is timed in, and which cache state a real step gives.

The CPU timing tables time every call after writing `kernels.profiler.default_cpu_flush_bytes` (four times the
private L2 of all cores) so that the call starts with its code and data evicted, as in a large model's step
(`kernels/profiler.py`, "Why the CPU flush"). This benchmark measures what that choice costs and where it holds,
at one torch thread:

(a) per op, the median time of the same call after flushes of 0, 2, 8, 32 and 128 MiB (the table timer,
    `kernels.profiler.time_call`, with only ``cpu_flush_bytes`` changed): the "cold penalty" of a small op and
    how it grows with the flush;
(b) per model size of the compute study (`harness.fidelity.compute`: TinyLlama, 2 blocks, AdamW), real training
    steps beside the step priced op by op from the same ops timed alone after each uniform flush size, all in the
    same minutes (3 rounds of steps and op passes interleaved): which flush size a real step of that size matches.

Nothing is fitted and nothing feeds the model: these numbers are the evidence for the cache-state axis of the
CPU tables (`harness.timing.cache_state`: tables at several flush sizes, blended at the bytes a step touches). Run (quiet machine, about 4 minutes):

    .venv/bin/python benchmarks/cpu_cache_state.py [--rounds 3]

Measured 2026-12-06 on the 2-core dev VM (2 MiB L2 per core, 300 MiB shared L3 as reported), 1 thread, part (b),
signed error of the op-by-op step against the real one per flush size:

    =====================  ========  ======  ======  ======  ======  =======
    size, batch x seq      real ms   0 MiB   2 MiB   8 MiB   32 MiB  128 MiB
    =====================  ========  ======  ======  ======  ======  =======
    d64, 2 x 64              5.91     -32%     -8%    +29%    +54%    +249%
    d64, 4 x 128            16.40     -25%    -22%    -13%    +13%    +125%
    d128, 2 x 128           19.57     -19%     -7%     +4%    +18%     +89%
    d256, 2 x 64            33.15     -32%    -24%    -18%     -3%     +45%
    d256, 4 x 128           89.13     -18%     -7%     -5%     +5%     +35%
    d512, 2 x 64           115.35     -18%    -22%    -24%    -12%      +7%
    d512, 4 x 128          254.52     -12%    -14%    -17%     -8%     +14%
    =====================  ========  ======  ======  ======  ======  =======

No single flush matches every size: the matching one grows from about 2 MiB (d64, 2 x 64) to 32-128 MiB (d512),
roughly with the bytes a step holds (parameters, gradients, AdamW state and activations: about 7 MB at d64 2 x 64,
over 130 MB at d512). The tables' 16 MiB sits between, which is the size trend of the compute study's errors
(small models over-predicted, d512 under-predicted). Small ops pay for every flush size (part (a): a residual add
of 8192 elements takes 3.5 us warm, 15.5 us after 8 MiB, 87 us after 128 MiB); large ones only once the flush
passes the last-level cache's share (RMSNorm over (2048, 512): 1.44 ms up to 8 MiB, 1.83 ms at 32, 2.98 ms at 128).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import torch

from harness.fidelity.compute import ModelSize, open_cpu_replay, predict_step, step_profile, step_times
from harness.timing.op_profile import StudyOpReplay
from kernels.ops import load_all_ops
from kernels.profiler import TimerSettings, time_call

FLUSH_MIB = (0, 2, 8, 32, 128)
#: small step ops at the d64 study shapes, and two large ones for contrast
OP_CASES = [
    ("residual_add", {"numel": 8192}),
    ("matmul", {"m": 128, "n": 192, "k": 64}),
    ("linear_fwd", {"m": 128, "n": 192, "k": 64}),
    ("rmsnorm_fwd", {"rows": 128, "dim": 64}),
    ("rmsnorm_bwd", {"rows": 128, "dim": 64}),
    ("rotary_fwd", {"batch_heads": 4, "seq": 64, "head_dim": 32}),
    ("sdpa_fwd", {"batch_heads": 4, "seq": 64, "head_dim": 32}),
    ("rmsnorm_fwd", {"rows": 2048, "dim": 512}),
    ("linear_fwd", {"m": 2048, "n": 1536, "k": 512}),
]
STEP_CASES = [(64, 2, 64), (64, 4, 128), (128, 2, 128), (256, 2, 64), (256, 4, 128), (512, 2, 64), (512, 4, 128)]


def cold_penalties(budget_s: float) -> None:
    ops, gen = load_all_ops(), torch.Generator().manual_seed(0)
    print(f"(a) median us per call after a flush of {', '.join(map(str, FLUSH_MIB))} MiB (1 thread)")
    for name, shape in OP_CASES:
        op = ops.get(name)
        fn = op.impls["torch"]
        args = op.make_inputs(shape, "float32", "cpu", gen)
        fn(*args)
        us = [time_call(lambda: fn(*args), "cpu", TimerSettings(cpu_budget_s=budget_s, cpu_flush_bytes=mib << 20)
                        ).time_ms_median * 1e3 for mib in FLUSH_MIB]
        print(f"  {name:<13} {str(shape):<46}" + "".join(f"{u:10.1f}" for u in us)
              + f"   8 MiB - none: {us[2] - us[0]:+.1f} us")


def steps_against_flushes(rounds: int) -> None:
    replay = open_cpu_replay(1, "results/timings")
    print(f"\n(b) real step (median of {rounds} x 5 steps) vs its ops timed alone after each flush, priced op by op")
    for d_model, batch, seq in STEP_CASES:
        size = ModelSize(f"d{d_model}", d_model, 2, d_model // 32, 3 * d_model)
        profiles = {}
        for mib in FLUSH_MIB:
            profiles[mib] = step_profile(size, batch, seq, 1, 0)
            profiles[mib].settings = dataclasses.replace(profiles[mib].settings, cpu_flush_bytes=mib << 20)
        measured: list[float] = []
        for _ in range(rounds):
            measured += step_times(size, batch, seq, warmup_steps=3, measured_steps=5)[0]
            for profile in profiles.values():
                profile.run_pass()
        real = statistics.median(measured)
        cells = []
        for mib, profile in profiles.items():
            predicted = predict_step(size, batch, seq, StudyOpReplay(profile.frame(), replay))["predicted_ms"]
            cells.append(f"{mib} MiB {predicted:7.2f} ({100 * (predicted - real) / real:+4.0f}%)")
        print(f"  {size.name} batch {batch} seq {seq}: real {real:7.2f} ms | " + " | ".join(cells))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of steps and op passes per size")
    parser.add_argument("--budget-s", type=float, default=0.1, help="timer budget per call in part (a)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cold_penalties(args.budget_s)
    steps_against_flushes(args.rounds)


if __name__ == "__main__":
    main()
