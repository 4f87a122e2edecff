"""Every registered figure has verdict logic, and a drawn figure's verdict is recomputed from its own CSV.

Each figure module maps its ids to pure functions ``verdict(data) -> Verdict`` (``VERDICTS``); the draw functions
return ``verdict=VERDICTS-function(data)`` for the DataFrame written as the figure's CSV. Here: the mapping covers
exactly the module's registered ids, and for every figure that runs no scenario (static tables, committed inputs:
seconds) the verdict in the record equals the one recomputed from the CSV, and agrees with its own checks.
"""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pandas as pd
import pytest

from plots.papers import load_all
from plots.registry import FigureSpec
from plots.runner import RunSettings, render_figure, resolve_project_path
from plots.verdict import STATUSES, Verdict


def verdict_logic(spec: FigureSpec):
    """The verdict function of ``spec`` from its module's ``VERDICTS`` mapping."""
    return importlib.import_module(spec.draw.__module__).VERDICTS[spec.id]


def assert_recomputes(spec: FigureSpec, out_dir: Path) -> Verdict:
    """The record's verdict equals the one recomputed from the figure's CSV; returns the recomputed one."""
    record = json.loads((out_dir / spec.paper / f"{spec.id}.json").read_text())
    recomputed = verdict_logic(spec)(pd.read_csv(out_dir / spec.paper / f"{spec.id}.csv"))
    assert not recomputed.contradictions()
    stored = record["verdict"]
    assert stored["status"] == recomputed.status, spec.id
    assert [c["name"] for c in stored["checks"]] == [c.name for c in recomputed.checks]
    assert [c["holds"] for c in stored["checks"]] == [c.holds for c in recomputed.checks]
    for check, again in zip(stored["checks"], recomputed.checks, strict=True):
        if check.get("ours") is not None:
            assert math.isclose(check["ours"], again.ours, rel_tol=1e-9, abs_tol=1e-12), check["name"]
    return recomputed


def draw_paper_quick(paper: str, tmp_path: Path) -> Path:
    """Run `harness figures --quick --paper <paper>` into ``tmp_path`` (as a user would) and check that every figure of
    the paper recorded the verdict its own CSV gives; returns the output folder."""
    from plots.registry import FIGURES

    out, runs = tmp_path / "figures", tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "harness", "figures", "--quick", "--paper", paper, "--out", str(out),
                           "--results-root", str(runs)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    load_all()
    specs = [spec for spec in FIGURES if spec.paper == paper]
    assert specs
    for spec in specs:
        assert_recomputes(spec, out)
    return out


@pytest.fixture(scope="module")
def registry():
    registry, _ = load_all()
    return registry


def test_every_registered_figure_has_verdict_logic(registry):
    ids_by_module = defaultdict(set)
    for spec in registry:
        ids_by_module[spec.draw.__module__].add(spec.id)
    assert len(ids_by_module) >= 5
    for module_name, ids in ids_by_module.items():
        verdicts = getattr(importlib.import_module(module_name), "VERDICTS", None)
        assert isinstance(verdicts, dict), f"{module_name} defines no VERDICTS mapping (figure id -> verdict function)"
        assert set(verdicts) == ids, f"{module_name}: VERDICTS covers {sorted(verdicts)}, registered {sorted(ids)}"
        assert all(callable(function) for function in verdicts.values())


def _without_scenarios():
    registry, _ = load_all()
    return [spec.id for spec in registry if not spec.scenarios]


@pytest.mark.parametrize("figure_id", _without_scenarios())
def test_static_and_input_figures_record_the_verdict_their_csv_gives(registry, tmp_path, figure_id):
    spec = registry.get(figure_id)
    missing = [path for path in spec.inputs if not resolve_project_path(path).is_file()]
    if missing:
        pytest.skip(f"inputs not committed yet: {missing}")
    settings = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    result = render_figure(spec, settings, lambda *args, **kwargs: pytest.fail("no scenario expected"))
    assert result.status == "ok", result.error
    verdict = assert_recomputes(spec, settings.out_dir)
    assert verdict.status in STATUSES and verdict.explanation.strip()
    if verdict.status == "not_checkable":
        assert len(verdict.explanation) > 30  # the reason says why, not just "n/a"


def test_a_check_prints_ours_apart_from_its_bound():
    """A value just below its bound must not print as the bound ("ours 1 >= 1: does not hold")."""
    from plots.verdict import at_least, at_most, within

    assert at_least("x", ours=0.9998, low=1.0, paper="p").describe() == "x: ours 0.9998 >= 1 (paper: p): does not hold"
    assert at_most("x", ours=2.00004, high=2.0, paper="p").describe().startswith("x: ours 2.00004 <= 2 ")
    assert within("x", ours=0.5, low=0.3, high=1.0, paper="p").describe() == "x: ours 0.5 in [0.3, 1] (paper: p): holds"
    assert within("x", ours=0.29999, low=0.3, high=1.0, paper="p").describe().startswith("x: ours 0.29999 in [0.3, 1]")
    from plots.gallery import check_text

    shown = check_text({"name": "x", "kind": "at_least", "paper": "p", "ours": 0.9998, "low": 1.0, "holds": False})
    assert shown == "x: ours 0.9998, at least 1 (paper: p): does not hold"  # the gallery's wording, same digits



@pytest.mark.parametrize("kind, bounds", [
    ("at_most", {"high": math.nan}),
    ("at_least", {"low": math.nan}),
    ("within", {"low": 0.0, "high": math.nan}),
    ("within", {"low": math.nan, "high": 2.0}),
])
def test_a_bound_computed_from_missing_data_never_holds(kind, bounds):
    """A NaN bound (a tolerance from one seed's std, say) must not let any value pass."""
    import plots.verdict

    check = getattr(plots.verdict, kind)("x", ours=1.0, paper="p", **bounds)
    assert not check.holds and check.describe().endswith("does not hold")
