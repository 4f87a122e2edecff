"""The gallery reads as a document for people: verdicts and counts, anchors, missing entries, no reprs or paths.

Built twice: from a fake registry rendered through the runner (every verdict status, a failure, a table, a
missing timing-table set, provenance full of nested values and machine paths), and from the real registry
(`plots.papers.load_all()`) without drawing anything, which checks every declared caption, claim and the checklist.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from plots.gallery import clean_text, gallery_html, human
from plots.registry import FigureOutput, FigureRegistry, load_checklist, register_figure, register_missing
from plots.runner import PROJECT_ROOT, RunSettings, render_figures
from plots.verdict import judge, not_checkable, ordered, within
from tests.plots.test_figure_runner import FakeRecord, FakeSweep

# Text that must never reach the page: Python reprs, machine paths, tracebacks, markers copied from notes.
FORBIDDEN = ("{'", "['", "/tmp/", "/root/", "/home/", "/work/", "Traceback", "[held out]", "object at 0x",
             "np.float", "array(", "dtype=", "nan%", "None</td>")

TIMINGS_INFO = {
    "table_set": "h100",
    "tables_missing": f"folder {PROJECT_ROOT}/results/timings/h100 does not exist",
    "tables_folder": None,
    "timing_sources": {"matmul": {"roofline": 219}, "copy": {"exact": 12, "interpolated": 2, "roofline": 0}},
    "time_by_source_ms": {"matmul": {"roofline": 30.0}, "copy": {"exact": 70.0}},
}


def _runner(path, overrides=(), **kwargs):
    info = {"timing_sources": {"roofline": 219, "exact": 12, "interpolated": 2, "estimate": 4},
            "timings": TIMINGS_INFO, "scenario": {"cluster": {"device": "h100"}}}
    record = FakeRecord(Path("/tmp/run"), "run-1", reused=True, info=info)
    return FakeSweep(pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.0, 6.0]}), [record])


def _figure(registry, figure_id, paper, verdict, *, kind="figure", fail=False):
    @register_figure(id=figure_id, paper=paper, kind=kind, title=f"title of {figure_id}", caption="What it shows.",
                     claim=f"claim of {figure_id}", scale_note="tiny", scenarios=("scenarios/fake.yaml",),
                     registry=registry)
    def draw(ctx):
        from plots.style import new_figure

        if fail:
            raise ValueError(f"bad value {{'a': 1}} in {PROJECT_ROOT}/scenarios/fake.yaml\nsecond line")
        data = ctx.run("scenarios/fake.yaml").metrics
        provenance = {"summary": data.to_dict(orient="records"), "table_sets": [f"h100: {Path.home()}/x/y"],
                      "ratio": 0.123456789, "flags": {"a": True, "b": [1, 2]}}
        if kind == "table":
            table = data.set_index("x")
            table.columns.name = "quantity"  # a pivot-like table: no empty header cell may come of it
            return FigureOutput(data=data, table=table, ours="y = 2 x", verdict=verdict, provenance=provenance)
        fig, (ax,) = new_figure()
        ax.plot(data["x"], data["y"])
        return FigureOutput(data=data, figure=fig, ours=f"slope {float(data['y'].iloc[0]) / 1.0:.1f}",
                            verdict=verdict, provenance=provenance)


@pytest.fixture(scope="module")
def fake_page(tmp_path_factory):
    out = tmp_path_factory.mktemp("gallery")
    registry = FigureRegistry()
    holds = within("slope", ours=2.0, low=1.5, high=2.5, paper="about 2")
    fails = within("offset", ours=1.23456, low=0.0, high=0.5, paper="below 0.5")
    _figure(registry, "arctopk.fig2", "arctopk", judge([holds], explanation="as the paper says"))
    _figure(registry, "arctopk.fig3", "arctopk", judge([holds, fails], explanation="slope yes, offset no"))
    _figure(registry, "arctopk.tab2", "arctopk", not_checkable("the paper's cells are not known"), kind="table")
    _figure(registry, "greedylore.fig1", "greedylore", judge(
        [ordered("loss", {"dense": 0.3, "ef": 0.2}, ["dense", "ef"], paper="dense <= ef")],
        explanation="error feedback came out better, unlike the paper"))
    _figure(registry, "greedylore.fig2", "greedylore", None, fail=True)
    _figure(registry, "harness.not_run", "harness", not_checkable("never drawn"))
    register_missing("greedylore.tab6", "no source describes this table's content", registry=registry)
    specs = [spec for spec in registry if spec.id != "harness.not_run"]
    render_figures(specs, RunSettings(out_dir=out, progress=False), registry=registry, run_scenario=_runner)
    return (out / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_fake_gallery_has_no_reprs_paths_or_markers(fake_page, forbidden):
    assert forbidden not in fake_page


def test_verdict_counts_at_the_top_and_per_paper(fake_page):
    top = fake_page[: fake_page.index("<h2>By paper</h2>")]
    assert "<b>5 of the 118 figures and tables</b>" not in top  # one of the five paper figures failed
    assert "<b>4 of the 118 figures and tables</b>" in top and "(5 registered); 1 is not reconstructable" in top
    counts = dict(re.findall(r'class="badge v-(\w+)">[^<]+</span> (\d+)', top))
    assert counts == {"reproduced": "1", "partly": "1", "not_reproduced": "1", "not_checkable": "1", "none": "2"}

    by_paper = fake_page[fake_page.index("<h2>By paper</h2>"): fake_page.index("<h2>Summary</h2>")]
    arctopk_row = re.search(r'href="#paper-arctopk">[^<]+</a></td>((?:<td class="num">[^<]*</td>)+)', by_paper)
    cells = re.findall(r">([^<]*)</td>", arctopk_row.group(1))
    # checklist, registered, drawn, reproduced, partly, not reproduced, not checkable, no verdict, missing, not yet
    assert cells == ["10", "3", "3", "1", "1", "0", "1", "0", "0", "7"]


def test_verdicts_explanations_and_checks_beside_claim_and_ours(fake_page):
    entry = fake_page[fake_page.index('<article class="entry" id="arctopk.fig3">'):]
    entry = entry[: entry.index("</article>")]
    assert "claim of arctopk.fig3" in entry and "slope 2.0" in entry and "partly reproduced" in entry
    assert "slope yes, offset no" in entry
    assert "offset: ours 1.23, band 0 to 0.5 (paper: below 0.5): does not hold" in entry  # rounded
    assert "error feedback came out better, unlike the paper" in fake_page and "not reproduced" in fake_page
    assert "loss: ours dense 0.3 ≤ ef 0.2 (paper: dense &lt;= ef): does not hold" in fake_page


def test_anchors_and_drawn_column(fake_page):
    for figure_id in ("arctopk.fig2", "arctopk.fig3", "arctopk.tab2", "greedylore.fig1", "greedylore.fig2",
                      "harness.not_run", "greedylore.tab6", "moc.fig1"):
        assert f'id="{figure_id}"' in fake_page  # index.html#<fig-id>
    assert 'href="#arctopk.fig3"' in fake_page
    assert "Drawing failed: ValueError: bad value" in fake_page and "second line" not in fake_page
    assert 'class="d-not-run">not run' in fake_page and 'class="d-ok">drawn' in fake_page


def test_missing_and_unregistered_entries_listed_under_their_paper(fake_page):
    section = fake_page[fake_page.index('<section id="paper-greedylore">'):]
    section = section[: section.index("</section>")]
    assert "Not reconstructable (1)" in section and "no source describes this table&#x27;s content" in section
    n_greedylore = sum(entry.paper == "greedylore" for entry in load_checklist().values())
    assert f"{n_greedylore - 3} checklist entries not drawn yet" in section  # fig1, fig2 registered, tab6 missing
    for paper in ("moc", "misa", "mecefo", "chelsea", "ractd", "tahquant", "frb", "battery"):
        assert f'<section id="paper-{paper}">' in fake_page  # papers with nothing drawn still list their entries


def test_provenance_for_people(fake_page):
    entry = fake_page[fake_page.index('<article class="entry" id="arctopk.fig2">'):]
    entry = entry[: entry.index("</article>")]
    assert "matmul: 0 table, 219 roofline" in entry and "copy: 14 table (2 interpolated), 0 roofline" in entry
    assert "predicted time from the roofline</b>: 30% (copy 0%, matmul 100%)" in entry
    assert "4 roofline estimates (FLOPs and bytes)" in entry
    assert "No timing tables for &#x27;h100&#x27;: the predicted times of matmul in this figure are roofline" in entry
    assert "ratio</b>: 0.123" in entry and "0.123456789" not in entry
    assert "x: 1, y: 2" in entry and "flags</b>: a: yes, b: 1, 2" in entry


def test_tables_are_shown_once_as_html_with_headers(fake_page):
    entry = fake_page[fake_page.index('<article class="entry" id="arctopk.tab2">'):]
    entry = entry[: entry.index("</article>")]
    assert "<img" not in entry and 'download>table as PNG image</a>' in entry
    assert entry.count('<table class="data">') == 1
    assert "<thead><tr><th>x</th><th>y</th></tr></thead>" in entry  # index named, no empty leading cell
    assert "<th></th>" not in entry


def test_clean_text_and_human():
    assert clean_text(f"see {PROJECT_ROOT}/results/timings/h100 and /tmp/abc/run.json") == (
        "see results/timings/h100 and run.json")
    assert clean_text("Top-K/Rand-K at 1/2 s/iter, https://arxiv.org/abs/2510.26709") == (
        "Top-K/Rand-K at 1/2 s/iter, https://arxiv.org/abs/2510.26709")
    assert human({"a": [1, 2.34567], "b": {"c": None, "d": 12345678.9}}) == "a: 1, 2.35, b: (c: —, d: 12,345,679)"
    assert human([{"x": 1}, {"x": 2}]) == "x: 1; x: 2" and human([]) == "none" and human(float("nan")) == "n/a"


# ---------------------------------------------------------------------------------------------- real registry

_OUTSIDE_REFERENCES = re.compile(r"research card|shared/|FIGURES\.md|DESIGN\.md|STYLE\.md|\[held out\]")
_FILE_REFERENCE = re.compile(r"\b[\w./-]+\.(?:md|py|yaml|yml|csv|json)\b")


@pytest.fixture(scope="module")
def real_registry():
    from plots.papers import load_all

    registry, errors = load_all(keep_going=True)
    assert errors == {}
    return registry


def test_real_gallery_without_records_is_clean(real_registry, tmp_path):
    page = gallery_html(real_registry, tmp_path)
    for forbidden in FORBIDDEN:
        assert forbidden not in page
    assert f"of the {len(load_checklist())} figures and tables</b>" in page
    for spec in real_registry:
        assert f'<article class="entry" id="{spec.id}">' in page


def _repository_files() -> set[str]:
    """Relative paths and bare names of the project's own files (the virtual environment and run store left out)."""
    found = set()
    for top in ("harness", "methods", "kernels", "plots", "scenarios", "tests", "benchmarks", "scripts", "results"):
        for path in (PROJECT_ROOT / top).rglob("*"):
            if path.is_file() and "runs" not in path.relative_to(PROJECT_ROOT).parts[:2]:
                found.update({path.relative_to(PROJECT_ROOT).as_posix(), path.name})
    return found | {path.name for path in PROJECT_ROOT.glob("*.md")}


@pytest.mark.parametrize("field", ["title", "caption", "claim", "scale_note"])
def test_real_specs_cite_only_the_paper_and_files_in_the_repository(real_registry, field):
    files = _repository_files()
    problems = []
    for spec in real_registry:
        text = getattr(spec, field)
        if match := _OUTSIDE_REFERENCES.search(text):
            problems.append(f"{spec.id}: {match.group(0)!r}")
        problems += [f"{spec.id}: {name} is not in the repository" for name in _FILE_REFERENCE.findall(text)
                     if name not in files]
    assert problems == []


def test_checklist_text_has_no_review_markers():
    for entry in load_checklist().values():
        for text in (entry.shows, entry.claim, entry.plan):
            assert not re.search(r"\[(held out|redacted|todo|tbd|\?+)\]", text, re.IGNORECASE), entry.id


def test_real_gallery_with_two_drawn_figures_is_clean(real_registry, tmp_path):
    """Two cheap real figures (a simulator check and a static table) drawn for real, then the whole page grepped."""
    from plots.runner import select_figures

    specs = select_figures(real_registry, only=["harness.collective_time_vs_size", "arctopk.tab1"])
    settings = RunSettings(out_dir=tmp_path / "figures", results_root=tmp_path / "runs", progress=False)
    report = render_figures(specs, settings, registry=real_registry)
    assert [r.status for r in report.results] == ["ok", "ok"], [r.error for r in report.results]
    page = report.gallery_path.read_text(encoding="utf-8")
    for forbidden in FORBIDDEN:
        assert forbidden not in page
    assert "<b>1 of the 118 figures and tables</b>" in page  # arctopk.tab1; the harness figure is not a paper's
    for result in report.results:
        entry = page[page.index(f'<article class="entry" id="{result.id}">'):]
        entry = entry[: entry.index("</article>")]
        assert f'class="badge v-{result.verdict}"' in entry and 'class="d-ok">drawn' in entry
        assert '<ul class="checks">' in entry or result.verdict == "not_checkable"
