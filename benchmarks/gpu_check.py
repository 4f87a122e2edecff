"""The one prepared GPU check: correctness of every Triton kernel, the timing tables, and the three targets.

Stages (each its own process, run by ``scripts/gpu_check.sh``; one failing stage does not stop the others):

    python benchmarks/gpu_check.py check              # Triton vs torch reference on fresh random inputs
    python benchmarks/gpu_check.py profile --out DIR  # kernels.profiler, default grid -> DIR/<device>/
        [--ops matmul copy | train | kernels]       #   only these ops (train: the training-step ops)
        [--dtypes bfloat16 float16]                 #   only these dtypes (other dtypes' rows kept)
    python benchmarks/gpu_check.py bench --json FILE  # the three targets vs baselines, same run
    python benchmarks/gpu_check.py compile            # no GPU needed: compile every configuration for sm_90

``--dry-run`` runs the same code paths on this CPU machine: tiny shapes, Triton kernels in the interpreter
(``TRITON_INTERPRET=1``), timings meaningless. Checks print one ``PASS``/``FAIL`` line each; outputs are poisoned
(every tensor our launchers allocate is pre-filled with NaN / all-ones bits) so an unwritten element shows up.
Relative errors are ||out - ref|| / ||ref|| against float64 references.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: relative-error bounds per output dtype (METHOD.md: fp32 far under 1e-3; bf16 between 1e-3 and 1e-2)
REL_BOUND = {"float32": 2e-5, "float16": 2e-3, "bfloat16": 1e-2}


# ---------------------------------------------------------------------------------------------------------------
# helpers


def _torch():
    import torch

    return torch


def randn(shape, gen, device):
    """Fresh N(0, 1) numbers drawn on ``device`` (large GPU inputs are not generated on the host)."""
    torch = _torch()
    from kernels.inputs import device_generator

    return torch.randn(*shape, generator=device_generator(gen, device), device=device)


from kernels.testing import poisoned_allocations, rel_err  # noqa: E402


class Checks:
    """Collects PASS/FAIL lines."""

    def __init__(self) -> None:
        self.passed = 0
        self.failed: list[str] = []

    def record(self, name: str, ok: bool, detail: str) -> None:
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if ok:
            self.passed += 1
        else:
            self.failed.append(name)

    def close(self, name: str, value: float, bound: float) -> None:
        self.record(name, value <= bound, f"rel err {value:.2e} (bound {bound:.0e})")

    def run(self, name: str, fn: Callable[[], None]) -> None:
        start = time.perf_counter()
        try:
            fn()
        except Exception as err:  # noqa: BLE001 - a crash is a failed check, the others still run
            self.record(name, False, f"raised {type(err).__name__}: {err}")
            traceback.print_exc()
        print(f"     ({name}: {time.perf_counter() - start:.1f} s)", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# correctness checks


def check_row_topk(c: Checks, device: str, gen, dry: bool) -> None:
    torch = _torch()
    from kernels.row_topk import row_topk, row_topk_ref

    shapes = [(2, 37, 5), (1, 300, 300), (3, 1000, 17)] if dry else [(1, 11008, 1376), (3, 1000, 37), (1, 31250, 312), (5, 17, 17)]
    for rows, cols, k in shapes:
        g = randn((rows, cols), gen, device)
        g[:, : cols // 3] = torch.round(g[:, : cols // 3] * 2) / 2  # plenty of ties
        with poisoned_allocations():
            vals, idx = row_topk(g, k, impl="triton")
        ref_vals, ref_idx = row_topk_ref(g, k)
        same = torch.equal(idx, ref_idx) and torch.equal(vals, ref_vals)
        c.record(f"row_topk {rows}x{cols} k={k}", same, "indices and values identical to the stable-sort reference"
                 if same else f"{int((idx != ref_idx).sum())} index mismatches")


def _moc_weights(T, d, E, dtype, device, gen):
    torch = _torch()

    def draw(*shape, scale):
        return (randn(shape, gen, device) * scale).to(dtype)

    return draw(T, d, scale=1.0), draw(E, d, scale=d**-0.5), draw(E, d, scale=d**-0.5), draw(E, d, scale=E**-0.5)


def _moc_decode_f64(x, wg, wu, wdt, k):
    torch = _torch()
    F = torch.nn.functional
    xd = x.double()
    g = xd @ wg.double().T
    # ranked as the kernels and training rank it: rounded to x's dtype, ties to the lowest index (ranking the
    # float64 values instead swaps a channel at the cut whenever two of them round to one bf16 value)
    _, idx = torch.sort(g.to(x.dtype), dim=-1, descending=True, stable=True)
    idx = idx[:, :k]
    g_sel = g.gather(1, idx)
    u = torch.einsum("tkd,td->tk", wu.double()[idx], xd)
    return torch.einsum("tk,tkd->td", F.silu(g_sel) * u, wdt.double()[idx])


def check_moc(c: Checks, device: str, gen, dry: bool) -> None:
    torch = _torch()
    from kernels.moc import dense_swiglu, moc_decode, moc_swiglu, moc_swiglu_ref

    decode_shapes = [(1, 64, 96, 12, "bfloat16"), (2, 37, 53, 7, "float32")] if dry else [
        (1, 4096, 11008, 1376, "bfloat16"), (3, 1000, 2752, 300, "bfloat16"), (1, 127, 333, 41, "float32"),
        (2, 1024, 2816, 352, "float16"),
    ]
    for T, d, E, k, dt in decode_shapes:
        x, wg, wu, wdt = _moc_weights(T, d, E, getattr(torch, dt), device, gen)
        with poisoned_allocations():
            y = moc_decode(x, wg, wu, wdt, k, impl="triton")
        c.close(f"moc_decode T={T} d={d} E={E} k={k} {dt}", rel_err(y, _moc_decode_f64(x, wg, wu, wdt, k)), REL_BOUND[dt])
    # bf16 decode: the fused selection picks exactly the set the stable sort picks from the same gate values, ties
    # included (integer weights: many equal values at the cut), and the set the 12-bit selection picks
    from kernels.moc import decode_gate, decode_select, decode_select_up
    from kernels.row_topk import row_topk_ref

    selection_shapes = [(1, 64, 96, 12, True)] if dry else [
        (1, 4096, 11008, 1376, False), (1, 4096, 11008, 1376, True), (4, 512, 5632, 704, True),
        (2, 1000, 2752, 300, False),
    ]
    for T, d, E, k, ties in selection_shapes:
        x, wg, wu, _ = _moc_weights(T, d, E, torch.bfloat16, device, gen)
        if ties:
            x, wg = x.sign().to(torch.bfloat16), (wg * d**0.5).round().clamp(-1, 1).to(torch.bfloat16)
        g, hist = decode_gate(x, wg)
        idx, h = decode_select_up(x, wu, g, hist, k)
        _, ref = row_topk_ref(g.to(torch.bfloat16), k)
        g12, hist12 = decode_gate(x, wg, bf16_bins=False)
        _, idx12 = decode_select(g12, hist12, k)
        same = torch.equal(idx.long(), ref) and torch.equal(idx, idx12)
        c.record(f"moc bf16 selection T={T} E={E} k={k}{' ties' if ties else ''}", same,
                 "identical to the stable sort and to the 12-bit selection" if same else
                 f"{int((idx.long() != ref).sum())} / {int((idx != idx12).sum())} index mismatches (sort / 12-bit)")
    # K = E equals dense SwiGLU
    x, wg, wu, wdt = _moc_weights(2, 64 if dry else 256, 96 if dry else 704, torch.float32, device, gen)
    with poisoned_allocations():
        y = moc_decode(x, wg, wu, wdt, wg.shape[0], impl="triton")
    c.close("moc_decode k=E vs dense SwiGLU (fp32)", rel_err(y, dense_swiglu(x.double(), wg.double(), wu.double(), wdt.double().T)), 2e-5)

    train_shapes = [(16, 32, 48, 6, "float32")] if dry else [(512, 256, 704, 88, "bfloat16"), (37, 100, 300, 29, "float32")]
    for T, d, E, k, dt in train_shapes:
        base = _moc_weights(T, d, E, getattr(torch, dt), device, gen)
        dy = randn((T, d), gen, device).to(getattr(torch, dt))
        ours = [t.clone().requires_grad_() for t in base]
        with poisoned_allocations():
            y = moc_swiglu(*ours, k, impl="triton")
            y.backward(dy)
        if dt == "float32":  # oracle: float64 mask form through autograd
            oracle = [t.double().clone().requires_grad_() for t in base]
            y_ref = moc_swiglu_ref(*oracle, k)
            y_ref.backward(dy.double())
            what = "vs float64 autograd oracle"
        else:  # the same bf16 gate must pick the same channels: compare with the torch implementation
            oracle = [t.clone().requires_grad_() for t in base]
            y_ref = moc_swiglu(*oracle, k, impl="torch")
            y_ref.backward(dy)
            what = "vs torch implementation, same dtype"
        c.close(f"moc_swiglu fwd T={T} d={d} E={E} k={k} {dt} {what}", rel_err(y, y_ref), REL_BOUND[dt])
        for name, a, b in zip(("dx", "dW_g", "dW_u", "dW_dT"), ours, oracle):
            c.close(f"moc_swiglu {name} T={T} E={E} {dt}", rel_err(a.grad, b.grad), REL_BOUND[dt])


def _tah_error_ok(x, xhat, packed) -> tuple[bool, str]:
    """Every element within the per-tile bound: s/2 (plain tile) or sqrt(G) s/2 (transformed tile), + rounding."""
    torch = _torch()
    G = packed.tile_size
    err = (xhat.double() - x.double()).abs().reshape(-1, G)
    step = packed.scale.double()[:, None]
    bound = torch.where(packed.flags[:, None], math.sqrt(G) * step / 2, step / 2)
    # rounding of the output dtype: one unit in the last place (the CPU interpreter truncates instead of rounding)
    eps = 2.0 ** (-7 if xhat.dtype == torch.bfloat16 else -10 if xhat.dtype == torch.float16 else -20)
    slack = x.double().abs().reshape(-1, G).amax(1, keepdim=True) * 1e-5 + xhat.double().abs().reshape(-1, G) * eps
    bad = int((err > bound + slack).sum())
    return bad == 0, f"{bad} elements outside the per-tile bound; max err/step {float((err / step).max()):.3f}"


def _codes_per_tile(p):
    """Unpacked codes [n_tiles, G] of a TAHPacked (torch unpacker)."""
    torch = _torch()
    from kernels.tah_quant import _per_tile, _uniform_offsets, _unpack_ref

    bits = _per_tile(p.bits, p.bits_low, p.tile_low, p.n_tiles, p.codes.device)
    offsets = p.code_offsets if p.code_offsets is not None else _uniform_offsets(
        p.n_tiles, p.tile_size * p.bits // 8, p.codes.device)
    return _unpack_ref(p.codes, bits, offsets, p.tile_size, (p.bits, p.bits_low)).to(torch.int32)


def check_tah(c: Checks, device: str, gen, dry: bool) -> None:
    torch = _torch()
    from kernels.tah_quant import tah_dequantize, tah_quantize

    cases = [((5, 64), 16, 4, 4, "uniform", "bfloat16"), ((2, 7, 128), 32, 4, 3, "token", "float32")] if dry else [
        ((16384, 4096), 64, 4, 4, "uniform", "bfloat16"), ((1000, 1600), 64, 4, 3, "token", "bfloat16"),
        ((333, 256), 32, 4, 2, "tile", "float32"), ((77, 128), 128, 3, 3, "uniform", "float16"),
    ]
    for shape, G, bits, bits_low, alloc, dt in cases:
        x = randn(shape, gen, device)
        x[..., 3] *= 40.0  # an outlier channel: its tiles get the pivot swap + Hadamard
        x = x.to(getattr(torch, dt))
        name = f"tah {tuple(shape)} G={G} {bits}/{bits_low} {alloc} {dt}"
        with poisoned_allocations():
            p = tah_quantize(x, bits=bits, bits_low=bits_low, tile_size=G, allocation=alloc, impl="triton")
            xhat = tah_dequantize(p, impl="triton")
        r = tah_quantize(x, bits=bits, bits_low=bits_low, tile_size=G, allocation=alloc, impl="torch")
        same_meta = torch.equal(p.flags, r.flags) and torch.equal(p.pivots[p.flags], r.pivots[r.flags])
        c.record(f"{name} flags+pivots", same_meta, f"{int(p.flags.sum())} of {p.n_tiles} tiles transformed")
        ulp_z = (p.zero.float() - r.zero.float()).abs() <= (r.zero.float().abs() * 2**-10 + 2**-24)
        ulp_s = (p.scale.float() - r.scale.float()).abs() <= (r.scale.float() * 2**-10)
        c.record(f"{name} zero/scale", bool(ulp_z.all() and ulp_s.all()), "within 1 fp16 ulp of the reference")
        q_ours, q_ref = _codes_per_tile(p), _codes_per_tile(r)
        plain = ~r.flags
        exact = bool(torch.equal(q_ours[plain], q_ref[plain])) and p.codes.numel() == r.codes.numel()
        diff = (q_ours[r.flags] - q_ref[r.flags]).abs()
        near = diff.numel() == 0 or (int(diff.max()) <= 1 and float((diff > 0).float().mean()) <= 1e-2)
        c.record(f"{name} codes", exact and near,
                 f"untransformed tiles identical: {exact}; transformed tiles: "
                 f"{float((diff > 0).float().mean()) if diff.numel() else 0.0:.1e} of codes differ by "
                 f"<= {int(diff.max()) if diff.numel() else 0} (tensor-core vs float64 Hadamard sums at rounding ties)")
        ok, detail = _tah_error_ok(x, xhat, p)
        c.record(f"{name} error bound", ok, detail)
        c.close(f"{name} dequant triton vs torch", rel_err(xhat, tah_dequantize(p, impl="torch")), REL_BOUND[dt])
        c.record(f"{name} wire bytes", p.wire_bytes == r.wire_bytes, f"{p.wire_bytes} bytes "
                 f"({8 * p.wire_bytes / x.numel():.3f} bits/element)")


def check_arc(c: Checks, device: str, gen, dry: bool) -> None:
    torch = _torch()
    from kernels import arc_select as arc

    cases = [(37, 53, 4, 5, "float32"), (7, 5, 8, 7, "float32")] if dry else [
        (31250, 4000, 4, 312, "float32"), (1000, 333, 3, 17, "float32"), (7, 5, 8, 7, "float32"),
        (500, 256, 4, 50, "bfloat16"),
    ]
    for n, m, r, k, dt in cases:
        name = f"arc n={n} m={m} r={r} k={k} {dt}"
        G = randn((n, m), gen, device).to(getattr(torch, dt))
        V = arc.sketch_matrix(m, r, torch.Generator().manual_seed(n), device=device)
        with poisoned_allocations():
            P = arc.row_sketch(G, V, impl="triton")
            S = arc.row_scores(P, impl="triton")
            S_fused = arc.sketch_scores(G, V, impl="triton")
        P_ref = G.double() @ V.double()
        c.close(f"{name} sketch", rel_err(P, P_ref), 2e-5)
        S_ref = (P_ref * P_ref).sum(1)
        c.close(f"{name} scores", rel_err(S, S_ref), 4e-5)
        c.close(f"{name} fused sketch+scores", rel_err(S_fused, S_ref), 4e-5)
        with poisoned_allocations():
            rows = arc.select_rows(S_fused, k, impl="triton")
        ref_rows = arc.select_rows(S_fused, k, impl="torch")
        c.record(f"{name} select", torch.equal(rows, ref_rows), "identical rows (ascending) to the torch reference")
        with poisoned_allocations():
            buf = arc.pack_rows(G, rows, impl="triton")
            out = torch.empty(n, m, dtype=G.dtype, device=device)  # poisoned; unpack must zero the others
            back = arc.unpack_rows(buf, rows, n, m, out=out, impl="triton")
        ok = torch.equal(buf, G[rows].reshape(-1)) and torch.equal(back, arc.unpack_rows(buf, rows, n, m, impl="torch"))
        c.record(f"{name} pack/unpack", ok and back.data_ptr() == out.data_ptr(), "bit-exact round trip, in place")
        again = arc.arc_select(G, r, k, torch.Generator().manual_seed(7), impl="triton")
        twice = arc.arc_select(G, r, k, torch.Generator().manual_seed(7), impl="triton")
        c.record(f"{name} deterministic", torch.equal(again, twice), "same inputs and seed -> same rows")


CHECK_GROUPS = {"row_topk": check_row_topk, "moc": check_moc, "tah": check_tah, "arc": check_arc}


def stage_check(dry: bool, device: str, groups: list[str] | None = None) -> int:
    torch = _torch()
    gen = torch.Generator().manual_seed(time.time_ns() % 2**62)  # fresh inputs every run
    c = Checks()
    for name in groups or list(CHECK_GROUPS):
        fn = CHECK_GROUPS[name]
        c.run(name, lambda fn=fn: fn(c, device, gen, dry))
    print(f"\nchecks: {c.passed} passed, {len(c.failed)} failed" + (f": {', '.join(c.failed)}" if c.failed else ""))
    return 0 if not c.failed else 1


# ---------------------------------------------------------------------------------------------------------------
# warm: compile (and autotune) every Triton launch of one op's default grid, untimed. Run in parallel processes
# while the checks run, so the timed stages find every kernel in Triton's on-disk cache.


#: the MoC decode target's d_ff (LLaMA-7B; d_model 4096, 1 token, K = d_ff / 8)
MOC_TARGET_D_FF = 11008


def stage_warm(dry: bool, device: str, op_name: str) -> int:
    torch = _torch()
    from kernels.ops import load_all_ops

    op = load_all_ops().get(op_name)
    shapes = list(op.quick_grid)[:1] if dry else list(op.grid)
    gen = torch.Generator().manual_seed(0)
    for shape in shapes:
        for dtype in op.dtypes:
            start = time.perf_counter()
            try:
                args = op.make_inputs(shape, dtype, device, gen)
                for impl in op.impls:
                    if impl.startswith("triton"):
                        op.impls[impl](*args)
                if op_name == "moc_decode" and shape["tokens"] == 1 and (dry or shape["d_ff"] == MOC_TARGET_D_FF):
                    from kernels.moc import _moc_decode_triton  # the bench times the 12-bit selection beside it

                    x, wg, wu, wdt, _, k = args
                    _moc_decode_triton(x, wg, wu, wdt, k, bf16_bins=False)
                if device != "cpu":
                    torch.cuda.synchronize()
                print(f"warm {op_name} {dict(shape)} {dtype}: {time.perf_counter() - start:.1f} s", flush=True)
            except Exception as err:  # noqa: BLE001
                print(f"warm {op_name} {dict(shape)} {dtype}: FAILED {type(err).__name__}: {err}", flush=True)
            finally:
                args = None
    return 0


# ---------------------------------------------------------------------------------------------------------------
# profile


#: the ops of a LLaMA training step besides the GEMMs (kernels/train_ops.py), profiled in their own process
TRAIN_OPS = ("linear_fwd", "embedding_fwd", "embedding_bwd", "rmsnorm_fwd", "rmsnorm_bwd", "rotary_fwd", "rotary_bwd", "sdpa_fwd",
             "sdpa_bwd", "residual_add", "swiglu_fwd", "swiglu_bwd", "cross_entropy_fwd", "cross_entropy_bwd",
             "adamw_step", "sgd_momentum_step")
#: the project's own kernels (Triton on a GPU), profiled in their own process
KERNEL_OPS = ("moc_decode", "moc_train", "tah_quantize", "tah_dequantize", "arc_select", "arc_pack", "arc_unpack",
              "topk_flat")


#: do_bench windows of the tables: 5 ms warm-up, 20 ms of repeats (half the profiler's default; still >= 20
#: timed calls for any kernel under 1 ms), so the whole grid fits the device time of one session
PROFILE_WARMUP_MS, PROFILE_REP_MS = 5.0, 20.0


def stage_profile(dry: bool, device: str, out: Path, ops: list[str] | None = None,
                  dtypes: list[str] | None = None) -> int:
    """Profile ``ops`` (every registered op when None) over the default grid in ``dtypes`` (each op's own dtypes
    when None); rows of other dtypes already in the folder's tables are kept."""
    from kernels.profiler import TimerSettings, run_profile

    if dry:
        run_profile(device="cpu", ops=ops or ["moc_decode", "tah_quantize", "arc_select", "sdpa_bwd", "adamw_step"],
                    grid="quick", out=out, folder_name="dryrun", allow_interpreted_triton=True, max_shapes=1,
                    dtypes=dtypes, settings=TimerSettings(cpu_budget_s=0.01, cpu_min_reps=1, cpu_max_reps=2))
    else:
        run_profile(device=device, grid="default", out=out, ops=ops, dtypes=dtypes,
                    settings=TimerSettings(gpu_warmup_ms=PROFILE_WARMUP_MS, gpu_rep_ms=PROFILE_REP_MS))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# bench: the three targets


def _time(fn, device: str, graph: bool = False) -> float:
    from kernels.profiler import TimerSettings, time_call

    fn()
    if device == "cpu":
        return time_call(fn, device, TimerSettings(cpu_budget_s=0.01, cpu_min_reps=1, cpu_max_reps=2)).time_ms_median
    import triton.testing

    _torch().cuda.synchronize()
    if graph:
        return float(triton.testing.do_bench_cudagraph(fn, rep=50, return_mode="median"))
    return time_call(fn, device).time_ms_median


def _tuner_choices(module: str) -> dict[str, str]:
    """The configuration each autotuned kernel of ``kernels.<module>`` chose, per tuning key (shape)."""
    import importlib

    import triton

    kernels = importlib.import_module(f"kernels.{module}")
    return {f"{name} {key}": str(config) for name, tuner in vars(kernels).items()
            if isinstance(tuner, triton.runtime.Autotuner) for key, config in tuner.cache.items()}


def stage_bench(dry: bool, device: str, json_path: Path | None, summary_path: Path | None) -> int:
    torch = _torch()
    from kernels import arc_select as arc
    from kernels.moc import (
        _moc_decode_triton, decode_down, decode_gate, decode_select, decode_select_up, decode_up, dense_swiglu,
        moc_decode,
    )
    from kernels.profiler import measure_roofline, TimerSettings
    from kernels.tah_quant import tah_quantize, tile_hadamard_quant_torch

    settings = TimerSettings(cpu_budget_s=0.01, cpu_min_reps=1, cpu_max_reps=2) if dry else TimerSettings()
    roof = measure_roofline(device, settings)
    copy_gbytes_per_s = roof["copy_gbytes_per_s"]
    print(f"copy {copy_gbytes_per_s:.1f} GB/s; matmul " + ", ".join(f"{k} {v:.1f} TFLOP/s" for k, v in roof["matmul_tflops"].items()))
    gen = torch.Generator().manual_seed(1)
    results: dict[str, dict] = {"roofline": roof}
    lines: list[str] = []

    def target(key, title, ours_ms, base_ms, goal, bytes_moved=None, extra=""):
        ratio = base_ms / ours_ms
        frac = (bytes_moved / (ours_ms * 1e-3) / 1e9) / copy_gbytes_per_s if bytes_moved else None
        ok = ratio >= goal and (key != "tah" or (frac is not None and frac >= 0.6))
        results[key] = {"ours_ms": ours_ms, "baseline_ms": base_ms, "speedup": ratio, "goal": goal,
                        "copy_fraction": frac, "met": ok, "extra": extra}
        bw = f" {100 * frac:5.1f}% of copy BW" if frac is not None else ""
        lines.append(f"{title:<44} ours {ours_ms:8.4f} ms  baseline {base_ms:8.4f} ms  {ratio:6.2f}x "
                     f"(goal >= {goal}x){bw}  {'MET' if ok else 'MISSED'} {extra}")
        print(lines[-1], flush=True)
        save()  # after every target: a later failure or time-out keeps what was measured

    def save():
        device_label = torch.cuda.get_device_name() if device != "cpu" else "cpu (dry run: timings meaningless)"
        summary = "\n".join([f"TARGETS on {device_label} (copy {copy_gbytes_per_s:.0f} GB/s measured in this run)", *lines])
        if summary_path:
            summary_path.write_text(summary + "\n")
        if json_path:
            json_path.write_text(json.dumps(results, indent=1, default=str) + "\n")
        return summary

    # --- MoC decode: d 4096, d_ff 11008, 1 token, K = d_ff / 8, bf16, vs dense torch SwiGLU
    try:
        d, E = (64, 176) if dry else (4096, MOC_TARGET_D_FF)
        k = E // 8
        x, wg, wu, wdt = _moc_weights(1, d, E, torch.bfloat16, device, gen)
        wd = wdt.T.contiguous()
        impl = "triton"
        ours = _time(lambda: moc_decode(x, wg, wu, wdt, k, impl=impl), device)
        dense = _time(lambda: dense_swiglu(x, wg, wu, wd), device)
        floor_ms = 2 * (E * d + 2 * k * d + 2 * d) / (copy_gbytes_per_s * 1e9) * 1e3
        target("moc", f"MoC decode d={d} E={E} T=1 K={k} (eager)", ours, dense, 2.0, extra=f"bytes floor {floor_ms:.4f} ms")
        if device != "cpu":
            ours_g = _time(lambda: moc_decode(x, wg, wu, wdt, k, impl=impl), device, graph=True)
            dense_g = _time(lambda: dense_swiglu(x, wg, wu, wd), device, graph=True)
            target("moc_graph", "MoC decode, both in CUDA graphs", ours_g, dense_g, 2.0)
        # side by side: the 12-bit histogram + single-program selection (run 1's path; fp16 / fp32 still use it)
        old = {"eager": _time(lambda: _moc_decode_triton(x, wg, wu, wdt, k, bf16_bins=False), device)}
        if device != "cpu":
            old["graph"] = _time(lambda: _moc_decode_triton(x, wg, wu, wdt, k, bf16_bins=False), device, graph=True)
        results["moc_12bit_selection_ms"] = old
        print("  MoC decode with the 12-bit selection (ms): " + ", ".join(f"{n} {t:.4f}" for n, t in old.items()),
              flush=True)
        rows = x.reshape(-1, d)
        g, hist = decode_gate(rows, wg)
        idx, h = decode_select_up(rows, wu, g, hist, k)
        g12, hist12 = decode_gate(rows, wg, bf16_bins=False)
        g_sel, idx12 = decode_select(g12, hist12, k)
        parts = {
            "gate GEMV + bf16 histograms": _time(lambda: decode_gate(rows, wg), device),
            "Top-K + up gather-GEMV (bf16)": _time(lambda: decode_select_up(rows, wu, g, hist, k), device),
            "down gather-GEMV + sum": _time(lambda: decode_down(wdt, idx, h, x.dtype), device),
            "12-bit: gate GEMV + histogram": _time(lambda: decode_gate(rows, wg, bf16_bins=False), device),
            "12-bit: Top-K from histogram": _time(lambda: decode_select(g12, hist12, k), device),
            "12-bit: up gather-GEMV": _time(lambda: decode_up(rows, wu, g_sel, idx12), device),
        }
        for per_sm in (1, 4):  # the down projection split coarser / finer than the default (2 per multiprocessor)
            parts[f"down, {per_sm} programs per SM"] = _time(lambda: decode_down(wdt, idx, h, x.dtype, per_sm), device)
        results["moc_stages_ms"] = parts
        print("  MoC decode stages (ms): " + ", ".join(f"{n} {t:.4f}" for n, t in parts.items()), flush=True)
        results["moc_tuned_configs"] = tuned = _tuner_choices("_moc_triton")
        print("  MoC tuner choices: " + "; ".join(f"{n} {c}" for n, c in tuned.items()), flush=True)
        del x, wg, wu, wdt, wd, g, h, g12
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        lines.append("MoC decode: FAILED (see bench.log)")

    # --- TAH-Quant: 16384 x 4096 bf16 activation, 4 bits, vs torch tile-Hadamard
    try:
        T, C = (64, 256) if dry else (16384, 4096)
        x = randn((T, C), gen, device)
        x[:, ::97] *= 20.0
        x = x.to(torch.bfloat16)
        impl = "triton"
        ours = _time(lambda: tah_quantize(x, bits=4, tile_size=64, impl=impl), device)
        base = _time(lambda: tile_hadamard_quant_torch(x, 4, 64), device)
        packed = tah_quantize(x, bits=4, tile_size=64, impl=impl)
        moved = x.numel() * 2 + packed.codes.numel() + 6 * packed.n_tiles
        target("tah", f"TAH-Quant quantize {T}x{C} bf16 4-bit", ours, base, 8.0, bytes_moved=moved,
               extra=f"(>= 60% copy BW); wire {8 * packed.wire_bytes / x.numel():.3f} bits/elt")
        v1 = _time(lambda: tah_quantize(x, bits=4, bits_low=3, tile_size=64, allocation="token", impl=impl), device)
        results["tah_token_alloc_ms"] = v1
        print(f"  TAH v1 (token entropy, 80% 4-bit / 20% 3-bit): {v1:.4f} ms", flush=True)
        del x, packed
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        lines.append("TAH-Quant: FAILED (see bench.log)")

    # --- ARC: 125M-element fp32 gradient as [31250, 4000], 1%, vs torch.topk on the flat gradient
    try:
        n, m = (250, 40) if dry else (31250, 4000)
        G = randn((n, m), gen, device)
        V = arc.sketch_matrix(m, 4, torch.Generator().manual_seed(5), device=device)
        k_rows, k_flat = n // 100, (n * m) // 100
        impl = "triton"
        ours = _time(lambda: arc.select_rows(arc.sketch_scores(G, V, impl=impl), k_rows, impl=impl), device)
        base = _time(lambda: arc.flat_topk(G, k_flat), device)
        sketch_ms = _time(lambda: arc.sketch_scores(G, V, impl=impl), device)
        target("arc", f"ARC select {n}x{m} fp32 r=4 1% rows", ours, base, 5.0, bytes_moved=G.numel() * 4,
               extra=f"sketch pass {sketch_ms:.4f} ms = {G.numel() * 4 / (sketch_ms * 1e-3) / 1e9:.0f} GB/s")
        del G
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        lines.append("ARC select: FAILED (see bench.log)")

    print("\n" + save())
    return 0


# ---------------------------------------------------------------------------------------------------------------
# offline compile for sm_90 (no GPU needed): catches compile errors the CPU interpreter cannot see, and shows
# registers / spills / vector widths before the one GPU run


def _compile_variants():
    """(label, jit function, signature {arg: type}, constexprs, num_warps) for every launch configuration."""
    from kernels import _arc_select_triton as arc
    from kernels import _moc_triton as moc
    from kernels import _row_topk_triton as rtk
    from kernels import _tah_quant_triton as tah

    out = []
    for block in (16, 1024, 8192, 16384, 32768):
        warps = 4 if block <= 2048 else 8 if block <= 8192 else 16
        for gty, ity in (("fp32", "i64"), ("fp32", "i32"), ("bf16", "i64")):
            out.append((f"row_topk B{block} {gty}/{ity}", rtk.row_topk_kernel,
                        {"g_ptr": f"*{gty}", "val_ptr": f"*{gty}", "idx_ptr": f"*{ity}", "n_cols": "i32", "k": "i32",
                         "stride_g": "i32", "stride_out": "i32"}, {"BLOCK": block, "CHUNK": min(block, 4096)}, warps))
            if block >= 2048:
                out.append((f"select_from_histogram B{block} {gty}/{ity}", rtk.select_from_histogram_kernel,
                            {"g_ptr": f"*{gty}", "hist_ptr": "*i32", "scratch_ptr": "*i32", "val_ptr": f"*{gty}",
                             "idx_ptr": f"*{ity}", "n_cols": "i32", "k": "i32", "stride_g": "i32",
                             "stride_out": "i32"},
                            {"BLOCK": block, "CAP": rtk.CAP, "CHUNK": block if block <= 16384 else 4096}, warps))
        out.append((f"row_histogram {block}", rtk.row_histogram_kernel,
                    {"g_ptr": "*fp32", "hist_ptr": "*i32", "n_cols": "i32", "stride_g": "i32"}, {"BLOCK": 1024}, 4))
    for dt in ("bf16", "fp16", "fp32"):
        gate = {"x_ptr": f"*{dt}", "w_ptr": f"*{dt}", "out_ptr": "*fp32", "hist_ptr": "*i32", "E": "i32", "D": "i32",
                "stride_x": "i32", "stride_w": "i32", "stride_out": "i32"}
        for cfg in moc.gate_gemv_tuned.configs:
            out.append((f"gate_gemv {dt} {cfg.kwargs}", moc.gate_gemv_kernel, gate,
                        {**cfg.kwargs, "BF16_BINS": dt == "bf16"}, cfg.num_warps))
        if dt == "bf16":
            select_up = {"x_ptr": "*bf16", "w_ptr": "*bf16", "g_ptr": "*fp32", "hist_ptr": "*i32", "idx_ptr": "*i32",
                         "h_ptr": "*fp32", "E": "i32", "K": "i32", "D": "i32", "stride_x": "i32", "stride_w": "i32"}
            for cfg in moc.select_up_tuned.configs:
                out.append((f"select_up bf16 {cfg.kwargs}", moc.select_up_kernel, select_up,
                            {**cfg.kwargs, "PREFIX": 2048}, cfg.num_warps))
        up = {"x_ptr": f"*{dt}", "w_ptr": f"*{dt}", "gsel_ptr": "*fp32", "idx_ptr": "*i32", "h_ptr": "*fp32",
              "K": "i32", "D": "i32", "stride_x": "i32", "stride_w": "i32"}
        for cfg in moc.up_gather_tuned.configs:
            out.append((f"up_gather {dt} {cfg.kwargs}", moc.up_gather_kernel, up, dict(cfg.kwargs), cfg.num_warps))
        down = {"wdt_ptr": f"*{dt}", "idx_ptr": "*i32", "h_ptr": "*fp32", "part_ptr": "*fp32", "T": "i32", "K": "i32",
                "D": "i32", "stride_w": "i32", "slots_per_split": "i32"}
        for cfg in moc.down_partial_tuned.configs:
            out.append((f"down_partial {dt} {cfg.kwargs}", moc.down_partial_kernel, down, dict(cfg.kwargs),
                        cfg.num_warps))
        out.append((f"finalize {dt}", moc.finalize_kernel, {"part_ptr": "*fp32", "out_ptr": f"*{dt}", "T": "i32",
                    "D": "i32", "n_splits": "i32", "stride_out": "i32"}, {"SPLITS_PAD": 32, "BLOCK_D": 128}, 4))
        for block, ity in ((1024, "i16"), (8192, "i16"), (16384, "i32")):
            warps = 4 if block <= 2048 else 8 if block <= 8192 else 16
            out.append((f"train_forward {dt} B{block} {ity}", moc.train_forward_kernel,
                        {"g_ptr": f"*{dt}", "u_ptr": f"*{dt}", "h_ptr": f"*{dt}", "idx_ptr": f"*{ity}",
                         "gc_ptr": f"*{dt}", "uc_ptr": f"*{dt}", "E": "i32", "K": "i32", "stride_g": "i32",
                         "stride_u": "i32", "stride_h": "i32"}, {"BLOCK": block, "CHUNK": min(block, 4096)}, warps))
            out.append((f"train_backward {dt} {ity}", moc.train_backward_kernel,
                        {"dh_ptr": f"*{dt}", "idx_ptr": f"*{ity}", "gc_ptr": f"*{dt}", "uc_ptr": f"*{dt}",
                         "dense_ptr": f"*{dt}", "plane": "i32", "E": "i32", "K": "i32", "stride_dh": "i32"},
                        {"BLOCK_K": 1024}, 4))
        splits = {"bf16": 1, "fp16": 2, "fp32": 3}[dt]
        for G in (16, 32, 64, 128, 256):
            rows = max(16, 4096 // G)
            for bits, low, mixed in ((4, 4, False), (3, 3, False), (8, 8, False), (4, 3, True), (4, 2, True)):
                out.append((f"quantize {dt} G{G} {bits}/{low}{' mixed' if mixed else ''}", tah.quantize_kernel,
                            {"x_ptr": f"*{dt}", "h_ptr": "*bf16", "codes_ptr": "*u8", "zero_ptr": "*fp16", "scale_ptr": "*fp16",
                             "flag_ptr": "*u8", "pivot_ptr": "*u8", "low_ptr": "*u8", "offs_ptr": "*i64",
                             "n_tiles": "i32"},
                            {"G": G, "ROWS": rows, "BITS": bits, "BITS_LOW": low, "MIXED": mixed, "SPLITS": splits,
                             "SCALE": G**-0.5, "TINY": 2.0**-24, "F32_DOT": False}, 4))
                out.append((f"dequantize {dt} G{G} {bits}/{low}{' mixed' if mixed else ''}", tah.dequantize_kernel,
                            {"codes_ptr": "*u8", "h_ptr": "*bf16", "zero_ptr": "*fp16", "scale_ptr": "*fp16", "flag_ptr": "*u8",
                             "pivot_ptr": "*u8", "low_ptr": "*u8", "offs_ptr": "*i64", "out_ptr": f"*{dt}",
                             "n_tiles": "i32"},
                            {"G": G, "ROWS": rows, "BITS": bits, "BITS_LOW": low, "MIXED": mixed, "SCALE": G**-0.5,
                             "F32_DOT": False}, 4))
        for block_l in (16, 64, 1024):
            out.append((f"row_entropy {dt} L{block_l}", tah.row_entropy_kernel,
                        {"x_ptr": f"*{dt}", "out_ptr": "*fp32", "n_rows": "i32", "L": "i32"},
                        {"BLOCK_R": max(1, 4096 // block_l), "BLOCK_L": block_l}, 4))
    for dt in ("fp32", "bf16"):
        for r in range(1, 9):
            for write_p, write_s in ((True, False), (False, True)):
                out.append((f"sketch {dt} R{r} P{int(write_p)}S{int(write_s)}", arc.sketch_kernel,
                            {"g_ptr": f"*{dt}", "vt_ptr": "*fp32", "p_ptr": "*fp32", "s_ptr": "*fp32", "n": "i32",
                             "m": "i32", "stride_g": "i32"},
                            {"R": r, "BLOCK_N": 32, "BLOCK_M": 128, "WRITE_P": write_p, "WRITE_S": write_s}, 8))
        out.append((f"pack {dt}", arc.pack_kernel, {"g_ptr": f"*{dt}", "rows_ptr": "*i64", "buf_ptr": f"*{dt}",
                    "m": "i32", "stride_g": "i32"}, {"BLOCK": 4096}, 4))
        out.append((f"unpack {dt}", arc.unpack_kernel, {"buf_ptr": f"*{dt}", "pos_ptr": "*i32", "out_ptr": f"*{dt}",
                    "m": "i32", "stride_out": "i32"}, {"BLOCK": 4096}, 4))
    for r in range(1, 9):
        out.append((f"scores R{r}", arc.scores_kernel, {"p_ptr": "*fp32", "s_ptr": "*fp32", "n": "i32"},
                    {"R": r, "R_PAD": 1 << (r - 1).bit_length(), "BLOCK_N": 256}, 4))
    return out


def stage_compile(match: str | None) -> int:
    """Compile every launch configuration for sm_90 (aligned and unaligned arguments); print resources."""
    import re
    import subprocess
    import tempfile

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    cuobjdump = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    failures = 0
    variants = [v for v in _compile_variants() if not match or match in v[0]]
    for label, fn, signature, constexprs, warps in variants:
        for aligned in (True, False):
            sig = {**signature, **{name: "constexpr" for name in constexprs}}
            attrs = {}
            if aligned:  # what the launcher sees for 16-byte aligned pointers and sizes divisible by 16
                attrs = {(fn.arg_names.index(a),): [["tt.divisibility", 16]] for a, t in signature.items()
                         if t.startswith("*") or t == "i32"}
            try:
                compiled = triton.compile(ASTSource(fn, sig, constexprs, attrs), target=GPUTarget("cuda", 90, 32),
                                          options={"num_warps": warps})
            except Exception as err:  # noqa: BLE001
                failures += 1
                print(f"FAIL compile {label} aligned={aligned}: {type(err).__name__}: {str(err)[:400]}")
                continue
            if not aligned:
                continue
            with tempfile.NamedTemporaryFile(suffix=".cubin") as handle:
                handle.write(compiled.asm["cubin"])
                handle.flush()
                usage = subprocess.run([str(cuobjdump), "--dump-resource-usage", handle.name], capture_output=True,
                                       text=True).stdout
            found = re.search(r"REG:(\d+) STACK:(\d+)", usage)
            regs, stack = (found.group(1), found.group(2)) if found else ("?", "?")
            print(f"ok   {label:<48} warps={warps:<2} regs={regs:<4} stack={stack:<5} shared={compiled.metadata.shared}")
    print(f"compiled {len(variants)} configurations x 2 alignments: {failures} failure(s)")
    return 1 if failures else 0


def kernel_report() -> None:
    """Registers, spills and shared memory of every Triton kernel compiled in this process (when readable)."""
    modules = []
    for name in ("kernels._row_topk_triton", "kernels._moc_triton", "kernels._tah_quant_triton", "kernels._arc_select_triton"):
        if name in sys.modules:
            modules.append(sys.modules[name])
    print("\ncompiled Triton kernels (name: warps, registers, spills, shared bytes):")
    for module in modules:
        for attr in sorted(vars(module)):
            fn = getattr(module, attr)
            fn = getattr(fn, "fn", fn)  # autotuned -> the jitted function
            caches = getattr(fn, "device_caches", None)
            if not caches:
                continue
            for entry in caches.values():
                for compiled in entry[0].values():
                    try:
                        meta = compiled.metadata
                        print(f"  {module.__name__.split('.')[-1]}.{attr}: warps={meta.num_warps} "
                              f"regs={compiled.n_regs} spills={compiled.n_spills} shared={meta.shared}")
                    except Exception:  # noqa: BLE001 - a diagnostic only
                        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stage", choices=("check", "warm", "profile", "bench", "compile"))
    parser.add_argument("--match", help="compile: only configurations whose label contains this")
    parser.add_argument("--group", action="append", choices=sorted(CHECK_GROUPS), help="check: only these groups")
    parser.add_argument("--op", help="warm: the op whose default grid to compile")
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny shapes, Triton interpreter")
    parser.add_argument("--out", type=Path, default=Path("/tmp/gpu_check_timings"), help="profile: tables folder")
    parser.add_argument("--ops", nargs="+", help="profile: only these ops (`train` = the training-step ops, "
                        "`kernels` = the project's Triton kernels)")
    parser.add_argument("--dtypes", nargs="+", choices=("float32", "bfloat16", "float16"),
                        help="profile: only these dtypes (rows of the others already in the tables are kept)")
    parser.add_argument("--json", type=Path, help="bench: write results here")
    parser.add_argument("--summary", type=Path, help="bench: write the target table here")
    args = parser.parse_args(argv)
    if args.stage == "compile":
        os.environ.pop("TRITON_INTERPRET", None)  # compile for real, for sm_90, on any machine
        return stage_compile(args.match)
    if args.dry_run:
        os.environ["TRITON_INTERPRET"] = "1"  # before any Triton kernel module is imported
    torch = _torch()
    device = "cpu" if args.dry_run else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run with --dry-run on a CPU machine", file=sys.stderr)
        return 2
    started = time.perf_counter()
    if args.stage == "check":
        rc = stage_check(args.dry_run, device, args.group)
    elif args.stage == "warm":
        rc = stage_warm(args.dry_run, device, args.op)
    elif args.stage == "profile":
        groups = {"train": TRAIN_OPS, "kernels": KERNEL_OPS}
        ops = [o for name in args.ops for o in groups.get(name, (name,))] if args.ops else None
        rc = stage_profile(args.dry_run, device, args.out, ops, args.dtypes)
    else:
        rc = stage_bench(args.dry_run, device, args.json, args.summary)
    if device == "cuda":
        kernel_report()
    print(f"stage {args.stage}: {time.perf_counter() - started:.1f} s")
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
