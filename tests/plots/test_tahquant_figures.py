"""TAH-Quant figures: verdicts on synthetic data (each check can fail), the convergence claim at tiny size, the
``pipeline_training`` kind's input checks, and the quick profile end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.pipeline_training import PipelineTrainingScenario, run
from plots.papers import tahquant as t
from tests.plots.test_figure_verdicts import draw_paper_quick

BANDWIDTHS = (0.1, 1.0, 10.0)


def _speed(tah: list[float], aq_ratio: float = 1.0) -> pd.DataFrame:
    """Speed rows: FP32 at 1 seq/s per step second; TAH-Quant at the given speedups; AQ-SGD at tah / aq_ratio."""
    rows = []
    for bw, s in zip(BANDWIDTHS, tah, strict=True):
        for series, speedup, bits, cache in (("FP32", 1.0, 32.0, 0), ("BF16", 1.5, 16.0, 0),
                                             ("TAH-Quant", s, 4.41, 0), ("AQ-SGD 4-bit", s / aq_ratio, 4.02, 6.5e10),
                                             ("direct 4-bit", s, 4.02, 0)):
            rows.append({"series": series, "bandwidth_gbps": bw, "step_time_ms": 1000 / speedup,
                         "throughput_seq_per_s": 32 * speedup, "speedup_vs_fp32": speedup,
                         "speedup_vs_bf16": speedup / 1.5, "fwd_bits_per_element": bits, "bwd_bits_per_element": 6.0,
                         "codec_ms": 1.0, "bubble_fraction": 0.3, "cache_bytes_per_side": cache,
                         "n_micro_batches": 32, "peak_in_flight": 32, "activation_bytes": 6_553_600})
    return pd.DataFrame(rows)


def test_fig5_verdict_follows_the_largest_speedup_and_its_trend():
    assert t.verdict_fig5(_speed([4.5, 2.0, 1.1])).status == "reproduced"
    assert t.verdict_fig5(_speed([6.2, 2.7, 1.04])).status == "partly"
    verdict = t.verdict_fig5(_speed([1.0, 1.2, 1.3]))  # gains that grow with bandwidth: neither check holds
    assert verdict.status == "not_reproduced" and not verdict.contradictions()


def test_tab2_verdict_needs_the_advantage_over_aqsgd_too():
    assert t.verdict_tab2(_speed([4.3, 2.0, 1.05], aq_ratio=1.3)).status == "reproduced"
    verdict = t.verdict_tab2(_speed([4.3, 2.0, 1.05], aq_ratio=1.0))
    assert verdict.status == "partly" and [c.holds for c in verdict.checks] == [True, True, False]
    assert t.verdict_tab2(_speed([4.3, 2.0, 0.9], aq_ratio=1.3)).status == "partly"  # slower than FP32 somewhere


def test_tab3_verdict_on_cache_accounting():
    data = pd.DataFrame([
        {"series": "direct 4-bit", "extra_bytes_per_boundary": 0.0, "fwd_bits_per_element": 4.02,
         "in_flight_activation_bytes": 2.1e8},
        {"series": "AQ-SGD 4-bit", "extra_bytes_per_boundary": 1.31e11, "fwd_bits_per_element": 4.02,
         "in_flight_activation_bytes": 2.1e8},
        {"series": "TAH-Quant", "extra_bytes_per_boundary": 0.0, "fwd_bits_per_element": 4.41,
         "in_flight_activation_bytes": 2.1e8},
    ])
    assert t.verdict_tab3(data).status == "reproduced"
    data.loc[1, "extra_bytes_per_boundary"] = 1e9  # a cache smaller than 10x the activations in flight
    data.loc[2, "extra_bytes_per_boundary"] = 5.0
    assert t.verdict_tab3(data).status == "not_reproduced"


def test_method_labels_map_to_series():
    assert t.method_of("tahquant(allocation=token,bits=4)/fixpoint(bits=6)") == "TAH-Quant"
    assert t.method_of("aqsgd(bits=4,cache_dtype=float16)/fixpoint(bits=6)") == "AQ-SGD 4-bit"
    assert t.method_of("fixpoint(bits=4)/fixpoint(bits=6)") == "direct 4-bit"


def _finals(eval_losses: dict[str, list[float]]) -> pd.DataFrame:
    rows = []
    for series, values in eval_losses.items():
        for seed, v in enumerate(values):
            rows.append({"series": series, "seed": seed, "eval_loss": v, "perplexity": math.exp(v),
                         "train_loss": v - 0.05, "fwd_bits_per_element": 4.8, "bwd_bits_per_element": 6.0,
                         "fwd_rel_error": 0.1, "cache_bytes": 0.0})
    return pd.DataFrame(rows)


def _curves(eval_losses: dict[str, list[float]], steps: int = 20) -> pd.DataFrame:
    """Training rows whose last held-out loss per (series, seed) is the given value."""
    rows = []
    for series, values in eval_losses.items():
        for seed, final in enumerate(values):
            for step in range(steps):
                loss = final + (steps - 1 - step) / steps
                rows.append({"series": series, "seed": seed, "step": step, "epoch": step // 10, "loss": loss,
                             "loss_smooth": loss, "eval_loss": loss if step % 5 == 4 else np.nan,
                             "fwd_bits_per_element": 4.8, "bwd_bits_per_element": 6.0, "fwd_rel_error": 0.1,
                             "bwd_rel_error": 0.05, "cache_bytes": 0})
    return pd.DataFrame(rows)


def test_convergence_verdicts_use_the_fp32_seed_spread():
    fp32 = [1.20, 1.22, 1.24]  # std 0.02: tolerance 0.04 around 1.22
    near = {"FP32": fp32, "TAH-Quant": [1.21, 1.23, 1.25], "AQ-SGD 4-bit": [1.22, 1.23, 1.21]}
    assert t.verdict_fig4(_curves(near)).status == "reproduced"
    assert t.verdict_tab1(_finals(near)).status == "reproduced"
    far = {**near, "TAH-Quant": [1.30, 1.31, 1.29]}
    assert t.verdict_fig4(_curves(far)).status == "not_reproduced"
    assert t.verdict_tab1(_finals(far)).status == "not_reproduced"
    off_aq = {**near, "AQ-SGD 4-bit": [1.10, 1.11, 1.12]}  # AQ-SGD better than FP32 by more than the tolerance
    assert t.verdict_tab1(_finals(off_aq)).status == "partly"
    better = {**near, "TAH-Quant": [1.10, 1.11, 1.12]}  # lower loss than FP32 is no loss of convergence
    assert t.verdict_fig4(_curves(better)).status == "reproduced"
    two = {"FP32": fp32[:2], "TAH-Quant": [1.2, 1.2]}
    assert t.verdict_fig4(_curves(two)).status == "not_checkable"


def test_fig3_verdict_needs_each_ingredient_to_help():
    rows = []
    for dataset in ("outlier_channels", "massive_tokens"):
        for bits in (3, 4):
            for variant, mse in (("per-tile", 0.6), ("tile + Hadamard", 0.2), ("tile + pivot + Hadamard", 0.1),
                                 ("per-channel fixpoint", 0.3)):
                rows.append({"dataset": dataset, "variant": variant, "bits": bits, "mse": mse / bits,
                             "flagged_share": 0.2})
        rows.append({"dataset": dataset, "variant": "TAH-Quant 0.8 INT4 + 0.2 INT3", "bits": 3.8, "mse": 0.05,
                     "flagged_share": np.nan})
    data = pd.DataFrame(rows)
    assert t.verdict_fig3(data).status == "reproduced"
    data.loc[(data["variant"] == "tile + Hadamard") & (data["bits"] == 4), "mse"] = 1.0
    assert t.verdict_fig3(data).status == "partly"


def test_diagrams_are_not_checkable():
    assert t.verdict_fig1(None).status == "not_checkable" and t.verdict_fig2(None).status == "not_checkable"


def test_training_series_names():
    assert t.train_series({"name": "none"}) == "FP32"
    assert t.train_series({"name": "fixpoint", "params": {"bits": 3}}) == "direct 3-bit"
    assert t.train_series({"name": "aqsgd", "params": {"bits": 4}}) == "AQ-SGD 4-bit"
    assert t.train_series({"name": "tahquant", "params": {"bits": 4, "bits_low": 3}}) == "TAH-Quant"


TINY = dict(model=dict(d_model=32, n_layers=2, n_heads=4, d_ff=64), n_stages=2, seq_len=16, batch_size=8,
            n_train=128, eval_windows=32, steps=60, eval_every=20)
TAH_TINY = ({"name": "tahquant", "params": {"bits": 4, "bits_low": 3, "tile_size": 16}},
            {"name": "fixpoint", "params": {"bits": 6}})


def _tiny(seed: int, forward: dict, backward: dict, **workload) -> PipelineTrainingScenario:
    return PipelineTrainingScenario.model_validate(
        dict(name="tiny", seed=seed, workload={**TINY, "forward": forward, "backward": backward, **workload}))


def test_tiny_model_with_tahquant_converges_within_the_fp32_seed_tolerance():
    """The must-show at tiny size: 3 seeds each, TAH-Quant's final held-out and training losses at most the FP32
    mean plus 2 std of the FP32 seeds (the fig4 verdict's checks)."""
    frames = []
    for forward, backward in (({"name": "none"}, {"name": "none"}), TAH_TINY):
        for seed in range(3):
            m = run(_tiny(seed, forward, backward), RunContext(seed_seq=np.random.SeedSequence(seed))).metrics
            frames.append(m.assign(series=t.train_series(forward), seed=seed, loss_smooth=m["loss"]))
    data = pd.concat(frames, ignore_index=True)
    tah = data[data["series"] == "TAH-Quant"]
    assert (tah["fwd_rel_error"] > 0).all() and (tah["fwd_bits_per_element"] < 6).all()
    verdict = t.verdict_fig4(data)
    assert [c.holds for c in verdict.checks] == [True, True], verdict.explanation


def test_pipeline_training_is_deterministic_and_counts_aqsgd_warmup():
    aq = ({"name": "aqsgd", "params": {"bits": 4}}, {"name": "fixpoint", "params": {"bits": 6}})
    kw = dict(steps=20, n_train=16, batch_size=8, eval_every=10)
    a = run(_tiny(0, *aq, **kw), RunContext(seed_seq=np.random.SeedSequence(0))).metrics
    b = run(_tiny(0, *aq, **kw), RunContext(seed_seq=np.random.SeedSequence(0))).metrics
    pd.testing.assert_frame_equal(a, b)
    first, later = a[a["epoch"] == 0], a[a["epoch"] > 0]
    assert (first["fwd_bits_per_element"] == 32).all() and (later["fwd_bits_per_element"] < 5).all()
    assert a["cache_bytes"].iloc[-1] == 2 * 16 * 16 * 32 * 2  # both sides, 16 samples of 16 x 32 in float16


@pytest.mark.parametrize("workload, message", [
    (dict(n_stages=3), "n_stages"),
    (dict(n_micro_batches=3), "n_micro_batches"),
    (dict(forward={"name": "tahquant", "params": {"tile_size": 64}}), "forward.params.tile_size"),
    (dict(backward={"name": "aqsgd"}), "backward.name"),
    (dict(forward={"name": "fixpoint", "params": {"bits": 99}}), "bits"),
])
def test_bad_pipeline_training_input_names_the_key(workload, message):
    codecs = {"forward": {"name": "none"}, "backward": {"name": "none"}, **workload}
    with pytest.raises(ValidationError, match=message):
        _tiny(0, codecs.pop("forward"), codecs.pop("backward"), **codecs)


@pytest.mark.slow
def test_quick_profile_draws_every_item_with_a_verdict_from_its_csv(tmp_path):
    out = draw_paper_quick("tahquant", tmp_path)  # every figure's recorded verdict is the one its CSV gives
    speed = pd.read_csv(out / "tahquant" / "tahquant.fig5.csv")
    fp32 = speed[speed["series"] == "FP32"]
    assert (fp32["speedup_vs_fp32"] == 1.0).all() and set(fp32["bandwidth_gbps"]) == set(BANDWIDTHS)
    tah = speed[speed["series"] == "TAH-Quant"]
    assert (tah["fwd_bits_per_element"] - 8 * 903_328 / (1024 * 1600)).abs().max() < 1e-9
    train = pd.read_csv(out / "tahquant" / "tahquant.fig4.csv")
    assert set(train["series"]) == set(t.TRAIN_SERIES) and train.groupby("series")["seed"].nunique().min() == 3
    codec = pd.read_csv(out / "tahquant" / "tahquant.fig3.csv")
    assert set(codec["dataset"]) == {"outlier_channels", "massive_tokens"}
