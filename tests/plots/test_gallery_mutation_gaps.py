"""Gaps in the tests of `plots.gallery` found by a mutation audit, closed on a page built from hand-written records.

Six registered figures (one reproduced, one partly, one not reproduced, one failed, one not run, one record whose
verdict status is unknown) and one entry declared not reconstructable; every count below is derived by hand.
Closed: a zero count shown as 1 or left out, the "no verdict" column of the per-paper table, its "drawn" column and
the harness row's checklist cell, each paper's intro and verdict line, the summary table's verdict and drawn cells
("failed" for a failed figure), how many harness figures the lede names, an unknown verdict status counted as a
verdict; the checks' wording for an exact value, "at most" and "above"; a failed figure's provenance (no run lines),
the static-figure note, the reused-run count, extra provenance names and nested values, "no timing table consulted",
other timing and collective sources, an op with no predicted time, the missing-tables warning without ops, and a
load average exactly at the CPU count (not "busier").
"""

from __future__ import annotations

import json
import re

import pytest

from plots.gallery import gallery_html, number
from plots.registry import FigureRegistry, register_figure, register_missing
from plots.runner import RECORD_VERSION


def _never_drawn(ctx):
    raise AssertionError("the page is built from records only")


def _check(name, kind, paper, ours, holds, low=None, high=None):
    return {"name": name, "kind": kind, "paper": paper, "ours": ours, "low": low, "high": high, "holds": holds}


VERDICTS = {
    "arctopk.fig2": {"status": "reproduced", "label": "reproduced", "explanation": "as claimed",
                     "checks": [_check("ratio", "within", "1", 1.0, True, low=1.0, high=1.0)]},
    "arctopk.fig3": {"status": "not_reproduced", "label": "not reproduced", "explanation": "slower",
                     "checks": [_check("time", "at_most", "at most 2.5", 3.0, False, high=2.5),
                                _check("gain", "above", "positive", -0.5, False, low=0.0)]},
    "harness.test_a": {"status": "partly", "label": "partly reproduced", "explanation": "half",
                       "checks": [_check("x", "at_least", "1", 2.0, True, low=1.0),
                                  _check("y", "at_least", "1", 0.5, False, low=1.0)]},
    "harness.test_b": {"status": "bogus", "label": "?", "explanation": "from an unknown layout", "checks": []},
}
PROVENANCE = {
    "harness.test_a": {
        "scale": "tiny", "devices": [], "runs_total": 3, "runs_reused": 1, "timing_sources": {},
        "timing_sources_recorded": 2, "timing_sources_by_op": {},
        "collective_sources": {"all_gather": {"exact": 0}, "all_reduce": {"exact": 1, "ring_model": 2}},
        "time_by_source_ms": {"copy": {"exact": 0.0}, "matmul": {"roofline": 30.0}},
        "missing_table_sets": {"h100": []},
        "host_load": {"cpus": 2, "load_average_1m_max": 2.0, "runs": 3},
        "extra": {"seed_count": 3, "sizes": {"a": {"n": 10000}}, "empty": {}},
    },
    "harness.test_b": {"scale": "tiny", "devices": ["cpu"], "runs_total": 1, "runs_reused": 0,
                       "timing_sources": {"exact": 2, "fitted": 3},
                       "timing_sources_by_op": {"matmul": {"exact": 2, "fitted": 3}}},
}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery")
    registry = FigureRegistry()
    for figure_id, paper, kind, computed in (("arctopk.fig2", "arctopk", "figure", True),
                                             ("arctopk.fig3", "arctopk", "figure", True),
                                             ("arctopk.fig4", "arctopk", "figure", True),
                                             ("arctopk.tab1", "arctopk", "table", False),
                                             ("harness.test_a", "harness", "figure", True),
                                             ("harness.test_b", "harness", "figure", True)):
        register_figure(id=figure_id, paper=paper, kind=kind, title=f"title of {figure_id}", caption="c",
                        claim=f"claim of {figure_id}", scale_note="tiny", computed=computed,
                        registry=registry)(_never_drawn)
        base = {"record_version": RECORD_VERSION, "id": figure_id, "paper": paper, "kind": kind, "profile": "quick"}
        if figure_id == "arctopk.fig4":
            record = {**base, "status": "failed", "error": "ValueError: boom\nsecond line", "verdict": None,
                      "files": {}, "provenance": {"scale": "tiny"}}
        elif figure_id in VERDICTS:
            record = {**base, "status": "ok", "ours": f"ours {figure_id}", "verdict": VERDICTS[figure_id],
                      "files": {"png": f"{figure_id}.png", "csv": f"{figure_id}.csv"},
                      "provenance": PROVENANCE.get(figure_id, {"scale": "tiny", "runs_total": 0}),
                      "drawn_at": "2025-01-01T00:00:00+00:00"}
        else:
            continue  # arctopk.tab1: not run
        (out / paper).mkdir(exist_ok=True)
        (out / paper / f"{figure_id}.json").write_text(json.dumps(record))
    register_missing("arctopk.tab2", "its cells are unknown", registry=registry)
    return gallery_html(registry, out)


def _between(page, start, end):
    part = page[page.index(start):]
    return part[: part.index(end)]


def _badge_counts(text):
    return dict(re.findall(r'class="badge v-(\w+)">[^<]+</span> (\d+)', text))


def test_the_lede_and_the_verdict_counts_over_every_figure(page):
    top = page[: page.index("<h2>By paper</h2>")]
    assert "<b>2 of the 118 figures and tables</b>" in top and "(4 registered); 1 is not reconstructable" in top
    assert "and 113 are not drawn yet. 2 more figures check the simulator itself." in top
    assert "Verdicts over all 6 registered figures:" in top
    assert _badge_counts(top) == {"reproduced": "1", "partly": "1", "not_reproduced": "1", "not_checkable": "0",
                                  "none": "3"}  # failed, not run, unknown status


def test_the_per_paper_table(page):
    by_paper = _between(page, "<h2>By paper</h2>", "<h2>Summary</h2>")

    def row(paper):
        cells = re.search(rf'href="#paper-{paper}">[^<]+</a></td>((?:<td class="num">[^<]*</td>)+)', by_paper)
        return re.findall(r">([^<]*)</td>", cells.group(1))

    # checklist, registered, drawn, reproduced, partly, not reproduced, not checkable, no verdict, missing, not yet
    assert row("arctopk") == ["10", "4", "2", "1", "0", "1", "0", "2", "1", "5"]
    assert row("harness") == ["—", "2", "2", "0", "1", "0", "0", "1", "0", "0"]


def test_each_papers_intro_and_verdict_line(page):
    arctopk = _between(page, '<section id="paper-arctopk">', "</section>")
    assert "<p>2 of 10 checklist entries drawn; 1 not reconstructable; 5 not drawn yet.</p>" in arctopk
    line = _between(arctopk, "<p>Verdicts: ", "</p>")
    assert _badge_counts(line) == {"reproduced": "1", "partly": "0", "not_reproduced": "1", "not_checkable": "0",
                                   "none": "2"}
    assert line.endswith("2 (failed or not run)")
    assert "<p>2 of 2 figures drawn.</p>" in _between(page, '<section id="paper-harness">', "</section>")


def test_summary_rows_show_verdict_and_drawn_state(page):
    summary = _between(page, "<h2>Summary</h2>", "</table>")
    assert ('<tr><td><a href="#arctopk.fig3"><code>arctopk.fig3</code></a></td><td>title of arctopk.fig3</td>'
            '<td>figure</td><td><span class="badge v-not_reproduced">not reproduced</span></td>'
            '<td><span class="d-ok">drawn</span></td><td>claim of arctopk.fig3</td><td>ours arctopk.fig3</td></tr>'
            ) in summary
    assert ('<td><span class="badge v-none">no verdict</span></td><td><span class="d-failed">failed</span></td>'
            '<td>claim of arctopk.fig4</td>') in summary
    assert ('<td><span class="badge v-none">no verdict</span></td><td><span class="d-not-run">not run</span></td>'
            '<td>claim of arctopk.tab1</td>') in summary
    assert ('<td><span class="badge v-none">no verdict</span></td><td><span class="d-ok">drawn</span></td>'
            '<td>claim of harness.test_b</td>') in summary


def test_check_wording_for_an_exact_value_at_most_and_above(page):
    assert "ratio: ours 1, exactly 1 (paper: 1): holds" in page
    assert "time: ours 3, at most 2.5 (paper: at most 2.5): does not hold" in page
    assert "gain: ours -0.5, above 0 (paper: positive): does not hold" in page


def test_a_failed_figure_lists_only_its_scale_and_a_static_one_says_so(page):
    failed = _between(page, '<article class="entry" id="arctopk.fig4">', "</article>")
    assert '<ul class="prov"><li><b>scale</b>: tiny</li></ul>' in failed
    static = _between(page, '<article class="entry" id="arctopk.tab1">', "</article>")
    assert "<li><b>source</b>: static: no computation</li>" in static


def test_provenance_lines_for_people(page):
    entry = _between(page, '<article class="entry" id="harness.test_a">', "</article>")
    for line in (
        "<li><b>runs</b>: 3 (1 reused from the run store)</li>",
        "<li><b>compute times</b>: no timing table consulted</li>",
        "<li><b>collective times (measured tables)</b>: all_gather: none; all_reduce: 1 measured, 2 ring_model</li>",
        "<li><b>predicted time from the roofline</b>: 100% (matmul 100%)</li>",
        "<li><b>machine load</b>: 1-minute load average up to 2.00 on 2 CPUs around its runs</li>",
        "<li><b>seed count</b>: 3</li>",
        "<li><b>sizes</b>: a: n: 10,000</li>",
        "<li><b>empty</b>: none</li>",
        "No timing tables for &#x27;h100&#x27;: every predicted compute time in this figure are roofline estimates",
    ):
        assert line in entry
    other = _between(page, '<article class="entry" id="harness.test_b">', "</article>")
    assert "<li><b>compute times (predictions)</b>: matmul: 2 table, 0 roofline, 3 fitted</li>" in other


@pytest.mark.parametrize(("value", "text"), [(1234.5, "1234"), (999.7, "1000"), (999.4, "999"), (12345.6, "12,346"),
                                             (0.00012345, "0.000123"), (1e16, "1e+16"), (-2500.0, "-2500")])
def test_numbers_between_a_thousand_and_ten_thousand_are_written_out(value, text):
    """Three significant digits put 1234.5 as "1.23e+03"; people read whole numbers there."""
    assert number(value) == text
