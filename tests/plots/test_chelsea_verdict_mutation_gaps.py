"""Gaps in the tests of chelsea's verdicts found by a mutation audit, closed here on hand-built frames.

Closed: fig2's gap taken at distance 1 against the farthest quarter (distances >= 3/4 of the largest, the edge
included) and its worst layer; fig3's shares of increasing and non-convex steps at their thresholds (at most 20% /
30%) and the worst layer; fig5's outlier threshold (2x the median head, the edge included); tab4's spread (max - min,
the whole-middle chunk left out) at 5 points; tab5's change from no protection to protection (a tie is no gain);
tab1's best baseline (not Full, not Chelsea) and the 0.9 / 50% bounds; fig6's best eviction baseline and the
10-point closeness bound; tab2's +-20% speedup bands and 75% memory bound at 64k; fig7's largest speedup and the
largest prefill overhead; tab3's gain at the longest context, no chunking over chunks of 256; averages taken as
means over tasks (tab1, tab4, tab5), not medians.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from plots.papers import chelsea


def holding(verdict) -> list[bool]:
    return [check.holds for check in verdict.checks]


# ------------------------------------------------------------------------------------------------------- fig2
def _keys(profiles: dict[int, dict[int, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"layer": layer, "distance": d, "cosine": c}
                         for layer, profile in profiles.items() for d, c in profile.items()])


def _profile(near: float, mid: float, at6: float, far: float) -> dict[int, float]:
    """Distances 1-8: the farthest quarter is 6, 7, 8 (>= 0.75 x 8)."""
    return {1: near, 2: mid, 3: mid, 4: mid, 5: mid, 6: at6, 7: far, 8: far}


def test_fig2_gap_at_distance_one_against_the_farthest_quarter():
    # gap 0.5 - 0.4375 = 0.0625 >= 0.05 in both layers
    good = _keys({0: _profile(0.5, 0.0, 0.4375, 0.4375), 1: _profile(0.75, 0.0, 0.625, 0.625)})
    assert chelsea.verdict_fig2(good).status == "reproduced"
    # distance 6 belongs to the farthest quarter: with it the far mean is (0.5 + 2 x 0.4375) / 3, gap 0.0417 < 0.05
    edge = _keys({0: _profile(0.5, 0.0, 0.5, 0.4375)})
    assert chelsea.verdict_fig2(edge).status == "not_reproduced"
    # the middle distances (2-5) are neither near nor far: a low middle does not help
    middle = _keys({0: _profile(0.5, -1.0, 0.47, 0.47)})
    assert chelsea.verdict_fig2(middle).status == "not_reproduced"
    # the near value is distance 1's, not the other distances'
    near = _keys({0: {1: 0.4, 2: 0.9, 3: 0.9, 4: 0.9, 5: 0.9, 6: 0.375, 7: 0.375, 8: 0.375}})
    assert chelsea.verdict_fig2(near).status == "not_reproduced"  # gap 0.025


def test_fig2_the_worst_layer_decides():
    one_flat = _keys({0: _profile(0.5, 0.0, 0.4375, 0.4375), 1: _profile(0.5, 0.0, 0.46875, 0.46875)})
    verdict = chelsea.verdict_fig2(one_flat)  # layer 1's gap 0.03125 < 0.05
    assert verdict.status == "not_reproduced"
    assert verdict.checks[0].ours == pytest.approx(0.03125)


# ------------------------------------------------------------------------------------------------------- fig3
def _decay(steps: list[float], layer: int = 0, start: float = 10.0) -> pd.DataFrame:
    y = np.concatenate([[start], start + np.cumsum(steps)])
    return pd.DataFrame({"layer": layer, "distance": np.arange(1, len(y) + 1), "cosine": y})


def convex_steps(n: int = 15) -> list[float]:
    return [-(2.0 ** -k) for k in range(n)]  # falling, each step half the last: convex, never rising


def test_fig3_monotone_convex_decay_holds_and_only_the_first_16_distances_count():
    data = _decay(convex_steps() + [5.0, 5.0, 5.0, 5.0])  # distances 17-20 rise: not judged
    assert chelsea.verdict_fig3(data).status == "reproduced"


@pytest.mark.parametrize("rises, up_holds", [(3, True), (4, False)])  # 3 / 15 = 0.2 holds, 4 / 15 does not
def test_fig3_share_of_increasing_steps_at_the_20_percent_bound(rises, up_holds):
    # 15 steps over distances 1-16: ``rises`` tiny rises (convexity kept: the second differences stay small)
    steps = [1e-4] * rises + [-1e-4] * (15 - rises)
    verdict = chelsea.verdict_fig3(_decay(steps))
    assert holding(verdict) == [up_holds, True]


@pytest.mark.parametrize("kinks, convex_holds", [(4, True), (5, False)])  # of 14 second differences: 4/14 ok, 5 not
def test_fig3_share_of_non_convex_steps_at_the_30_percent_bound(kinks, convex_holds):
    # falling steps; a second difference of -0.01 (< -0.001) wherever the fall steepens
    steps, size = [], 1.0
    for i in range(15):
        steps.append(-size)
        size += 0.01 if 0 < i <= kinks else 0.0
    verdict = chelsea.verdict_fig3(_decay(steps, start=100.0))
    assert holding(verdict) == [True, convex_holds]


def test_fig3_the_worst_layer_decides():
    data = pd.concat([_decay(convex_steps(), 0), _decay([1e-4] * 8 + [-1e-4] * 7, 1)], ignore_index=True)
    assert holding(chelsea.verdict_fig3(data)) == [False, True]


# ------------------------------------------------------------------------------------------------------- fig5
@pytest.mark.parametrize("outlier, status", [(2.0, "reproduced"), (1.9, "not_reproduced")])
def test_fig5_an_outlier_head_is_twice_the_median(outlier, status):
    errors = [1.0, 1.0, 1.0, outlier]  # median 1
    data = pd.DataFrame({"layer": [0, 0, 1, 1], "kv_head": [0, 1, 0, 1], "relative_error": errors})
    assert chelsea.verdict_fig5(data).status == status


# ------------------------------------------------------------------------------------------------------- tab4
def _ablation(column: str, means: dict[float, float]) -> pd.DataFrame:
    return pd.DataFrame([{column: key, "context_tokens": 96, "task": task, "accuracy": value, "samples": 8}
                         for key, value in means.items() for task in ("recall", "copy")])


@pytest.mark.parametrize("low, status", [(0.45, "reproduced"), (0.4375, "not_reproduced")])
def test_tab4_spread_over_chunk_sizes_at_5_points(low, status):
    # chunk sizes 16 / 64 / 256 spread 0.5 - low (5 points at 0.45, 6.25 at 0.4375); the whole middle is left out
    data = _ablation("chunk_size", {16: 0.5, 64: low, 256: 0.48, 1024: 0.0})
    assert chelsea.verdict_tab4(data).status == status


def test_tab4_leaves_out_exactly_the_chunks_shown_as_whole_middle():
    """Contexts of 96 tokens: 128 and 1024 both span the whole middle; without a whole-middle chunk, every size
    counts."""
    data = _ablation("chunk_size", {16: 0.5, 64: 0.48, 128: 0.0, 1024: 0.0})
    assert chelsea.verdict_tab4(data).checks[0].ours == pytest.approx(2.0)
    chunked_only = _ablation("chunk_size", {16: 0.5, 32: 0.48, 64: 0.3})
    assert chelsea.verdict_tab4(chunked_only).checks[0].ours == pytest.approx(20.0)


def test_tab4_spread_is_max_minus_min():
    data = _ablation("chunk_size", {16: 0.25, 64: 0.75, 256: 0.5, 1024: 0.5})
    verdict = chelsea.verdict_tab4(data)
    assert verdict.status == "not_reproduced"
    assert verdict.checks[0].ours == pytest.approx(50.0)


# ------------------------------------------------------------------------------------------------------- tab5
@pytest.mark.parametrize("protected, status", [(0.5, "reproduced"), (0.25, "not_reproduced")])
def test_tab5_protection_must_raise_the_average(protected, status):
    data = _ablation("outlier_fraction", {0.0: 0.25, 0.25: protected})
    assert chelsea.verdict_tab5(data).status == status


def test_tab5_compares_the_largest_fraction_with_none():
    data = _ablation("outlier_fraction", {0.0: 0.25, 0.125: 0.0, 0.25: 0.5})
    assert chelsea.verdict_tab5(data).checks[0].ours == pytest.approx(25.0)


# ------------------------------------------------------------------------------------------------------- tab1
def _tab1(avg: dict[str, float]) -> pd.DataFrame:
    rows = []
    for method, acc in avg.items():
        budget = 1.0 if method == "full" else 0.2
        for seed in range(2):
            rows.append({"model_seed": seed, "method": method, "budget": budget, "context_tokens": 96,
                         "task": "recall", "accuracy": acc, "samples": 8, "cache_tokens": 20})
        if method != "full":  # another budget, not the 20% the table judges
            rows.append({"model_seed": 0, "method": method, "budget": 0.5, "context_tokens": 96, "task": "recall",
                         "accuracy": 1.0 - acc, "samples": 8, "cache_tokens": 48})
    return pd.DataFrame(rows)


def test_tab1_chelsea_must_beat_the_best_baseline_not_the_worst():
    data = _tab1({"full": 0.625, "snapkv": 0.25, "h2o": 0.6, "chelsea": 0.5625})
    verdict = chelsea.verdict_tab1(data)
    assert holding(verdict) == [True, False, True]  # 0.5625 / 0.625 = 0.9; below H2O; Full solves 62.5%


@pytest.mark.parametrize("ours, ratio_holds", [(0.5625, True), (0.5, False)])
def test_tab1_close_to_full_is_90_percent_of_full(ours, ratio_holds):
    data = _tab1({"full": 0.625, "snapkv": 0.25, "chelsea": ours})
    assert holding(chelsea.verdict_tab1(data)) == [ratio_holds, True, True]


@pytest.mark.parametrize("full, solves", [(0.5, True), (0.4375, False)])
def test_tab1_full_must_solve_half_the_suite(full, solves):
    data = _tab1({"full": full, "snapkv": 0.125, "chelsea": full})
    assert holding(chelsea.verdict_tab1(data)) == [True, True, solves]


def test_tab1_a_tie_with_the_best_baseline_is_no_win():
    data = _tab1({"full": 0.625, "snapkv": 0.625, "chelsea": 0.625})
    assert holding(chelsea.verdict_tab1(data)) == [True, False, True]


# ------------------------------------------------------------------------------------------------------- fig6
def _needle(means: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame([{"method": method, "budget": 0.2, "context_tokens": 64, "depth": depth, "accuracy": acc,
                          "samples": 4} for method, acc in means.items() for depth in (0.0, 0.5)])


@pytest.mark.parametrize("ours, close", [(0.9375, True), (0.875, False)])  # Full 1.0: -0.125 is past -0.1
def test_fig6_close_to_full_within_ten_points(ours, close):
    data = _needle({"full": 1.0, "snapkv": 0.25, "h2o": 0.5, "chelsea": ours})
    assert holding(chelsea.verdict_fig6(data)) == [close, True]


def test_fig6_chelsea_must_beat_the_best_eviction_baseline():
    data = _needle({"full": 1.0, "streaming_llm": 0.25, "snapkv": 1.0, "h2o": 0.5, "chelsea": 0.9375})
    assert holding(chelsea.verdict_fig6(data)) == [True, False]
    tie = _needle({"full": 1.0, "snapkv": 0.9375, "chelsea": 0.9375})
    assert holding(chelsea.verdict_fig6(tie)) == [True, False]


# ------------------------------------------------------------------------------------------------------- tab2
def _decode(speedups: dict[int, float], reduction: float = 0.8) -> pd.DataFrame:
    """``reduction`` at 64k; shorter contexts reduce less (only 64k is judged)."""
    rows = []
    for context, speedup in speedups.items():
        rows.append({"method": "full", "context_tokens": context, "decode_speedup": 1.0, "memory_reduction": 0.0})
        rows.append({"method": "chelsea", "context_tokens": context, "decode_speedup": speedup,
                     "memory_reduction": reduction if context == 65536 else 0.5})
    return pd.DataFrame(rows)


def test_tab2_speedups_within_20_percent_and_memory_reduction():
    paper = dict(chelsea.PAPER_SPEEDUP)
    assert chelsea.verdict_tab2(_decode(paper)).status == "reproduced"
    at_edges = {16384: 0.8 * paper[16384], 32768: 1.2 * paper[32768], 65536: paper[65536]}
    assert holding(chelsea.verdict_tab2(_decode(at_edges, reduction=0.75))) == [True, True, True, True]
    outside = {16384: 0.79 * paper[16384], 32768: 1.21 * paper[32768], 65536: paper[65536]}
    assert holding(chelsea.verdict_tab2(_decode(outside, reduction=0.74))) == [False, False, True, False]


# ------------------------------------------------------------------------------------------------------- fig7
def _latency(speedups: list[float], overheads: list[float]) -> pd.DataFrame:
    rows = []
    for context, speedup, overhead in zip((4096, 16384, 65536), speedups, overheads, strict=True):
        rows.append({"method": "full", "context_tokens": context, "prefill_ms": 100.0, "prefill_compress_ms": 0.0,
                     "end_to_end_speedup": 1.0})
        rows.append({"method": "chelsea", "context_tokens": context, "prefill_ms": 100.0,
                     "prefill_compress_ms": 100.0 * overhead, "end_to_end_speedup": speedup})
    return pd.DataFrame(rows)


def test_fig7_largest_speedup_and_largest_overhead():
    assert chelsea.verdict_fig7(_latency([1.0, 1.5, 2.72], [0.01, 0.05, 0.1])).status == "reproduced"
    # the largest speedup counts, not the first; the largest overhead counts, not the smallest
    assert holding(chelsea.verdict_fig7(_latency([1.0, 1.5, 2.72], [0.01, 0.05, 0.125]))) == [True, False]
    assert holding(chelsea.verdict_fig7(_latency([1.0, 2.0, 3.5], [0.01, 0.01, 0.01]))) == [False, True]
    assert holding(chelsea.verdict_fig7(_latency([1.0, 2.0, 2.1], [0.01, 0.01, 0.01]))) == [False, True]


# ------------------------------------------------------------------------------------------------------- tab3
def _chunk_time(times: dict[tuple[int, int], float]) -> pd.DataFrame:
    return pd.DataFrame([{"chunk_size": c, "context_tokens": n, "prefill_compress_ms": t}
                         for (c, n), t in times.items()])


@pytest.mark.parametrize("unchunked, status", [(2.0, "reproduced"), (1.875, "not_reproduced")])
def test_tab3_gain_at_the_longest_context_no_chunking_over_256(unchunked, status):
    times = {(16, 4096): 1.0, (256, 4096): 1.0, (65536, 4096): 50.0,  # the shorter context is not judged
             (16, 65536): 0.25, (256, 65536): 1.0, (65536, 65536): unchunked}
    assert chelsea.verdict_tab3(_chunk_time(times)).status == status


def test_ablation_averages_are_means_over_tasks_not_medians():
    rows = [{"outlier_fraction": 0.0, "task": t, "accuracy": a} for t, a in (("a", 0.0), ("b", 0.0), ("c", 0.75))]
    rows += [{"outlier_fraction": 0.25, "task": t, "accuracy": 0.125} for t in ("a", "b", "c")]
    data = pd.DataFrame(rows).assign(context_tokens=96, samples=8)
    verdict = chelsea.verdict_tab5(data)  # without: mean 0.25 (median 0); with: 0.125
    assert verdict.status == "not_reproduced"
    assert verdict.checks[0].ours == pytest.approx(-12.5)


def test_fig6_a_small_lead_over_the_best_evictor_is_a_win():
    data = _needle({"full": 1.0, "snapkv": 0.875, "chelsea": 0.9375})  # 6.25 points ahead
    assert chelsea.verdict_fig6(data).status == "reproduced"


def test_tab1_averages_are_means_over_tasks_and_seeds():
    rows = []
    for method, budget, accs in (("full", 1.0, (0.75, 0.75, 0.75)), ("snapkv", 0.2, (0.5, 0.5, 0.5)),
                                 ("chelsea", 0.2, (0.0, 0.75, 0.75))):  # median 0.75, mean 0.5
        rows += [{"model_seed": 0, "method": method, "budget": budget, "context_tokens": 96, "task": task,
                  "accuracy": acc, "samples": 8, "cache_tokens": 20} for task, acc in zip("abc", accs)]
    verdict = chelsea.verdict_tab1(pd.DataFrame(rows))
    assert holding(verdict) == [False, False, True]  # 0.5 / 0.75 < 0.9; a tie with SnapKV


def test_fig3_a_flat_step_is_not_an_increase():
    steps = [0.0] * 4 + [-1e-4] * 11  # four flat steps of 15: no rise, no kink below -0.001
    assert chelsea.verdict_fig3(_decay(steps)).status == "reproduced"


def test_fig6_scores_are_means_over_depths_and_contexts():
    rows = [{"method": m, "budget": 0.2, "context_tokens": 64, "depth": d, "accuracy": a, "samples": 4}
            for m, accs in (("full", (1.0, 1.0, 1.0)), ("snapkv", (0.5, 0.5, 0.5)), ("chelsea", (1.0, 1.0, 0.0)))
            for d, a in zip((0.0, 0.5, 1.0), accs)]
    assert holding(chelsea.verdict_fig6(pd.DataFrame(rows))) == [False, True]  # Chelsea's mean 0.67 (median 1)
