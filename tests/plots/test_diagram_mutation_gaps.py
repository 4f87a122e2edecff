"""Gaps in the tests of `plots.diagram` found by a mutation audit.

Closed here:
- `diagram_axes`: the given size, one unit-square axes with its frame off;
- `box`: a rounded box centred on (x, y) with the given size, colour and text;
- `arrow`: from start to end, solid or dashed, with its label beside the midpoint and no label when none is given.
"""

from __future__ import annotations

import pytest

from plots.diagram import arrow, box, diagram_axes


def test_diagram_axes_are_a_blank_unit_square_of_the_given_size():
    fig, ax = diagram_axes(width_in=5.0, height_in=3.0)
    assert tuple(fig.get_size_inches()) == pytest.approx((5.0, 3.0))
    assert ax.get_xlim() == (0, 1) and ax.get_ylim() == (0, 1)
    assert not ax.axison and fig.axes == [ax]


def test_a_box_is_centred_on_its_point():
    _, ax = diagram_axes()
    box(ax, 0.5, 0.4, "step", w=0.2, h=0.1, color="#ff0000", fontsize=9)
    (patch,) = ax.patches
    assert (patch.get_x(), patch.get_y()) == pytest.approx((0.4, 0.35))
    assert (patch.get_width(), patch.get_height()) == pytest.approx((0.2, 0.1))
    assert patch.get_facecolor() == pytest.approx((1.0, 0.0, 0.0, 1.0))
    (text,) = ax.texts
    assert text.get_text() == "step" and text.get_position() == (0.5, 0.4) and text.get_fontsize() == 9
    assert text.get_ha() == "center" and text.get_va() == "center"


def test_an_arrow_runs_from_start_to_end_with_its_label_beside_the_midpoint():
    _, ax = diagram_axes()
    arrow(ax, (0.1, 0.2), (0.5, 0.6), "data")
    note, label = ax.texts
    assert note.xy == (0.5, 0.6) and note.xyann == (0.1, 0.2)
    assert note.arrow_patch.get_linestyle() == "solid"
    assert label.get_text() == "data"
    assert label.get_position() == pytest.approx((0.31, 0.42))


def test_a_dashed_arrow_without_a_label_adds_no_text():
    _, ax = diagram_axes()
    arrow(ax, (0.0, 0.0), (1.0, 1.0), dashed=True)
    (note,) = ax.texts
    assert note.arrow_patch.get_linestyle() == "--"
