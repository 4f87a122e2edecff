"""The harness's own figures: helpers, discovery, and one real quick-profile render through the run store."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from plots.papers import load_all
from plots.papers.harness_core import format_bytes, model_agreement
from plots.runner import RunSettings, render_figures, select_figures
from tests.plots.test_figure_verdicts import assert_recomputes

HARNESS_FIGURES = ("harness.collective_time_vs_ranks", "harness.collective_time_vs_size")


@pytest.mark.parametrize(
    "size_bytes, text", [(100, "100 B"), (1024, "1 KiB"), (1536, "1.5 KiB"), (1 << 20, "1 MiB"), (1 << 30, "1 GiB")]
)
def test_format_bytes(size_bytes, text):
    assert format_bytes(size_bytes) == text


def test_model_agreement_pairs_models_and_reports_differences():
    metrics = pd.DataFrame(
        {
            "algorithm": ["ring", "ring", "tree", "tree"],
            "size_bytes": [1024, 1024, 1024, 1024],
            "model": ["closed_form", "link_level"] * 2,
            "time_ns": [1000, 1000, 2000, 2100],
            "time_us": [1.0, 1.0, 2.0, 2.1],
            "busbw_gbps": [1.0, 1.0, 0.5, 0.48],
        }
    )
    agreement = model_agreement(metrics, ("algorithm", "size_bytes")).set_index("algorithm")
    assert agreement.loc["ring", "rel_diff_pct"] == 0.0
    assert agreement.loc["tree", "rel_diff_pct"] == pytest.approx(5.0)
    with pytest.raises(ValueError, match="both models"):
        model_agreement(metrics[metrics["model"] == "closed_form"], ("algorithm", "size_bytes"))


def test_discovery_registers_the_harness_figures():
    registry, errors = load_all(keep_going=True)
    assert set(HARNESS_FIGURES) <= {spec.id for spec in registry}
    assert "harness_core" not in errors
    for figure_id in HARNESS_FIGURES:
        spec = registry.get(figure_id)
        assert spec.scenarios and spec.quick_overrides  # quick profile is a real reduction of the sweep


@pytest.mark.slow
def test_real_harness_figures_on_quick_profile(tmp_path):
    """The two collective figures end to end: scenarios -> run store -> PNG + CSV + gallery (about 10 s)."""
    registry, _ = load_all(keep_going=True)
    specs = select_figures(registry, only=list(HARNESS_FIGURES))
    settings = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    report = render_figures(specs, settings, registry=registry)
    assert not report.failed, report.failed
    for figure_id in HARNESS_FIGURES:
        record = json.loads((tmp_path / "figures" / "harness" / f"{figure_id}.json").read_text())
        assert record["provenance"]["devices"] == ["h100"]
        # the DESIGN.md check: with no contention, link-level simulation == closed form at every point
        data = pd.read_csv(tmp_path / "figures" / "harness" / f"{figure_id}.csv")
        assert len(data) >= 30 and (data["time_ns_link_level"] == data["time_ns_closed_form"]).all()
        assert "largest difference 0 ns (0%)" in record["ours"]
        assert assert_recomputes(registry.get(figure_id), tmp_path / "figures").status == "reproduced"
    assert "tree/ring time at 128 ranks" in report.gallery_path.read_text()
    again = render_figures(specs, settings, registry=registry)
    assert [result.status for result in again.results] == ["cached", "cached"]
