"""The gallery page: escaped text whatever the caption, claim or our number contain; relative links."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plots.gallery import gallery_html
from plots.registry import FigureOutput, FigureRegistry, register_figure
from plots.runner import RECORD_VERSION

TEXT = st.text(alphabet=st.sampled_from(list("ab <>&\"'/=;é")), min_size=1, max_size=30).filter(str.strip)
# record text (our number, explanations) also has absolute paths reduced (test_gallery_people), so no "/" here
RECORD_TEXT = st.text(alphabet=st.sampled_from(list("ab <>&\"'=;é")), min_size=1, max_size=30).filter(str.strip)


class _CellText(HTMLParser):
    """Collects the text of every <td> and <p> as a browser would show it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.cells, self._open = [], None

    def handle_starttag(self, tag, attrs):
        if tag in ("td", "p"):
            self._open = []

    def handle_endtag(self, tag):
        if tag in ("td", "p") and self._open is not None:
            self.cells.append("".join(self._open))
            self._open = None

    def handle_data(self, data):
        if self._open is not None:
            self._open.append(data)


def _draw(ctx):
    return FigureOutput(data=pd.DataFrame(), ours="-")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(claim=TEXT, ours=RECORD_TEXT, caption=TEXT, explanation=RECORD_TEXT)
def test_any_text_is_escaped(tmp_path, claim, ours, caption, explanation):
    registry = FigureRegistry()
    register_figure(id="harness.test_text", paper="harness", kind="figure", title="t", caption=caption,
                    claim=claim, scale_note="s", registry=registry)(_draw)
    record = {"record_version": RECORD_VERSION, "id": "harness.test_text", "status": "ok", "ours": ours,
              "profile": "quick", "files": {"png": "harness.test_text.png", "csv": "harness.test_text.csv"},
              "verdict": {"status": "not_checkable", "label": "not checkable", "explanation": explanation,
                          "checks": []},
              "provenance": {"devices": ["cpu"], "timing_sources": {}, "runs_total": 1, "runs_reused": 0}}
    (tmp_path / "harness").mkdir(exist_ok=True)
    (tmp_path / "harness" / "harness.test_text.json").write_text(json.dumps(record))

    page = gallery_html(registry, tmp_path)
    parser = _CellText()
    parser.feed(page)
    # shown verbatim as text (not parsed as markup): in the summary and in the claim-vs-ours table
    assert parser.cells.count(claim) >= 2 and parser.cells.count(ours) >= 2
    assert any(caption.strip() in cell for cell in parser.cells)
    assert any(explanation in cell for cell in parser.cells)
    assert 'src="harness/harness.test_text.png"' in page and 'href="harness/harness.test_text.csv"' in page


def _page_with_provenance(tmp_path, provenance, **spec):
    registry = FigureRegistry()
    register_figure(id="harness.test_device", paper="harness", kind="figure", title="t", caption="c", claim="x",
                    scale_note="s", registry=registry, **spec)(_draw)
    record = {"record_version": RECORD_VERSION, "id": "harness.test_device", "status": "ok", "ours": "-",
              "profile": "quick", "files": {"png": "harness.test_device.png", "csv": "harness.test_device.csv"},
              "verdict": {"status": "not_checkable", "label": "not checkable", "explanation": "e", "checks": []},
              "provenance": {"timing_sources": {}, "runs_reused": 0, **provenance}}
    (tmp_path / "harness").mkdir(exist_ok=True)
    (tmp_path / "harness" / "harness.test_device.json").write_text(json.dumps(record))
    return gallery_html(registry, tmp_path)


def test_the_device_line_names_simulated_devices_or_says_none_was_simulated(tmp_path):
    assert "<b>device</b>: h100, cpu" in _page_with_provenance(tmp_path, {"devices": ["h100", "cpu"], "runs_total": 2})
    # runs of kinds without a device (real training on this machine) are not a missing record
    page = _page_with_provenance(tmp_path, {"devices": [], "runs_total": 3})
    assert "<b>device</b>: none simulated (the runs computed on this machine)" in page
    assert "not recorded" not in page
    assert "<b>device</b>" not in _page_with_provenance(tmp_path, {"devices": [], "runs_total": 0})


def test_the_machine_load_around_the_runs_is_listed_only_where_recorded(tmp_path):
    page = _page_with_provenance(tmp_path, {"runs_total": 3, "host_load": {"cpus": 2, "load_average_1m_max": 3.29,
                                                                            "runs": 3}})
    assert "<b>machine load</b>: 1-minute load average up to 3.29 on 2 CPUs around its runs (busier than its CPUs)" \
        in page
    assert "<b>machine load</b>" not in _page_with_provenance(tmp_path, {"runs_total": 3, "host_load": {}})


@pytest.mark.parametrize(("measures_time", "load", "warned"), [
    (True, 2.01, True), (True, 2.0, False), (False, 3.5, False)])
def test_a_timed_verdict_is_flagged_when_other_work_shared_the_cpus(tmp_path, measures_time, load, warned):
    page = _page_with_provenance(tmp_path, {"runs_total": 1, "host_load": {"cpus": 2, "load_average_1m_max": load,
                                                                            "runs": 1}},
                                 measures_time=measures_time)
    warning = ("This verdict rests on times measured in its runs, and other work shared the CPUs around them "
               f"(1-minute load average up to {load:.2f} on 2 CPUs)")
    assert (warning in page) is warned
    assert ('class="warning"' in page) is warned
