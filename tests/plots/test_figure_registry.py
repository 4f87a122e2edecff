"""The figure registry rejects bad specs and keeps paper ids tied to the checklist (shared/FIGURES.md)."""

from __future__ import annotations

import pandas as pd
import pytest

from plots.registry import (
    KINDS,
    PAPERS,
    FigureOutput,
    FigureRegistry,
    FigureSpec,
    load_checklist,
    register_figure,
)


def _draw(ctx):
    return FigureOutput(data=pd.DataFrame({"x": [1]}), ours="1")


def _spec(**changes):
    fields = dict(
        id="harness.example",
        paper="harness",
        kind="figure",
        title="Example",
        caption="An example.",
        claim="—",
        scale_note="tiny",
        draw=_draw,
    )
    fields.update(changes)
    return FigureSpec(**fields)


def test_register_figure_adds_spec_and_returns_draw():
    registry = FigureRegistry()
    decorated = register_figure(
        id="harness.example", paper="harness", kind="figure", title="t", caption="c", claim="—",
        scale_note="s", scenarios=["a.yaml"], registry=registry,
    )(_draw)
    assert decorated is _draw
    spec = registry.get("harness.example")
    assert spec.scenarios == ("a.yaml",)  # lists become tuples: a frozen spec stays frozen
    assert spec.draw is _draw


def test_duplicate_id_is_rejected():
    registry = FigureRegistry()
    registry.add(_spec())
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(_spec(title="other"))


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"paper": "nosuchpaper", "id": "nosuchpaper.fig1"}, "unknown paper 'nosuchpaper'"),
        ({"kind": "movie"}, "unknown kind 'movie'"),
        ({"id": "moc.fig1"}, "must start with its paper"),
        ({"id": "Harness Example"}, "id must look like"),
        ({"paper": "moc", "id": "moc.fig_made_up"}, "not in the figure checklist"),
        ({"paper": "moc", "id": "moc.fig1", "kind": "table"}, "differs from the checklist"),
        ({"claim": "  "}, "claim must be a non-empty string"),
        ({"scale_note": ""}, "scale_note must be a non-empty string"),
        ({"quick_overrides": ("no-equals-sign",)}, "must look like 'key.path=value'"),
        ({"scenarios": "one/string.yaml"}, "sequence of strings"),
        ({"draw": "not callable"}, "draw must be a function"),
    ],
)
def test_bad_specs_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        _spec(**changes)


def test_unknown_id_lists_known_ones():
    registry = FigureRegistry()
    registry.add(_spec())
    with pytest.raises(KeyError, match="harness.example"):
        registry.get("harness.nope")


def test_iteration_follows_paper_order_then_id():
    registry = FigureRegistry()
    registry.add(_spec(id="moc.fig2", paper="moc", computed=False))
    registry.add(_spec(id="harness.b"))
    registry.add(_spec(id="harness.a"))
    registry.add(_spec(id="arctopk.tab1", paper="arctopk", kind="table"))
    assert [spec.id for spec in registry] == ["harness.a", "harness.b", "moc.fig2", "arctopk.tab1"]
    assert registry.papers() == ["harness", "moc", "arctopk"]


def test_paper_captions_say_the_text_was_not_read_and_state_the_scale():
    paper_spec = _spec(id="arctopk.fig2", paper="arctopk", scale_note="10 nodes, d = 2000")
    caption = paper_spec.full_caption
    assert "could not be read" in caption and "confidence: likely" in caption
    assert caption.endswith("Scale: 10 nodes, d = 2000")
    assert "could not be read" not in _spec().full_caption
    assert "could not be read" not in _spec(id="arctopk.fig2", paper="arctopk", paper_text_read=True).full_caption
    assert "Static" in _spec(computed=False).full_caption


def test_profile_overrides():
    spec = _spec(quick_overrides=("a.b=1",), full_overrides=("a.b=2",))
    assert spec.overrides("quick") == ("a.b=1",)
    assert spec.overrides("full") == ("a.b=2",)
    with pytest.raises(ValueError, match="unknown profile"):
        spec.overrides("medium")


def test_checklist_matches_figures_md_counts():
    checklist = load_checklist()
    assert len(checklist) == 118  # FIGURES.md "Count": 56 figures + 62 tables
    assert sum(entry.kind == "figure" for entry in checklist.values()) == 56
    assert {entry.paper for entry in checklist.values()} == set(PAPERS) - {"harness"}
    assert {entry.kind for entry in checklist.values()} <= set(KINDS)
    assert all(figure_id.startswith(entry.paper + ".") for figure_id, entry in checklist.items())
