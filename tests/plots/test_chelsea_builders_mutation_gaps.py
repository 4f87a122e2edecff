"""Gaps in the tests of `plots.papers.chelsea` found by a mutation audit (the draw functions' data, not verdicts).

Closed here on hand-built metrics (`ctx_of` hands a draw function one frame per scenario):
- `_layout` (fig1 / fig4): sink, A/B, merge-edge and recent positions, and fig4 without sinks and recent window;
- fig2 / fig3 / fig5 texts: the cosine at distance 1, the decay shares (sorted by distance, first 16 distances,
  increasing and non-convex in their places), the most sensitive head over the median head;
- tab1: cells as mean +- population std over seeds of per-seed task means (means over contexts), the average per
  seed over tasks, the 20% budget, the method order, and the text's seed-pooled averages in percent;
- fig6's order and mean retrieval per method; `chunk_label`'s edge; tab4 / tab5 tables and texts (the longest
  context, rounding, percent labels, order);
- tab2's columns (k = 1024 tokens), GB = 1e9 bytes, the 64k device total and each context's own speedup, and the
  Chelsea speedups in the text; fig7's largest speedup; tab3's pivot (chunk rows, context columns, 2 decimals),
  "whole middle" against the longest context and the text's gain (no chunking over chunks of 256, longest
  context).
"""

from __future__ import annotations

from types import SimpleNamespace as NS

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from plots.papers import chelsea


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def ctx_of(frames: dict[str, pd.DataFrame]) -> NS:
    return NS(run=lambda path: NS(metrics=frames[path]), profile="quick")


# ------------------------------------------------------------------------------------------------ diagrams
def test_fig1_layout_positions_roles_and_merge_edges():
    data = chelsea.draw_fig1(ctx_of({})).data
    # 2 sinks (0-1), two chunks of 8 (2-17, A at even offsets), 3 recent (18-20); A at offsets 0 and 4 is merged
    assert list(data["position"]) == list(range(21))
    assert list(data["role"]) == ["sink"] * 2 + ["A", "B"] * 8 + ["recent"] * 3
    edges = data[data["merged_into"] >= 0]
    assert list(zip(edges["position"], edges["merged_into"])) == [(2, 3), (6, 7), (10, 11), (14, 15)]


def test_fig4_layout_has_no_sinks_and_no_recent_window():
    data = chelsea.draw_fig4(ctx_of({})).data
    assert list(data["position"]) == list(range(16)) and set(data["role"]) == {"A", "B"}
    edges = data[data["merged_into"] >= 0]
    assert list(zip(edges["position"], edges["merged_into"])) == [(0, 1), (4, 5), (8, 9), (12, 13)]


# ------------------------------------------------------------------------------------------------ keys and heads
def _steps_to_profile(layer: int, steps: list[float]) -> list[dict]:
    y = np.concatenate([[1.0], 1.0 + np.cumsum(steps)])
    return [{"layer": layer, "distance": d + 1, "cosine": float(c)} for d, c in enumerate(y)]


def _keys() -> pd.DataFrame:
    # distances 1-17. Layer 0: 12 falls of 0.05, then rises of 0.01 (3 in the first 16 distances: 3 / 15 = 20%
    # increasing, no non-convex step). Layer 1: falls of 0.01, 0.02, 0.03 (5 each in the first 16 distances): two
    # second differences of -0.01 in 14 = 14% non-convex, none increasing.
    rows = _steps_to_profile(0, [-0.05] * 12 + [0.01] * 4) + _steps_to_profile(1, [-0.01] * 5 + [-0.02] * 5
                                                                                + [-0.03] * 6)
    return pd.DataFrame(rows).iloc[::-1].set_axis(range(100, 134))  # distance order reversed, an odd index


def test_fig3_text_shares_over_sorted_first_sixteen_distances():
    output = chelsea.draw_fig3(ctx_of({chelsea.KEYS: _keys()}))
    assert output.ours == "increasing steps 20%, non-convex steps 14% (worst layer, distances 1-16)"


def test_fig2_text_is_the_mean_cosine_at_distance_one():
    keys = _keys()
    keys.loc[keys["distance"] == 1, "cosine"] = [0.8, 0.6]
    output = chelsea.draw_fig2(ctx_of({chelsea.KEYS: keys}))
    assert output.ours == "mean cosine at distance 1: 0.70"
    assert list(output.data.index) == list(range(34))


def test_fig5_text_is_the_largest_head_over_the_median_head():
    heads = pd.DataFrame({"layer": [0, 0, 1, 1], "kv_head": [0, 1, 0, 1], "relative_error": [0.1, 0.2, 0.3, 1.0]})
    # median 0.25 (mean 0.4): 1.0 / 0.25 = 4
    assert chelsea.draw_fig5(ctx_of({chelsea.HEADS: heads})).ours == "most sensitive head / median: 4.0x"
    # a median of 0 is floored at 1e-12: 2e-9 / 1e-12 = 2000
    heads["relative_error"] = [0.0, 0.0, 0.0, 2e-9]
    assert chelsea.draw_fig5(ctx_of({chelsea.HEADS: heads})).ours == "most sensitive head / median: 2000.0x"


# ------------------------------------------------------------------------------------------------ quality
def _quality() -> pd.DataFrame:
    chelsea_acc = {(0, "copy"): (0.5, 0.7), (0, "recall"): (0.2, 0.4), (1, "copy"): (0.8, 1.0),
                   (1, "recall"): (0.1, 0.1)}
    rows = []
    for seed in (0, 1):
        for task in ("copy", "recall"):
            for i, context in enumerate((96, 192)):
                for method, budget, acc in (("chelsea", 0.2, chelsea_acc[seed, task][i]), ("snapkv", 0.2, 0.3),
                                            ("full", 1.0, 0.9), ("chelsea", 0.5, 0.0), ("snapkv", 0.5, 0.95)):
                    rows.append({"model_seed": seed, "method": method, "budget": budget, "context_tokens": context,
                                 "task": task, "accuracy": acc, "samples": 8, "cache_tokens": 20})
    return pd.DataFrame(rows)


def test_tab1_cells_are_seed_mean_and_population_std_of_context_means():
    output = chelsea.draw_tab1(ctx_of({chelsea.QUALITY: _quality()}))
    table = output.table.set_index("method")
    assert list(table.index) == ["Full", "SnapKV", "Chelsea"]
    # Chelsea, per seed (means over contexts): copy 0.6 / 0.9, recall 0.3 / 0.1; seed averages 0.45 / 0.5
    assert table.loc["Chelsea", "copy"] == "75.0 ± 15.0"
    assert table.loc["Chelsea", "recall"] == "20.0 ± 10.0"
    assert table.loc["Chelsea", "average"] == "47.5 ± 2.5"
    assert table.loc["SnapKV", "average"] == "30.0 ± 0.0" and table.loc["Full", "copy"] == "90.0 ± 0.0"


def test_tab1_text_is_the_pooled_mean_at_twenty_percent():
    # Chelsea's eight cells: 0.5, 0.7, 0.2, 0.4, 0.8, 1.0, 0.1, 0.1 -> mean 0.475 (median 0.45)
    ours = chelsea.draw_tab1(ctx_of({chelsea.QUALITY: _quality()})).ours
    assert ours == "average accuracy: Full 90.0%, SnapKV 30.0%, Chelsea 47.5%"


def test_fig6_text_in_method_order_with_mean_retrieval():
    rows = []
    for method, accs in (("snapkv", (0.0, 0.0, 0.0, 1.0)), ("full", (1.0, 1.0, 1.0, 1.0)),
                         ("chelsea", (1.0, 1.0, 0.5, 0.5))):
        for (context, depth), acc in zip([(64, 0.1), (64, 0.9), (192, 0.1), (192, 0.9)], accs, strict=True):
            rows.append({"method": method, "budget": 0.2, "context_tokens": context, "depth": depth, "accuracy": acc,
                         "samples": 4})
    output = chelsea.draw_fig6(ctx_of({chelsea.NEEDLE: pd.DataFrame(rows)}))
    assert output.ours == "needles retrieved: Full 100%, SnapKV 25%, Chelsea 75%"


# ------------------------------------------------------------------------------------------------ ablations
def test_chunk_label_whole_middle_from_the_longest_context_on():
    assert chelsea.chunk_label(192, 192) == "whole middle"
    assert chelsea.chunk_label(191, 192) == "191"


def test_tab4_labels_against_the_longest_context_and_rounds_to_one_decimal():
    rows = [(4, 96, 0.5), (4, 192, 0.6), (128, 96, 0.1234), (128, 192, 0.2), (192, 96, 0.7), (192, 192, 0.7)]
    data = pd.DataFrame([{"chunk_size": c, "context_tokens": n, "task": "copy", "accuracy": a, "samples": 8}
                         for c, n, a in rows])
    output = chelsea.draw_tab4(ctx_of({chelsea.CHUNK: data}))
    assert list(output.table["chunk size"]) == ["4", "128", "whole middle"]  # 128 < 192, the longest context
    assert list(output.table["average (%)"]) == [55.0, 16.2, 70.0]
    assert output.ours == "average accuracy at chunk size 4 / 128 / whole middle: 55.0 / 16.2 / 70.0%"


def test_tab5_table_and_text_in_percent_from_no_protection_to_protection():
    data = pd.DataFrame({"outlier_fraction": [0.0, 0.0, 0.25, 0.25], "context_tokens": 96, "task": "copy",
                         "accuracy": [0.3, 0.5, 0.5, 0.5], "samples": 8})
    output = chelsea.draw_tab5(ctx_of({chelsea.OUTLIERS: data}))
    assert list(output.table["outlier heads"]) == ["0%", "25%"]
    assert list(output.table["average (%)"]) == [40.0, 50.0]
    assert output.ours == "average accuracy, 0% → 25% of KV heads kept whole: 40.0% → 50.0%"


# ------------------------------------------------------------------------------------------------ efficiency
def _decode() -> pd.DataFrame:
    rows = []
    for method in ("full", "chelsea"):
        for context, speedup, e2e in ((16384, 1.25, 1.5), (32768, 2.0, 2.9), (65536, 3.2, 2.5)):
            ours = method == "chelsea"
            rows.append({"method": method, "context_tokens": context, "tpot_ms": 10.0 / speedup if ours else 10.0,
                         "weights_ms": 5.0, "attention_ms": 1.0, "merge_ms": 0.1, "kv_bytes": 8e9 if ours else 4e10,
                         "peak_gib": context / 8192 + (16.0 if ours else 20.0),
                         "decode_speedup": speedup if ours else 1.0, "memory_reduction": 0.8 if ours else 0.0,
                         "prefill_ms": 1000.0, "prefill_compress_ms": 10.0, "end_to_end_ms": 5000.0 / e2e,
                         "end_to_end_speedup": e2e if ours else 1.0})
    return pd.DataFrame(rows)


def test_tab2_table_columns_units_and_the_64k_device_total():
    output = chelsea.draw_tab2(ctx_of({chelsea.DECODE: _decode()}))
    table = output.table.set_index("method")
    assert list(table.columns) == ["TPOT 16k (ms)", "TPOT 32k (ms)", "TPOT 64k (ms)", "KV at 64k (GB)",
                                   "device at 64k (GiB)"]
    assert list(table.loc["Chelsea"]) == ["8.00 (1.25x)", "5.00 (2.00x)", "3.12 (3.20x)", "8.00", "24.0"]
    assert list(table.loc["Full"]) == ["10.00 (1.00x)", "10.00 (1.00x)", "10.00 (1.00x)", "40.00", "28.0"]
    assert output.ours == "decode speedup: 16k 1.25x, 32k 2.00x, 64k 3.20x"


def test_fig7_text_is_the_largest_chelsea_speedup():
    assert chelsea.draw_fig7(ctx_of({chelsea.DECODE: _decode()})).ours == "end-to-end up to 2.90x"
    # a Chelsea slower than Full everywhere: its own best (0.8x), not Full's 1.0x
    slower = _decode()
    slower.loc[slower["method"] == "chelsea", "end_to_end_speedup"] = [0.5, 0.8, 0.7]
    assert chelsea.draw_fig7(ctx_of({chelsea.DECODE: slower})).ours == "end-to-end up to 0.80x"


def test_tab3_pivot_labels_and_gain_at_the_longest_context():
    cells = {(16, 16384): 0.5, (256, 16384): 1.0, (32768, 16384): 2.0, (65536, 16384): 3.14159,
             (16, 65536): 2.0, (256, 65536): 4.0, (32768, 65536): 20.0, (65536, 65536): 40.0}
    metrics = pd.DataFrame([{"workload.chunk_size": c, "context_tokens": n, "prefill_compress_ms": v}
                            for (c, n), v in cells.items()])
    output = chelsea.draw_tab3(ctx_of({chelsea.CHUNK_TIME: metrics}))
    table = output.table
    assert list(table.columns) == ["chunk size", "16k (ms)", "64k (ms)"]
    assert list(table["chunk size"]) == ["16", "256", "32768", "whole middle"]  # 32768 < 65536, the longest
    assert list(table["16k (ms)"]) == [0.5, 1.0, 2.0, 3.14] and list(table["64k (ms)"]) == [2.0, 4.0, 20.0, 40.0]
    # no chunking (the largest chunk) over chunks of 256 at 64k: 40 / 4
    assert output.ours == "clustering time, no chunking / chunks of 256 at 64k: 10.0x"
    assert list(output.data.columns) == ["chunk_size", "context_tokens", "prefill_compress_ms"]
