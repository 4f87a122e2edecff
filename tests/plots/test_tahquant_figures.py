"""TAH-Quant figures: verdicts on synthetic data (each check can fail), and the quick profile end to end."""

from __future__ import annotations

import pandas as pd
import pytest

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


@pytest.mark.slow
def test_quick_profile_draws_every_item_with_a_verdict_from_its_csv(tmp_path):
    out = draw_paper_quick("tahquant", tmp_path)  # every figure's recorded verdict is the one its CSV gives
    speed = pd.read_csv(out / "tahquant" / "tahquant.fig5.csv")
    fp32 = speed[speed["series"] == "FP32"]
    assert (fp32["speedup_vs_fp32"] == 1.0).all() and set(fp32["bandwidth_gbps"]) == set(BANDWIDTHS)
    tah = speed[speed["series"] == "TAH-Quant"]
    assert (tah["fwd_bits_per_element"] - 8 * 903_328 / (1024 * 1600)).abs().max() < 1e-9
