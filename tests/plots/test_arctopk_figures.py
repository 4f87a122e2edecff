"""Verdicts of the ARC-Top-K figures (plots/papers/arctopk.py) on synthetic per-seed data: each claim holds, then
fails; a dense fallback recorded in run.json fails the "always compresses" check.

The real outputs of every ARC-Top-K figure are drawn on a tiny profile in tests/harness/compression (their recorded
verdicts recomputed from their CSVs there); the static ones in test_figure_verdicts.py.
"""

from __future__ import annotations

import pandas as pd

from plots.papers import arctopk as arc

FIG2_METHODS = ("dense", "Local Top-K", "Random Block", "ARC-Top-K", "ARC-Top-K (exact)")
SEEDS = (0, 1, 2)


def _runs(cells: dict[tuple, dict[str, float]], keys: tuple[str, ...], steps=range(20), fallbacks: float = 0.0,
          spread: float = 0.0) -> pd.DataFrame:
    """Per-seed run rows: one row per (cell, seed, step); seed s scales every value by 1 + spread * (s - 1)."""
    rows = []
    for cell, values in cells.items():
        for seed in SEEDS:
            for step in steps:
                row = dict(zip(keys, cell))
                method = row["method"]
                row.update(seed=seed, step=step, dense=False, lr=0.01,
                           dense_fallback_calls=fallbacks if method.startswith("ARC") else 0.0,
                           **{k: (v(step) if callable(v) else v) * (1 + spread * (seed - 1))
                              for k, v in values.items()})
                rows.append(row)
    return pd.DataFrame(rows)


def _fig2(final: dict[str, float], arc_bytes: float = 2000.0, fallbacks: float = 0.0) -> pd.DataFrame:
    cells = {}
    for optimizer in arc.FIG2_STALL:
        for method in FIG2_METHODS:
            sent = {"dense": 10000.0, "ARC-Top-K": arc_bytes}.get(method, 10500.0 if "exact" in method else 3000.0)
            cells[(optimizer, method)] = {
                "dist": lambda step, f=final[method]: f * (1 + 10 * max(0, 15 - step)),  # settled over the last 5
                "ring_sent_bytes_per_worker": sent}
    return _runs(cells, ("optimizer", "method"), fallbacks=fallbacks)


PAPER_LIKE = {"dense": 1e-3, "Local Top-K": 0.1, "Random Block": 5e-3, "ARC-Top-K": 2e-3, "ARC-Top-K (exact)": 1.5e-3}


def test_fig2_bands_compression_and_no_fallback():
    verdict = arc.verdict_fig2(_fig2(PAPER_LIKE))
    assert verdict.status == "reproduced" and "1.05x dense's bytes" in verdict.explanation
    assert "3 seeds" in verdict.explanation
    stalled_arc = arc.verdict_fig2(_fig2({**PAPER_LIKE, "ARC-Top-K": 0.05}, arc_bytes=10000.0))
    assert stalled_arc.status == "partly"
    assert sum(not check.holds for check in stalled_arc.checks) == 3  # two bands and "compresses"
    fell_back = arc.verdict_fig2(_fig2(PAPER_LIKE, fallbacks=4.0))
    assert [c.name for c in fell_back.checks if not c.holds] == [
        "ARC-Top-K: dense fallback calls per run (run.json)",
        "ARC-Top-K (exact): dense fallback calls per run (run.json)"]
    off = {method: value * 100 for method, value in PAPER_LIKE.items()}
    assert arc.verdict_fig2(_fig2(off, arc_bytes=10000.0, fallbacks=1.0)).status == "not_reproduced"


def _fig3(final: dict[str, float], fallbacks: float = 0.0, spread: float = 0.0) -> pd.DataFrame:
    cells = {(ef, method): {"grad_norm": value, "ring_sent_bytes_per_worker": 20.0 if method == "ARC-Top-K" else 40.0}
             for ef in ("ef21m", "ef21_sgd2m") for method, value in final.items()}
    return _runs(cells, (arc.EF_COLUMN, "method"), steps=range(10), fallbacks=fallbacks, spread=spread)


def test_fig3_expected_ordering_spread_and_dense_fallback():
    good = {"dense": 0.05, "Top-K": 0.05, "Rand-K": 0.08, "ARC-Top-K": 0.055}
    verdict = arc.verdict_fig3(_fig3(good))
    assert verdict.status == "reproduced" and "outside the seed spread" in verdict.explanation
    close = arc.verdict_fig3(_fig3({**good, "Rand-K": 0.056}, spread=0.1))
    assert close.status == "reproduced" and "inside the seed spread" in close.explanation
    fallback = arc.verdict_fig3(_fig3(good, fallbacks=3.0))
    assert fallback.status == "partly" and "dense fallback calls" in fallback.explanation
    assert arc.verdict_fig3(_fig3({**good, "ARC-Top-K": 0.5}, fallbacks=3.0)).status == "not_reproduced"


def _scaling(arc_norm: float, fallbacks: float = 0.0) -> pd.DataFrame:
    cells = {}
    for n in (8, 16, 32, 64):
        cells[(n, "dense")] = {"grad_norm": 0.12, "ring_sent_bytes_per_worker": 560.0}
        cells[(n, "ARC-Top-K")] = {"grad_norm": arc_norm, "ring_sent_bytes_per_worker": 150.0}
    return _runs(cells, ("n_workers", "method"), steps=range(10), fallbacks=fallbacks)


def test_fig_scaling_comparable_and_compressed():
    assert arc.verdict_fig_scaling(_scaling(0.13)).status == "reproduced"
    assert arc.verdict_fig_scaling(_scaling(0.12, fallbacks=10.0)).status == "partly"  # "comparable" by falling back
    assert arc.verdict_fig_scaling(_scaling(0.5, fallbacks=10.0)).status == "not_reproduced"


def _fig4(arc_loss: float, arc_bytes: float) -> pd.DataFrame:
    finals = {"dense": (1.1, 100.0), "Top-K": (1.3, 80.0), "Rand-K": (1.7, 30.0), "ARC-Top-K": (arc_loss, arc_bytes)}
    cells = {(m,): {"eval_loss": lambda step, l=loss: l + (99 - step) / 100,
                    "cum_ring_sent_bytes_per_worker": lambda step, b=sent: b * (step + 1)}
             for m, (loss, sent) in finals.items()}
    return _runs(cells, ("method",), steps=(49, 99))


def test_fig4_matches_top_k_with_fewer_bytes():
    verdict = arc.verdict_fig4(_fig4(1.31, 30.0))
    assert verdict.status == "reproduced" and "mean over 3 seeds" in verdict.explanation
    assert arc.verdict_fig4(_fig4(1.58, 30.0)).status == "partly"
    data = _fig4(1.58, 90.0)
    data.loc[data["method"] == "ARC-Top-K", "dense_fallback_calls"] = 2.0
    assert arc.verdict_fig4(data).status == "not_reproduced"


def _tab1(**override: tuple) -> pd.DataFrame:
    """The computed columns (`arc.TAB1_COMPUTED`): All-Reduce only, aggregate error on the counterexample and on
    heavy-tailed rows."""
    rows = {"Rand-K": (True, 0.81, 0.79), "Top-K": (False, 31.0, 0.002), "ARC-Top-K": (True, 0.5, 0.006),
            "PowerSGD": (True, 0.0, 0.08)}
    rows.update(override)
    return pd.DataFrame([dict(zip(("compressor", *arc.TAB1_COMPUTED), (name, *values), strict=True))
                         for name, values in rows.items()])


def test_tab1_checks_the_computed_columns():
    assert arc.verdict_tab1(_tab1()).status == "reproduced"
    assert arc.verdict_tab1(_tab1(**{"Top-K": (False, 1.0, 0.002)})).status == "partly"  # a tie is no failure
    # ties: ARC's aggregate keeps nothing of the mean, and errs exactly as much as Rand-K's
    assert arc.verdict_tab1(_tab1(**{"ARC-Top-K": (True, 1.0, 0.79)})).status == "partly"
    assert arc.verdict_tab1(_tab1(**{"ARC-Top-K": (False, 2.0, 0.9), "Top-K": (True, 0.5, 0.002)})).status == (
        "not_reproduced")


def test_tab2_and_tab3_compare_seed_means_of_arc_and_top_k_per_cell():
    def tab2(arc_acc, spread=0.0):
        methods = (("Top-K", 0.95), ("ARC-Top-K", arc_acc), ("dense", 0.96))
        cells = {(m, ef, model): {"accuracy": acc} for m, acc in methods
                 for ef in ("EF14", "EF21") for model in ("MLP", "CNN")}
        return _runs(cells, ("method", "error feedback", "model"), steps=(0,), spread=spread)

    assert arc.verdict_tab2(tab2(0.94)).status == "reproduced"
    assert arc.verdict_tab2(tab2(0.90)).status == "partly"  # every cell fails; ARC still ran compressed
    mixed = tab2(0.94, spread=0.05)
    mixed.loc[(mixed["method"] == "ARC-Top-K") & (mixed["model"] == "CNN"), "accuracy"] -= 0.09
    verdict = arc.verdict_tab2(mixed)
    assert verdict.status == "partly" and "inside the seed spread" in verdict.explanation

    def tab3(arc_acc, fallbacks=0.0):
        cells = {(m, task): {"accuracy": acc} for m, acc in (("Top-K", 0.9), ("ARC-Top-K", arc_acc)) for task in "ab"}
        return _runs(cells, ("method", "task"), steps=(0,), fallbacks=fallbacks)

    assert arc.verdict_tab3(tab3(0.95)).status == "reproduced"
    assert arc.verdict_tab3(tab3(0.85, fallbacks=1.0)).status == "not_reproduced"


def test_tab4_compares_held_out_loss_per_width():
    def tab4(arc_loss, fallbacks=0.0):
        cells = {(m, size): {"eval_loss": loss} for m, loss in (("Top-K", 1.5), ("ARC-Top-K", arc_loss))
                 for size in ("d_model 32", "d_model 64")}
        return _runs(cells, ("method", "size"), steps=(0,), fallbacks=fallbacks)

    assert arc.verdict_tab4(tab4(1.51)).status == "reproduced"
    assert arc.verdict_tab4(tab4(1.8, fallbacks=5.0)).status == "not_reproduced"


def _tab5(arc_over_topk: dict[str, float]) -> pd.DataFrame:
    rows = []
    for model, ratio in arc_over_topk.items():
        for bandwidth in arc.TAB5_BAND_GBPS:
            rows += [{"method": "Top-K", "model": model, "bandwidth_gbps": bandwidth, "step_time_ms": 100.0},
                     {"method": "ARC-Top-K", "model": model, "bandwidth_gbps": bandwidth,
                      "step_time_ms": 100.0 * ratio}]
    return pd.DataFrame(rows)


def test_tab5_saving_up_to_the_papers():
    assert arc.verdict_tab5(_tab5({"llama-60m": 0.7, "llama-1b": 0.4})).status == "reproduced"  # 60% saved
    assert arc.verdict_tab5(_tab5({"llama-60m": 0.7, "llama-1b": 0.8})).status == "partly"  # only 30%
    assert arc.verdict_tab5(_tab5({"llama-60m": 1.2, "llama-1b": 0.95})).status == "not_reproduced"


def test_fig1_is_not_checkable_with_a_reason():
    verdict = arc.verdict_fig1(pd.DataFrame())
    assert verdict.status == "not_checkable" and "diagram" in verdict.explanation
