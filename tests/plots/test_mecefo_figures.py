"""MeCeFO tables: verdicts on synthetic data (each check can fail), and the quick profile rendered end to end."""

from __future__ import annotations

import pandas as pd
import pytest

from plots.papers import mecefo as m
from tests.plots.test_figure_verdicts import draw_paper_quick


def _tab2(mecefo_drops: dict[str, float], bamboo_7b: float, oobleck_7b: float, free: dict[str, float]) -> pd.DataFrame:
    rows = []
    for model, drop in mecefo_drops.items():
        for policy in ("checkpoint_restart", "bamboo", "oobleck", "mecefo"):
            for frequency in m.FREQUENCIES:
                d = {"mecefo": drop, "bamboo": bamboo_7b if model == "llama-7b" else 8.0,
                     "oobleck": oobleck_7b if model == "llama-7b" else 10.0, "checkpoint_restart": 30.0}[policy]
                rows.append({"model": model, "policy": policy, "frequency": frequency,
                             "tokens_per_s": free[policy] * (1 - d / 100), "failure_free_tokens_per_s": free[policy],
                             "drop_pct": d, "n_failures": 100, "replicates": 3, "neighbour_step_ratio": 1.05})
    return pd.DataFrame(rows)


PAPER_FREE = {"bamboo": 438e3, "oobleck": 704e3, "mecefo": 1199e3, "checkpoint_restart": 1199e3}


def test_tab2_verdict_reproduced_on_the_papers_numbers_and_not_otherwise():
    paper = _tab2({"llama-350m": 1.07, "llama-1b": 2.98, "llama-7b": 4.18}, 20.9, 28.1, PAPER_FREE)
    assert m.verdict_tab2(paper).status == "reproduced"
    ours = _tab2({"llama-350m": 40.0, "llama-1b": 39.0, "llama-7b": 38.0}, 33.0, 8.0,
                 {"bamboo": 2.2e6, "oobleck": 1.8e6, "mecefo": 2.8e6, "checkpoint_restart": 2.8e6})
    verdict = m.verdict_tab2(ours)
    assert verdict.status == "not_reproduced" and not verdict.contradictions()


def test_tab1_verdict_follows_the_simulated_rate():
    rows = [{"frequency": f, "failure_interval_h": i, "recovery_h": r, "paper_failure_interval_h": i,
             "paper_recovery_h": r, "simulated_interval_h": i * 1.02, "mean_gpus_down": r / i}
            for f, (i, r) in m.PAPER_TAB1.items()]
    assert m.verdict_tab1(pd.DataFrame(rows)).status == "reproduced"
    rows[2]["simulated_interval_h"] = 0.7  # the process would fail far less often than the scenario says
    assert m.verdict_tab1(pd.DataFrame(rows)).status == "partly"


def _robust(axis: str, values: list[float], mecefo: list[float], best_baseline: float) -> pd.DataFrame:
    rows = []
    for value, drop in zip(values, mecefo, strict=True):
        for policy, d in (("mecefo", drop), ("bamboo", best_baseline), ("oobleck", best_baseline + 5),
                          ("checkpoint_restart", 50.0)):
            rows.append({axis: value, "policy": policy, "drop_pct": d})
    return pd.DataFrame(rows)


def test_robustness_verdicts():
    good = _robust("failure_interval_h", [0.5, 0.25, 0.125], [4.0, 4.2, 4.5], 20.0)
    assert m.verdict_tab8(good).status == "reproduced"
    bad = _robust("failure_interval_h", [0.5, 0.25, 0.125], [4.0, 9.0, 30.0], 20.0)
    assert m.verdict_tab8(bad).status == "partly"
    assert m.verdict_tab7(_robust("failing_fraction", [1.0, 0.25], [4.0, 5.0], 20.0)).status == "reproduced"
    assert m.verdict_tab7(_robust("failing_fraction", [1.0, 0.25], [40.0, 80.0], 20.0)).status == "not_reproduced"


@pytest.mark.slow
def test_quick_profile_draws_every_table_with_a_verdict_from_its_csv(tmp_path):
    out = draw_paper_quick("mecefo", tmp_path)  # every figure's recorded verdict is the one its CSV gives
    data = pd.read_csv(out / "mecefo" / "mecefo.tab2.csv")
    assert (data["tokens_per_s"] <= data["failure_free_tokens_per_s"] * (1 + 1e-12)).all()
