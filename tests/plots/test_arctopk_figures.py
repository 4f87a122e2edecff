"""Verdicts of the ARC-Top-K figures (plots/papers/arctopk.py) on synthetic data: each claim holds, then fails.

The real outputs of every ARC-Top-K figure are drawn on a tiny profile in tests/harness/compression (their recorded
verdicts recomputed from their CSVs there); the static ones in test_figure_verdicts.py.
"""

from __future__ import annotations

import pandas as pd

from plots.papers import arctopk as arc

FIG2_METHODS = ("dense", "Local Top-K", "Random Block", "ARC-Top-K", "ARC-Top-K (exact)")


def _fig2(final: dict[str, float], arc_bytes: float = 2000.0) -> pd.DataFrame:
    rows = []
    for optimizer in arc.FIG2_STALL:
        for method in FIG2_METHODS:
            for step in range(20):
                dist = final[method] * (1 + 10 * max(0, 15 - step))  # settled over the last 5 steps
                sent = {"dense": 10000.0, "ARC-Top-K": arc_bytes}.get(method, 10000.0 if "exact" in method else 3000.0)
                rows.append({"optimizer": optimizer, "method": method, "step": step, "dist": dist,
                             "ring_sent_bytes_per_worker": sent})
    return pd.DataFrame(rows)


PAPER_LIKE = {"dense": 1e-3, "Local Top-K": 0.1, "Random Block": 5e-3, "ARC-Top-K": 2e-3, "ARC-Top-K (exact)": 1.5e-3}


def test_fig2_bands_and_compression():
    verdict = arc.verdict_fig2(_fig2(PAPER_LIKE))
    assert verdict.status == "reproduced" and "(exact) sent every step dense" in verdict.explanation
    stalled_arc = arc.verdict_fig2(_fig2({**PAPER_LIKE, "ARC-Top-K": 0.05}, arc_bytes=10000.0))
    assert stalled_arc.status == "partly"
    assert sum(not check.holds for check in stalled_arc.checks) == 3  # two bands and "compresses"
    off = {method: value * 100 for method, value in PAPER_LIKE.items()}
    assert arc.verdict_fig2(_fig2(off, arc_bytes=10000.0)).status == "not_reproduced"


def _fig3(final: dict[str, float], arc_bytes: float = 20.0) -> pd.DataFrame:
    rows = []
    for ef in ("ef21m", "ef21_sgd2m"):
        for method, value in final.items():
            for step in range(10):
                rows.append({arc.EF_COLUMN: ef, "method": method, "step": step, "grad_norm_mean": value,
                             "ring_sent_bytes_per_worker": arc_bytes if method == "ARC-Top-K" else 40.0})
    return pd.DataFrame(rows)


def test_fig3_expected_ordering_and_dense_fallback():
    good = {"dense": 0.05, "Top-K": 0.05, "Rand-K": 0.08, "ARC-Top-K": 0.055}
    assert arc.verdict_fig3(_fig3(good)).status == "reproduced"
    fallback = arc.verdict_fig3(_fig3(good, arc_bytes=40.0))
    assert fallback.status == "partly" and "fell back to a dense all-reduce" in fallback.explanation
    assert arc.verdict_fig3(_fig3({**good, "ARC-Top-K": 0.5}, arc_bytes=40.0)).status == "not_reproduced"


def _scaling(arc_norm: float, arc_bytes: float) -> pd.DataFrame:
    rows = []
    for n in (8, 16, 32, 64):
        rows.append({"method": "dense", "n_workers": n, "final_grad_norm": 0.12, "bytes_sent_per_worker": 560.0})
        rows.append({"method": "ARC-Top-K", "n_workers": n, "final_grad_norm": arc_norm,
                     "bytes_sent_per_worker": arc_bytes})
    return pd.DataFrame(rows)


def test_fig_scaling_comparable_and_compressed():
    assert arc.verdict_fig_scaling(_scaling(0.13, 150.0)).status == "reproduced"
    assert arc.verdict_fig_scaling(_scaling(0.12, 560.0)).status == "partly"  # dense fallback: trivially "comparable"
    assert arc.verdict_fig_scaling(_scaling(0.5, 560.0)).status == "not_reproduced"


def _fig4(arc_loss: float, arc_bytes: float) -> pd.DataFrame:
    finals = {"dense": (1.1, 100.0), "Top-K": (1.3, 80.0), "Rand-K": (1.7, 30.0), "ARC-Top-K": (arc_loss, arc_bytes)}
    return pd.DataFrame([{"method": m, "step": step, "eval_loss": loss + (99 - step) / 100,
                          "cum_ring_sent_bytes_per_worker": sent * (step + 1)}
                         for m, (loss, sent) in finals.items() for step in (49, 99)])


def test_fig4_matches_top_k_with_fewer_bytes():
    assert arc.verdict_fig4(_fig4(1.31, 30.0)).status == "reproduced"
    assert arc.verdict_fig4(_fig4(1.58, 30.0)).status == "partly"
    assert arc.verdict_fig4(_fig4(1.58, 90.0)).status == "not_reproduced"


def _tab1(**override: bool) -> pd.DataFrame:
    rows = {"Rand-K": (True, True, False), "Top-K": (False, False, True), "ARC-Top-K": (True, True, True),
            "PowerSGD": (True, False, True)}
    rows.update(override)
    return pd.DataFrame([dict(zip(("compressor", *arc.TAB1_PROPERTIES), (name, *flags), strict=True))
                         for name, flags in rows.items()])


def test_tab1_only_arc_has_every_property():
    assert arc.verdict_tab1(_tab1()).status == "reproduced"
    assert arc.verdict_tab1(_tab1(PowerSGD=(True, True, True))).status == "partly"  # two have all
    assert arc.verdict_tab1(_tab1(**{"ARC-Top-K": (False, True, True)})).status == "not_reproduced"


def test_tab2_and_tab3_compare_arc_with_top_k_per_cell():
    def tab2(arc_acc):
        return pd.DataFrame([{"method": m, "error feedback": ef, "model": model, "accuracy": acc}
                             for m, acc in (("Top-K", 0.95), ("ARC-Top-K", arc_acc), ("dense", 0.96))
                             for ef in ("EF14", "EF21") for model in ("MLP", "CNN")])

    assert arc.verdict_tab2(tab2(0.94)).status == "reproduced"
    assert arc.verdict_tab2(tab2(0.90)).status == "not_reproduced"
    mixed = tab2(0.94)
    mixed.loc[(mixed["method"] == "ARC-Top-K") & (mixed["model"] == "CNN"), "accuracy"] = 0.85
    assert arc.verdict_tab2(mixed).status == "partly"

    def tab3(arc_acc):
        return pd.DataFrame([{"method": m, "task": task, "accuracy": acc}
                             for m, acc in (("Top-K", 0.9), ("ARC-Top-K", arc_acc)) for task in ("a", "b")])

    assert arc.verdict_tab3(tab3(0.95)).status == "reproduced"
    assert arc.verdict_tab3(tab3(0.85)).status == "not_reproduced"


def test_tab4_compares_held_out_loss_per_width():
    def tab4(arc_loss):
        return pd.DataFrame([{"method": m, "size": size, "eval_loss": loss}
                             for m, loss in (("Top-K", 1.5), ("ARC-Top-K", arc_loss))
                             for size in ("d_model 32", "d_model 64")])

    assert arc.verdict_tab4(tab4(1.51)).status == "reproduced"
    assert arc.verdict_tab4(tab4(1.8)).status == "not_reproduced"


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
