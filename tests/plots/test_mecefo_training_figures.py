"""MeCeFO figures from real training (plots/papers/mecefo.py: fig3-7, tab3, tab6): each verdict is computed from
the figure's data and can fail; the table helpers read what the runs wrote."""

from __future__ import annotations

import numpy as np
import pandas as pd

from plots.papers import mecefo as m


def _fig3(gaps: dict[tuple[str, str], float]) -> pd.DataFrame:
    rows = []
    runs = [(m.BASELINE, "no skip", 0.0), *((setting, mode, gap) for (setting, mode), gap in gaps.items())]
    for setting, mode, gap in runs:
        for seed in range(3):
            for step, loss in ((0, 3.2), (10, 2.0 * (1 + gap) + 0.001 * seed)):
                rows.append({"setting": setting, "mode": mode, "seed": seed, "step": step, "loss": loss,
                             "eval_loss": loss})
    return pd.DataFrame(rows)


def test_fig3_verdict():
    every, neighbour = m.SKIP_SETTINGS
    paper = {(every, "skip-MHA"): 0.02, (every, "skip-FFN"): 0.2, (neighbour, "skip-MHA"): 0.01,
             (neighbour, "skip-FFN"): 0.05}
    assert m.verdict_fig3(_fig3(paper)).status == "reproduced"
    half = {**paper, (every, "skip-MHA"): 0.6}
    assert m.verdict_fig3(_fig3(half)).status == "partly"
    reversed_ = {(s, "skip-MHA"): 0.5 for s in m.SKIP_SETTINGS} | {(s, "skip-FFN"): 0.1 for s in m.SKIP_SETTINGS}
    verdict = m.verdict_fig3(_fig3(reversed_))
    assert verdict.status == "not_reproduced" and not verdict.contradictions()


def _errors(values: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"d_model": 48, "seed": [i % 3 for i in range(len(values))], "step": range(len(values)),
                         "grad_rel_error": values, "n_failed": 1, "stands_for": "LLaMA-1B", "step_bin": 0})


def test_error_verdict():
    assert m.verdict_error(_errors([0.2, 0.3, 0.5, 0.4, 0.1, 0.25])).status == "reproduced"
    assert m.verdict_error(_errors([0.2, 0.3, 0.5, 0.4, 0.1, 0.7])).status == "partly"
    assert m.verdict_error(_errors([0.9, 0.8, 0.7, 0.95, 0.85, 0.75])).status == "not_reproduced"
    assert m.verdict_error(_errors([]).iloc[0:0]).status == "not_checkable"


def _tab3(increase: dict[str, float]) -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for frequency, pct in {m.NONE: 0.0, **increase}.items():
            ppl = 8.0 * (1 + pct / 100)
            rows.append({"frequency": frequency, "seed": seed, "eval_loss": np.log(ppl), "perplexity": ppl,
                         "n_failures": 0 if frequency == m.NONE else 5, "increase_pct": pct})
    return pd.DataFrame(rows)


def test_tab3_verdict():
    assert m.verdict_tab3(_tab3({"low": 0.1, "medium": 0.6, "high": 1.8})).status == "reproduced"
    assert m.verdict_tab3(_tab3({"low": 3.0, "medium": 6.0, "high": 12.0})).status == "partly"


def test_tab3_data_pairs_seeds_against_no_failure():
    metrics = pd.DataFrame([
        {"workload.failures.interval_steps": interval, "seed": seed, "step": step, "n_failed": int(step == 5 and
         interval is not None), "eval_loss": np.log(8.0 + (0.0 if interval is None else 16 / interval)) + 0.1 * seed}
        for interval in (None, 32.0, 16.0, 8.0) for seed in range(3) for step in (0, 5, 9)])
    failed = pd.Series({(f, seed): int(f != m.NONE) for f in (m.NONE, "low", "medium", "high") for seed in range(3)})
    data = m.tab3_data(metrics, failed_steps=failed).set_index(["frequency", "seed"])
    assert set(data.index.get_level_values(0)) == {m.NONE, "low", "medium", "high"}
    assert data.loc[(m.NONE, 1), "increase_pct"] == 0.0
    assert np.isclose(data.loc[("high", 0), "increase_pct"], 100 * (10.0 / 8.0 - 1))
    assert data.loc[("high", 2), "n_failures"] == 1


def _tab6(memory: dict[str, float], time: dict[str, float]) -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for config in ("failure-free rank", *m.ABLATION_ROWS):
            rows.append({"config": config, "seed": seed, "budget_mb": 1.25, "activation_mb": 1.0,
                         "memory_mb": memory.get(config, 1.0), "memory_ratio": memory.get(config, 1.0),
                         "step_ms": time.get(config, 1.0), "time_ratio": time.get(config, 1.0)})
    return pd.DataFrame(rows)


def test_tab6_verdict():
    good = _tab6({"naive NDB": 1.9, "+I": 1.3, "+I+II": 0.6, "+I+II+III": 0.6}, {"naive NDB": 2.0, "+I+II+III": 1.2})
    assert m.verdict_tab6(good).status == "reproduced"
    fits = _tab6({"naive NDB": 1.1, "+I": 1.05, "+I+II": 0.9, "+I+II+III": 0.9}, {"naive NDB": 2.0, "+I+II+III": 2.5})
    assert m.verdict_tab6(fits).status == "partly"


def _probes(shift: dict[str, float], spread: float = 0.02, base: float = 0.8, chance: float = 0.5,
            seeds: int = 3) -> pd.DataFrame:
    rows = []
    for seed in range(seeds):
        for frequency in (m.NONE, *m.FREQUENCIES):
            for index, probe in enumerate(("a", "b")):
                noise = spread * (seed - (seeds - 1) / 2) * (1 if index == 0 else 0.5)
                rows.append({"frequency": frequency, "seed": seed, "probe": probe, "chance": chance,
                             "accuracy": base + shift.get(frequency, 0.0) + noise})
    return pd.DataFrame(rows)


def test_flat_verdict_tolerance_comes_from_the_seed_spread():
    flat = _probes({"low": 0.005, "medium": -0.01, "high": 0.0})
    verdict = m.verdict_tab4(flat)
    assert verdict.status == "reproduced"
    # the same shifts judged against a seed spread ten times smaller are no longer within tolerance
    assert m.verdict_tab4(_probes({"low": 0.005, "medium": -0.01, "high": 0.0}, spread=0.0005)).status == "partly"
    dropping = _probes({"low": -0.1, "medium": -0.2, "high": -0.3})
    assert m.verdict_tab5(dropping).status == "partly"  # only the above-chance check holds
    assert m.verdict_tab4(_probes({}, base=0.5)).status == "partly"  # flat, but flat at chance
    assert m.verdict_tab4(_probes({}, seeds=2)).status == "not_checkable"
    assert not m.verdict_tab4(dropping).contradictions()


def test_probe_table_has_every_probe_the_average_and_the_papers_rows():
    table = m.probe_table(_probes({}), m.PAPER_TAB4, 1.0)
    assert table["probe"].tolist() == ["a", "b", "average", "paper: BoolQ", "paper: PIQA"]
    assert list(table.columns) == ["probe", "chance", *m.FREQUENCY_ORDER]


def _moe(increase: dict[str, float], error: float) -> pd.DataFrame:
    rows = []
    for seed in range(3):
        for frequency in m.FREQUENCY_ORDER:
            pct = increase.get(frequency, 0.0)
            rows.append({"model": m.MOE_NAME, "frequency": frequency, "seed": seed, "perplexity": 8 * (1 + pct / 100),
                         "increase_pct": pct, "max_grad_error": np.nan if frequency == m.NONE else error,
                         "median_grad_error": np.nan if frequency == m.NONE else error / 2})
    return pd.DataFrame(rows)


def test_tab10_verdict():
    assert m.verdict_tab10(_moe({"low": 0.1, "medium": 0.5, "high": 1.5}, 0.3)).status == "reproduced"
    assert m.verdict_tab10(_moe({"low": 0.1, "medium": 0.5, "high": 9.0}, 0.3)).status == "partly"
    assert m.verdict_tab10(_moe({"low": 0.1, "medium": 0.5, "high": 1.5}, 0.9)).status == "partly"  # max only
    verdict = m.verdict_tab10(_moe({"low": 5.0, "medium": 8.0, "high": 9.0}, 1.3))
    assert verdict.status == "not_reproduced" and not verdict.contradictions()


def test_tab10_rows_take_the_largest_error_per_run():
    metrics = pd.DataFrame([
        {"workload.failures.interval_steps": interval, "seed": seed, "step": step, "n_failed": int(step == 5),
         "eval_loss": 2.0, "grad_rel_error": (0.1 * step if interval is not None and step else np.nan)}
        for interval in (None, 32.0, 16.0, 8.0) for seed in range(3) for step in (0, 5, 9)])
    failed = pd.Series({(f, seed): 1 for f in (m.NONE, "low", "medium", "high") for seed in range(3)})
    rows = m.tab10_rows(metrics, m.MOE_NAME, failed).set_index(["frequency", "seed"])
    assert np.isclose(rows.loc[("high", 1), "max_grad_error"], 0.9)
    assert np.isclose(rows.loc[("high", 1), "median_grad_error"], 0.7)
    assert np.isnan(rows.loc[(m.NONE, 0), "max_grad_error"]) and (rows["model"] == m.MOE_NAME).all()
