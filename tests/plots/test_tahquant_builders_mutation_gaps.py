"""Gaps in the tests of `plots.papers.tahquant` found by a mutation audit (its data builders; the verdicts have
their own audit in test_tahquant_verdict_mutation_gaps.py).

Closed here on hand-built sweeps and frames:
- `speed_rows`: the FP32 and BF16 rows derived from TAH-Quant's (sequences per step, speedups both ways, their bits,
  no codec time, no cache), the series order and bandwidths sorted; `_series` sorted by bandwidth;
- fig5's sentence; tab2's throughput columns, their rounding and the two ratios; tab3's cache on both sides, the
  activations in flight, the GB units and rounding, the sentence;
- `train_series`' default bits and unknown codecs; `training_rows` (series, seed from the scenario, the rolling
  window of 5% of the steps, the columns kept, an empty sweep, points and runs that do not pair up);
- `final_losses` (the last recorded held-out loss, the training loss over the last 10% of steps, bits and error
  after the first epoch or over all rows when there is only one, the largest cache); `tolerance`; the
  sentences (`_gap_note`, `_tolerance_note`, `_signed_gaps`); `_too_few_seeds`' reasons;
- tab1's cells and series order, fig4's seed count and sentence; fig3's inputs to the codec analysis (profile bits,
  tile, shape, seed), the mixed row's name and its 4-bit sentence.
"""

from __future__ import annotations

import math
from types import SimpleNamespace as NS

import numpy as np
import pandas as pd
import pytest

from plots.papers import tahquant as t

TAH = "tahquant(allocation=token,bits=4)/fixpoint(bits=6)"
AQ = "aqsgd(bits=4,cache_dtype=float16)/fixpoint(bits=6)"
DIRECT = "fixpoint(bits=4)/fixpoint(bits=6)"


def _metric(method: str, bw: float, step_ms: float, seq_per_s: float, *, fp32_ms: float = 0.0, bf16_ms: float = 0.0,
            bits: float = 4.0, cache: float = 0.0) -> dict:
    return {"method": method, "bandwidth_gbps": bw, "step_time_ms": step_ms, "throughput_seq_per_s": seq_per_s,
            "speedup_vs_fp32": fp32_ms / step_ms, "speedup_vs_bf16": bf16_ms / step_ms, "fwd_bits_per_element": bits,
            "bwd_bits_per_element": 6.0, "codec_ms": 3.0, "bubble_fraction": 0.25, "cache_bytes_per_side": cache,
            "n_micro_batches": 32, "peak_in_flight": 32, "activation_bytes": 7_000_000, "fp32_step_time_ms": fp32_ms,
            "bf16_step_time_ms": bf16_ms}


def speed_sweep() -> NS:
    """Two bandwidths given fastest first: TAH-Quant 32 sequences per step; AQ-SGD and direct 4-bit beside it."""
    rows = [_metric(TAH, 1.0, 500.0, 64.0, fp32_ms=800.0, bf16_ms=600.0, bits=4.4112),
            _metric(AQ, 1.0, 666.0, 48.0, fp32_ms=800.0, bf16_ms=600.0, cache=1e10),
            _metric(DIRECT, 1.0, 500.0, 64.0, fp32_ms=800.0, bf16_ms=600.0),
            _metric(TAH, 0.1, 1000.0, 32.0, fp32_ms=4000.0, bf16_ms=2000.0, bits=4.4112),
            _metric(AQ, 0.1, 1066.0, 30.0, fp32_ms=4000.0, bf16_ms=2000.0, cache=1e10),
            _metric(DIRECT, 0.1, 1000.0, 32.0, fp32_ms=4000.0, bf16_ms=2000.0)]
    return NS(metrics=pd.DataFrame(rows))


def ctx_of(sweep: NS, profile: str = "quick") -> NS:
    return NS(run=lambda path: sweep, profile=profile)


# ------------------------------------------------------------------------------------------------------ speed
def test_speed_rows_derive_fp32_and_bf16_from_the_tahquant_runs():
    data = t.speed_rows(speed_sweep())
    assert list(zip(data["series"], data["bandwidth_gbps"])) == [
        ("AQ-SGD 4-bit", 0.1), ("AQ-SGD 4-bit", 1.0), ("BF16", 0.1), ("BF16", 1.0), ("FP32", 0.1), ("FP32", 1.0),
        ("TAH-Quant", 0.1), ("TAH-Quant", 1.0), ("direct 4-bit", 0.1), ("direct 4-bit", 1.0)]
    fp32 = data[data["series"] == "FP32"].set_index("bandwidth_gbps")
    bf16 = data[data["series"] == "BF16"].set_index("bandwidth_gbps")
    # 32 sequences per step: 4 s and 0.8 s per FP32 step -> 8 and 40 sequences/s; BF16 2 s and 0.6 s
    assert fp32["throughput_seq_per_s"].to_dict() == pytest.approx({0.1: 8.0, 1.0: 40.0})
    assert bf16["throughput_seq_per_s"].to_dict() == pytest.approx({0.1: 16.0, 1.0: 160 / 3})
    assert fp32["step_time_ms"].to_dict() == {0.1: 4000.0, 1.0: 800.0}
    assert fp32["speedup_vs_fp32"].tolist() == [1.0, 1.0] and bf16["speedup_vs_bf16"].tolist() == [1.0, 1.0]
    assert bf16["speedup_vs_fp32"].to_dict() == pytest.approx({0.1: 2.0, 1.0: 4 / 3})
    assert fp32["speedup_vs_bf16"].to_dict() == pytest.approx({0.1: 0.5, 1.0: 0.75})
    assert set(fp32["fwd_bits_per_element"]) == set(fp32["bwd_bits_per_element"]) == {32.0}
    assert set(bf16["fwd_bits_per_element"]) == set(bf16["bwd_bits_per_element"]) == {16.0}
    assert set(fp32["codec_ms"]) == {0.0} and set(fp32["cache_bytes_per_side"]) == {0}
    assert fp32["bubble_fraction"].isna().all()
    assert set(fp32["peak_in_flight"]) == {32} and set(fp32["activation_bytes"]) == {7_000_000}
    tah = data[data["series"] == "TAH-Quant"].set_index("bandwidth_gbps")
    assert tah["codec_ms"].tolist() == [3.0, 3.0] and tah["speedup_vs_fp32"].to_dict() == {0.1: 4.0, 1.0: 1.6}


def test_series_of_a_frame_out_of_bandwidth_order_is_sorted():
    data = pd.DataFrame({"series": ["TAH-Quant", "FP32", "TAH-Quant", "TAH-Quant"],
                         "bandwidth_gbps": [10.0, 1.0, 0.1, 1.0], "speedup_vs_fp32": [1.1, 1.0, 4.0, 2.0]})
    assert t._series(data, "TAH-Quant", "speedup_vs_fp32").to_dict() == {0.1: 4.0, 1.0: 2.0, 10.0: 1.1}
    assert list(t._series(data, "TAH-Quant", "speedup_vs_fp32").index) == [0.1, 1.0, 10.0]


def test_fig5_sentence_lists_tahquant_speedups_by_bandwidth():
    out = t.draw_fig5(ctx_of(speed_sweep()))
    assert out.ours == "TAH-Quant vs FP32: 0.1 Gbit/s: 4.00x, 1 Gbit/s: 1.60x"
    assert len(out.data) == 10


def test_tab2_columns_ratios_and_rounding():
    out = t.draw_tab2(ctx_of(speed_sweep()))
    table = out.table
    assert list(table.columns) == ["bandwidth (Gbit/s)", "FP32 (seq/s)", "BF16 (seq/s)", "direct 4-bit (seq/s)",
                                   "AQ-SGD 4-bit (seq/s)", "TAH-Quant (seq/s)", "TAH-Quant / FP32",
                                   "TAH-Quant / AQ-SGD"]
    assert table["bandwidth (Gbit/s)"].tolist() == [0.1, 1.0]
    assert table["FP32 (seq/s)"].tolist() == [8.0, 40.0] and table["BF16 (seq/s)"].tolist() == [16.0, 53.33]
    assert table["AQ-SGD 4-bit (seq/s)"].tolist() == [30.0, 48.0]
    assert table["TAH-Quant / FP32"].tolist() == [4.0, 1.6]
    assert table["TAH-Quant / AQ-SGD"].tolist() == [1.067, 1.333]  # 32 / 30 and 64 / 48, three decimals
    assert out.ours == "TAH-Quant vs FP32 up to 4.00x; vs AQ-SGD 1.067x-1.333x"


def test_tab3_counts_the_cache_on_both_sides_and_the_activations_in_flight():
    out = t.draw_tab3(ctx_of(speed_sweep()))
    data = out.data.set_index("series")
    assert list(data.index) == ["direct 4-bit", "AQ-SGD 4-bit", "TAH-Quant"]
    assert data["extra_bytes_per_boundary"].to_dict() == {"direct 4-bit": 0.0, "AQ-SGD 4-bit": 2e10,
                                                          "TAH-Quant": 0.0}
    assert set(data["in_flight_activation_bytes"]) == {224e6}  # 32 micro-batches x 7 MB
    assert data.loc["TAH-Quant", "fwd_bits_per_element"] == 4.4112
    table = out.table.set_index("method")
    assert table["extra memory per boundary (GB)"].to_dict() == {"direct 4-bit": 0.0, "AQ-SGD 4-bit": 20.0,
                                                                 "TAH-Quant": 0.0}
    assert set(table["activations in flight per boundary (GB)"]) == {0.224}
    assert table.loc["TAH-Quant", "forward bits per element"] == 4.411
    assert out.ours == "extra memory per boundary: AQ-SGD cache 20.0 GB, TAH-Quant 0 GB"


# ------------------------------------------------------------------------------------------------ training runs
def test_train_series_defaults_and_unknown_codecs():
    assert t.train_series({"name": "fixpoint"}) == "direct 6-bit"
    assert t.train_series({"name": "aqsgd"}) == "AQ-SGD 4-bit"
    assert t.train_series({"name": "aqsgd", "params": {"bits": 2}}) == "AQ-SGD 2-bit"
    assert t.train_series({"name": "topk", "params": {}}) == "topk"


def run_frame(final: float, *, steps: int = 20, fwd_bits: float = 4.0, rel_error: float = 0.1,
              cache_step: float = 0.0, epoch_len: int = 10) -> pd.DataFrame:
    """Losses falling by 0.1 a step to ``final`` at the last step; held-out loss every 5 steps; the first epoch
    sends 32 bits with no error."""
    rows = []
    for step in range(steps):
        epoch = step // epoch_len
        loss = final + 0.1 * (steps - 1 - step)
        rows.append({"step": step, "epoch": epoch, "loss": loss, "eval_loss": loss if step % 5 == 4 else np.nan,
                     "fwd_bits_per_element": 32.0 if epoch == 0 else fwd_bits, "bwd_bits_per_element": 6.0,
                     "fwd_rel_error": 0.0 if epoch == 0 else rel_error, "bwd_rel_error": 0.05,
                     "cache_bytes": cache_step * step, "extra": 1.0})
    return pd.DataFrame(rows)


def training_sweep(runs: list[tuple[dict, int, pd.DataFrame]]) -> NS:
    points = [NS(scenario=NS(seed=seed, workload=NS(forward=NS(model_dump=lambda f=forward: f))))
              for forward, seed, _ in runs]
    return NS(points=points, runs=[NS(read_metrics=frame.copy) for _, _, frame in runs])


def test_training_rows_label_seed_and_smooth_over_a_twentieth_of_the_steps():
    frame = run_frame(1.0, steps=40).assign(loss=[2.0 * s for s in range(40)])
    sweep = training_sweep([({"name": "tahquant"}, 7, frame), ({"name": "none"}, 3, run_frame(1.0, steps=40))])
    data = t.training_rows(sweep)
    assert list(data.columns) == ["series", "seed", "step", "epoch", "loss", "loss_smooth", "eval_loss",
                                  "fwd_bits_per_element", "bwd_bits_per_element", "fwd_rel_error", "bwd_rel_error",
                                  "cache_bytes"]
    first = data.iloc[:40]
    assert set(first["series"]) == {"TAH-Quant"} and set(first["seed"]) == {7}
    assert set(data.iloc[40:]["series"]) == {"FP32"} and set(data.iloc[40:]["seed"]) == {3}
    # 40 steps: a window of 2; loss 2 s -> smoothed 0, 1, 3, ..., 2 s - 1
    assert first["loss_smooth"].tolist()[:4] == [0.0, 1.0, 3.0, 5.0] and first["loss_smooth"].iloc[-1] == 77.0


def test_training_rows_refuse_an_empty_sweep_and_unpaired_points():
    with pytest.raises(ValueError, match="no runs"):
        t.training_rows(NS(points=[], runs=[]))
    sweep = training_sweep([({"name": "none"}, 0, run_frame(1.0)), ({"name": "none"}, 1, run_frame(1.0))])
    sweep.runs = sweep.runs[:1]
    with pytest.raises(ValueError):
        t.training_rows(sweep)


def _rows(series: str, seed: int, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(series=series, seed=seed)


def test_final_losses_per_run():
    a = _rows("TAH-Quant", 0, run_frame(1.0, fwd_bits=4.5, rel_error=0.2, cache_step=100.0))
    a.loc[a["step"] == 19, "eval_loss"] = np.nan  # the last held-out loss is at step 14: 1.0 + 0.5
    one_epoch = _rows("FP32", 0, run_frame(2.0, epoch_len=100))  # only the first epoch: bits over all rows
    data = pd.concat([a, one_epoch]).sample(frac=1.0, random_state=0)  # rows out of order
    finals = t.final_losses(data).set_index("series")
    tah, fp32 = finals.loc["TAH-Quant"], finals.loc["FP32"]
    assert tah["eval_loss"] == pytest.approx(1.5) and tah["perplexity"] == pytest.approx(math.exp(1.5))
    assert tah["train_loss"] == pytest.approx(1.05)  # 20 steps: the last 2, losses 1.1 and 1.0
    assert tah["fwd_bits_per_element"] == pytest.approx(4.5) and tah["fwd_rel_error"] == pytest.approx(0.2)
    assert tah["bwd_bits_per_element"] == pytest.approx(6.0) and tah["cache_bytes"] == 1900.0
    assert fp32["eval_loss"] == pytest.approx(2.0) and fp32["fwd_bits_per_element"] == pytest.approx(32.0)
    assert int(tah["seed"]) == 0 and list(finals.columns)[:3] == ["seed", "eval_loss", "perplexity"]


def test_final_losses_training_loss_window_grows_with_the_run():
    data = _rows("FP32", 0, run_frame(1.0, steps=40))
    # 40 steps: the last 4 losses 1.3, 1.2, 1.1, 1.0
    assert t.final_losses(data)["train_loss"].iloc[0] == pytest.approx(1.15)
    short = _rows("FP32", 0, run_frame(1.0, steps=5, epoch_len=2))
    assert t.final_losses(short)["train_loss"].iloc[0] == pytest.approx(1.0)  # at least one step


def _finals(eval_losses: dict[str, list[float]], train: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([{"series": s, "seed": i, "eval_loss": v, "train_loss": train[s][i]}
                         for s, values in eval_losses.items() for i, v in enumerate(values)])


def test_tolerance_and_the_sentences():
    finals = _finals({"FP32": [1.0, 1.2, 1.4], "TAH-Quant": [1.3], "direct 3-bit": [2.0, 2.5, 2.0, 2.5]},
                     {"FP32": [1.1, 1.1, 1.1], "TAH-Quant": [1.05], "direct 3-bit": [2.0] * 4})
    mean, tol, n = t.tolerance(finals, "eval_loss")
    assert (mean, tol, n) == (pytest.approx(1.2), pytest.approx(0.4), 3)  # 2 sample stds of 1.0, 1.2, 1.4
    assert t._gap_note(finals) == (
        "Final held-out loss, mean ± std over seeds: FP32 1.2 ± 0.2; direct 3-bit 2.25 ± 0.289; TAH-Quant 1.3 ± 0. "
        "Tolerance 0.4000 (2 x the std of 3 FP32 seeds). TAH-Quant - FP32: held-out +0.1000, training -0.0500 "
        "(negative: TAH-Quant lower).")
    assert t._signed_gaps(finals[finals["series"] != "FP32"]) == ""
    assert t._signed_gaps(finals[finals["series"] != "TAH-Quant"]) == ""


def test_too_few_seeds_reasons():
    three = _finals({"FP32": [1.0, 1.1, 1.2], "TAH-Quant": [1.0, 1.1, 1.2]},
                    {"FP32": [1.0] * 3, "TAH-Quant": [1.0] * 3})
    assert t._too_few_seeds(three) is None
    assert t._too_few_seeds(three[three["series"] == "FP32"]) == "the runs lack FP32 or TAH-Quant"
    assert t._too_few_seeds(three[three["series"] == "TAH-Quant"]) == "the runs lack FP32 or TAH-Quant"
    two = three.drop(index=5)
    assert t._too_few_seeds(two).endswith("needs >= 3 seeds per method; FP32 has 3, TAH-Quant 2")


def _convergence_sweep() -> NS:
    runs = []
    for seed, final in enumerate((1.0, 1.2, 1.4)):
        runs.append(({"name": "none"}, seed, run_frame(final, fwd_bits=32.0, rel_error=0.0)))
        runs.append(({"name": "tahquant"}, seed, run_frame(final + 0.1 * (seed + 1), fwd_bits=4.4 + 0.1 * seed,
                                                          rel_error=0.1, cache_step=1e5)))
    runs.append(({"name": "fixpoint", "params": {"bits": 4}}, 0, run_frame(3.0, rel_error=0.3)))
    return training_sweep(runs)


def test_tab1_cells_in_series_order():
    out = t.draw_tab1(ctx_of(_convergence_sweep()))
    table = out.table.set_index("method")
    assert list(table.index) == ["FP32", "direct 4-bit", "TAH-Quant"]
    fp32, tah = table.loc["FP32"], table.loc["TAH-Quant"]
    # FP32 finals 1.0, 1.2, 1.4; TAH-Quant 1.1, 1.4, 1.7 (sample std 0.3); training loss = final + 0.05
    assert (fp32["held-out loss"], tah["held-out loss"]) == ("1.2 ± 0.2", "1.4 ± 0.3")
    assert (fp32["training loss"], tah["training loss"]) == ("1.25 ± 0.2", "1.45 ± 0.3")
    # exp(1.0), exp(1.2), exp(1.4): mean 3.3645, sample std 0.6696
    assert fp32["perplexity"] == "3.365 ± 0.67"
    assert tah["bits fwd / bwd"] == "4.50 / 6.00" and fp32["bits fwd / bwd"] == "32.00 / 6.00"  # 4.4, 4.5, 4.6
    assert tah["fwd rel. error"] == "0.100" and table.loc["direct 4-bit", "fwd rel. error"] == "0.300"
    assert tah["cache (MB)"] == "1.90" and fp32["cache (MB)"] == "0.00"
    assert (tah["seeds"], table.loc["direct 4-bit", "seeds"]) == (3, 1)
    assert len(out.data) == 7 and set(out.data.columns) >= {"series", "seed", "eval_loss", "train_loss"}
    assert out.ours.startswith("Final held-out loss, mean ± std over seeds: FP32 1.2 ± 0.2; direct 4-bit 3 ± 0; "
                               "TAH-Quant 1.4 ± 0.3. Tolerance 0.4000")


def test_fig4_counts_seeds_and_states_the_gaps():
    out = t.draw_fig4(ctx_of(_convergence_sweep()))
    assert out.provenance == {"seeds": 3}
    assert len(out.data) == 7 * 20 and set(out.data["series"]) == {"FP32", "TAH-Quant", "direct 4-bit"}
    assert out.ours.endswith("TAH-Quant - FP32: held-out +0.2000, training +0.2000 (negative: TAH-Quant lower).")


# ------------------------------------------------------------------------------------------------------- fig3
def test_fig3_feeds_the_profile_bits_and_names_the_mixed_row(monkeypatch):
    from methods.pipeline import analysis

    calls = []
    mse = {"per-tile": 0.3, "tile + Hadamard": 0.2, "tile + pivot + Hadamard": 0.1, "per-channel fixpoint": 0.5}

    def synthetic(dataset, shape, seed):
        calls.append(("x", dataset, tuple(shape), seed))
        return dataset

    def errors(x, bits, tile):
        calls.append(("errors", x, tuple(bits), tile))
        scale = 10.0 if x == "massive_tokens" else 1.0
        return [{"variant": v, "bits": b, "bits_per_element": b + 0.5, "mse": scale * m / b, "flagged_share": 0.1}
                for v, m in mse.items() for b in bits]

    def mixed(x, tile):
        calls.append(("mixed", x, tile))
        return {"variant": "TAH-Quant codec", "bits": 3.8, "bits_per_element": 4.3, "mse": 0.01,
                "flagged_share": 0.2}

    monkeypatch.setattr(analysis, "synthetic_activations", synthetic)
    monkeypatch.setattr(analysis, "codec_errors", errors)
    monkeypatch.setattr(analysis, "mixed_tahquant_error", mixed)
    out = t.draw_fig3(ctx_of(NS(), profile="full"))
    assert calls[:3] == [("x", "outlier_channels", (1, 256, 1600), 0),
                         ("errors", "outlier_channels", (2, 3, 4, 5, 6, 7, 8), 64), ("mixed", "outlier_channels", 64)]
    assert [c[1] for c in calls[3:]] == ["massive_tokens"] * 3
    data = out.data
    assert len(data) == 2 * (4 * 7 + 1)
    mixed_rows = data[data["bits"] == 3.8]
    assert set(mixed_rows["variant"]) == {"TAH-Quant 0.8 INT4 + 0.2 INT3"} and len(mixed_rows) == 2
    assert out.ours == ("outlier channels: 4-bit MSE tile + pivot + Hadamard 0.025, tile + Hadamard 0.05, per-tile "
                        "0.075; massive tokens: 4-bit MSE tile + pivot + Hadamard 0.25, tile + Hadamard 0.5, "
                        "per-tile 0.75")
    calls.clear()
    t.draw_fig3(ctx_of(NS(), profile="quick"))
    assert calls[1] == ("errors", "outlier_channels", (2, 3, 4, 6, 8), 64)
