"""MISA figures (plots/papers/misa.py): every checklist id registered or declared not reconstructable, honest
captions, the memory items rendered end to end with the verdict their CSV gives, and verdicts that follow their
data (the training items' verdict functions on constructed frames; the training runs are too long for a test)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from plots.papers import load_all, misa
from plots.registry import load_checklist
from plots.runner import RunSettings, render_figure
from tests.plots.test_figure_verdicts import assert_recomputes

PAPER = "misa"


@pytest.fixture(scope="module")
def registry():
    registry, errors = load_all(keep_going=True)
    assert PAPER not in errors
    return registry


def test_every_checklist_entry_is_covered(registry):
    registered = {spec.id for spec in registry if spec.paper == PAPER}
    missing = {entry.id for entry in registry.missing(PAPER)}
    checklist = {k for k, v in load_checklist().items() if v.paper == PAPER}
    assert registered | missing == checklist and not registered & missing
    assert missing == {"misa.tab_instruct"}
    assert registered == set(misa.VERDICTS)
    for figure_id in registered:
        spec = registry.get(figure_id)
        assert "could not be read" in spec.full_caption and "could not be read" not in spec.caption
        assert "/work" not in spec.caption and "issue" not in spec.caption.lower()


@pytest.mark.parametrize("figure_id", ["misa.fig2", "misa.tab_memory"])
def test_memory_items_render_with_their_verdict(registry, tmp_path, figure_id):
    from harness.api import run_scenario_file

    spec = registry.get(figure_id)
    settings = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    result = render_figure(spec, settings, run_scenario_file)
    record = json.loads((tmp_path / "figures" / PAPER / f"{figure_id}.json").read_text())
    assert result.status == "ok", record.get("traceback")
    verdict = assert_recomputes(spec, tmp_path / "figures")
    assert verdict.status == "reproduced"
    data = pd.read_csv(tmp_path / "figures" / PAPER / f"{figure_id}.csv")
    if figure_id == "misa.fig2":
        swapped = data.copy()
        lora, misa3 = swapped["method"] == "lora", (swapped["method"] == "misa") & np.isclose(swapped["delta"], 0.03)
        swapped.loc[misa3, "peak_gib"] = swapped.loc[lora, "peak_gib"].to_numpy() * 2
        assert misa.verdict_fig2(swapped).status == "not_reproduced"


def _runs(finals: dict[str, list[float]], column: str = "eval_loss", key: str = "method") -> pd.DataFrame:
    return pd.DataFrame([{key: k, "seed": s, column: v} for k, values in finals.items() for s, v in enumerate(values)])


def test_fig1_verdict_needs_unequal_norms():
    rows = [{"seed": s, "layer": layer, "module": m, "numel": 1, "grad_norm": 1.0 + 3.0 * (m == "v_proj")}
            for s in range(3) for layer in range(4) for m in misa.MODULES]
    unequal = pd.DataFrame(rows)
    assert misa.verdict_fig1(unequal).status == "reproduced"
    assert misa.verdict_fig1(unequal.assign(grad_norm=1.0)).status == "not_reproduced"


def test_fig3_verdict_follows_the_curves():
    rows = []
    for method, final in {"adamw": 0.5, "misa": 0.6, "lisa": 0.9, "badam": 0.8}.items():
        for seed in range(3):
            for step in range(0, 101, 20):
                loss = 2.0 - (2.0 - final) * step / 100 + 0.01 * seed
                rows.append({"method": method, "seed": seed, "step": step, "wall_s": step * 0.1, "eval_loss": loss})
    good = pd.DataFrame(rows)
    assert misa.verdict_fig3(good).status == "reproduced"
    bad = good.copy()
    bad.loc[bad["method"] == "misa", "eval_loss"] += 1.0
    assert misa.verdict_fig3(bad).status == "not_reproduced"


def test_ablation_verdict_follows_the_variants():
    good = _runs({"default (η=1, δ=3%, T=50)": [0.5, 0.52], "uniform sampling": [0.7, 0.72],
                  "layer granularity": [0.8, 0.81]}, key="variant")
    assert misa.verdict_ablation(good).status == "reproduced"
    flipped = good.assign(eval_loss=np.where(good["variant"].str.startswith("default"), 1.0, good["eval_loss"]))
    assert misa.verdict_ablation(flipped).status == "not_reproduced"


def test_ablation_verdict_does_not_count_identical_sampling_variants():
    """Uniform sampling that trained exactly like the default is no evidence for importance sampling."""
    same = _runs({"default (η=1, δ=3%, T=50)": [0.5, 0.52], "uniform sampling": [0.5, 0.52],
                  "layer granularity": [0.8, 0.81]}, key="variant")
    verdict = misa.verdict_ablation(same)
    assert [c.name for c in verdict.checks] == ["final eval loss, module minus layer granularity"]
    assert verdict.status == "reproduced" and "not tested" in verdict.explanation


def test_accuracy_verdicts_follow_the_averages():
    ranking = {"adamw": 0.9, "misa": 0.87, "lora": 0.6, "dora": 0.6, "galore": 0.5, "lisa": 0.7, "badam": 0.7}
    good = _runs({k: [v, v + 0.01, v - 0.01] for k, v in ranking.items()}, column="average")
    assert misa.verdict_tab_commonsense(good).status == "reproduced"
    assert misa.verdict_tab_math(good).status == "reproduced"
    worst = good.assign(average=np.where(good["method"] == "misa", 0.1, good["average"]))
    assert misa.verdict_tab_commonsense(worst).status == "not_reproduced"  # 80 points below is not "slightly"
    assert misa.verdict_tab_math(worst).status == "not_reproduced"
    far_below = good.assign(average=np.where(good["method"] == "misa", 0.78, good["average"]))
    verdict = misa.verdict_tab_commonsense(far_below)  # above every rival, but 12 points below full FT
    assert verdict.status == "partly" and [c.holds for c in verdict.checks][-1] is False


def test_pretrain_verdict_follows_the_perplexities():
    good = _runs({"adamw": [3.0, 3.1], "galore": [3.5, 3.4], "misa": [2.9, 2.95]}, column="perplexity")
    assert misa.verdict_tab_pretrain(good).status == "reproduced"
    bad = good.assign(perplexity=np.where(good["method"] == "misa", 9.0, good["perplexity"]))
    assert misa.verdict_tab_pretrain(bad).status == "not_reproduced"


@pytest.mark.parametrize(("scenario", "overrides", "by"), [
    (misa.FINETUNE, misa.FT_QUICK, "workload.method.name"),
    (misa.ABLATION, misa.ABL_QUICK, "workload.method.sampling"),
    (misa.PRETRAIN, misa.PT_QUICK, "workload.method.name"),
])
def test_quick_profile_compares_methods_over_three_seeds(scenario, overrides, by):
    """Every method (ablation variant) of a comparison runs the scenario's seeds on the quick profile too."""
    from harness.config.loader import load_scenario
    from harness.sweep import expand

    points = expand(load_scenario(Path(__file__).parents[2] / scenario, overrides))
    seeds: dict[tuple, set] = {}
    for point in points:
        key = tuple(v for k, v in sorted(point.values.items()) if k != "seed")
        seeds.setdefault(key, set()).add(point.values["seed"])
    assert len(seeds) >= 3 and {len(s) for s in seeds.values()} == {misa.SEEDS}, seeds
    assert any(by in point.values for point in points)


def test_the_budget_note_in_the_captions_holds_for_the_scenario_model_and_for_llama3_8b():
    import yaml

    from methods.misa.memory import LLAMA3_8B, Dims, parameter_count, projections
    from methods.misa.misa import MisaConfig

    workload = yaml.safe_load((Path(__file__).resolve().parents[2] / "scenarios/misa/finetune.yaml").read_text())[
        "workload"]
    model, delta = workload["model"], MisaConfig().delta
    assert workload["method"]["delta"] == delta == 0.03
    # the fine-tuning tokenizer's 46 characters (run.json info vocab_size); no grouped-query attention
    tiny = Dims(d_model=model["d_model"], d_ff=model["d_ff"], n_layers=model["n_layers"], vocab_size=46,
                kv_dim=model["d_model"])
    sizes = [i * o for i, o in projections(tiny)]
    budget = delta * parameter_count(tiny)
    assert sizes[0] == 1024 and set(sizes[4:]) == {2752}
    assert 1024 <= budget < 2 * 1024 and budget < 2752  # one attention matrix at a time, never an FFN matrix
    budget_8b = delta * parameter_count(LLAMA3_8B)
    assert int(budget_8b // (4096 * 14336)) == 4 and int(budget_8b // 4096**2) == 14
    assert "holds one attention matrix (1,024 parameters) at a time" in misa.MISA_BUDGET
    assert "(2,752)" in misa.MISA_BUDGET and "four FFN matrices or fourteen 4,096 × 4,096" in misa.MISA_BUDGET
