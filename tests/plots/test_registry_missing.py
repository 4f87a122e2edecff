"""Checklist entries declared not reconstructable (`register_missing`) instead of placeholder figures."""

from __future__ import annotations

import pandas as pd
import pytest

from plots.registry import FigureOutput, FigureRegistry, load_checklist, register_figure, register_missing


def _draw(ctx):
    return FigureOutput(data=pd.DataFrame({"x": [1]}), ours="1")


def _figure(registry, figure_id="greedylore.tab6"):
    register_figure(id=figure_id, paper="greedylore", kind="table", title="t", caption="c", claim="—",
                    scale_note="s", registry=registry)(_draw)


def test_missing_entries_are_listed_by_paper_with_their_reason():
    registry = FigureRegistry()
    entry = register_missing("greedylore.tab6", "  no source describes the table's content ", registry=registry)
    _figure(registry, "greedylore.tab1")
    assert (entry.id, entry.paper, entry.reason) == ("greedylore.tab6", "greedylore", "no source describes the "
                                                     "table's content")
    assert entry.checklist.kind == "table"
    assert registry.missing("greedylore") == [entry] and registry.missing("moc") == [] and registry.missing() == [entry]
    assert "greedylore.tab6" not in registry  # not a figure: nothing to draw

    unregistered = {e.id for e in registry.unregistered("greedylore")}
    greedylore = {i for i, e in load_checklist().items() if e.paper == "greedylore"}
    expected = greedylore - {"greedylore.tab1", "greedylore.tab6"}
    assert unregistered == expected
    assert len(registry.unregistered()) == len(load_checklist()) - 2


@pytest.mark.parametrize(
    "setup, figure_id, reason, message",
    [
        (None, "greedylore.tab_made_up", "r", "not in the figure checklist"),
        (None, "greedylore.tab6", "   ", "needs its reason"),
        ("figure", "greedylore.tab6", "r", "registered as a figure"),
        ("missing", "greedylore.tab6", "r", "declared not reconstructable twice"),
    ],
)
def test_bad_missing_declarations_are_rejected(setup, figure_id, reason, message):
    registry = FigureRegistry()
    if setup == "figure":
        _figure(registry)
    elif setup == "missing":
        register_missing("greedylore.tab6", "first", registry=registry)
    with pytest.raises(ValueError, match=message):
        register_missing(figure_id, reason, registry=registry)


def test_a_figure_cannot_be_registered_for_a_missing_entry():
    registry = FigureRegistry()
    register_missing("greedylore.tab6", "unknown content", registry=registry)
    with pytest.raises(ValueError, match="also declared not reconstructable"):
        _figure(registry)
