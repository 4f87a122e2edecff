"""Gaps in the tests of `plots.style` found by a mutation audit.

Closed here:
- `color_for`: a named series keeps its fixed colour whatever its index; others take the palette in order, wrapping;
- `new_figure`: the default size grows with the grid (4.2 in a column + 0.6, 3.4 in a row + 0.4), given sizes win,
  the axes come back flat in row order, shared axes are shared, and the style applies to what is drawn inside;
- `figure_style` leaves the global matplotlib settings as they were;
- `save_png` writes a PNG at the style's 150 dpi without the matplotlib "Software" stamp.
"""

from __future__ import annotations

import matplotlib
import pytest

from plots.style import PALETTE, color_for, figure_style, new_figure, save_png


def test_a_named_series_keeps_its_colour_at_any_index():
    assert color_for("ring") == "#0072B2" and color_for("ring", 5) == "#0072B2"
    assert color_for("tree", 0) == "#D55E00"
    assert color_for("dense", 3) == "#000000"


def test_other_series_take_the_palette_in_order_and_wrap():
    assert [color_for("x", i) for i in range(3)] == ["#0072B2", "#E69F00", "#009E73"]
    assert color_for("x", 8) == "#0072B2" and color_for("x", 9) == "#E69F00"
    assert color_for("x", 7) == "#000000" and len(PALETTE) == 8


@pytest.mark.parametrize(("nrows", "ncols", "size"), [(1, 1, (4.8, 3.8)), (2, 3, (13.2, 7.2))])
def test_the_default_size_grows_with_the_grid(nrows, ncols, size):
    fig, axes = new_figure(nrows, ncols)
    assert tuple(fig.get_size_inches()) == pytest.approx(size)
    assert len(axes) == nrows * ncols


def test_a_given_size_wins_and_axes_come_flat_in_row_order():
    fig, axes = new_figure(2, 2, width_in=5.0, height_in=2.5)
    assert tuple(fig.get_size_inches()) == pytest.approx((5.0, 2.5))
    positions = [ax.get_subplotspec().get_geometry()[2] for ax in axes]
    assert positions == [0, 1, 2, 3]


def test_the_grid_has_nrows_rows_and_ncols_columns():
    _, axes = new_figure(2, 3)
    assert {ax.get_subplotspec().get_geometry()[:2] for ax in axes} == {(2, 3)}


def test_shared_axes_are_shared_only_when_asked():
    _, shared = new_figure(1, 2, sharex=True, sharey=True)
    assert shared[0].get_shared_x_axes().joined(shared[0], shared[1])
    assert shared[0].get_shared_y_axes().joined(shared[0], shared[1])
    _, only_x = new_figure(1, 2, sharex=True)
    assert only_x[0].get_shared_x_axes().joined(only_x[0], only_x[1])
    assert not only_x[0].get_shared_y_axes().joined(only_x[0], only_x[1])
    _, apart = new_figure(1, 2)
    assert not apart[0].get_shared_x_axes().joined(apart[0], apart[1])
    assert not apart[0].get_shared_y_axes().joined(apart[0], apart[1])


def test_the_style_applies_inside_and_nothing_leaks_out():
    before = matplotlib.rcParams["axes.grid"], matplotlib.rcParams["savefig.dpi"]
    with figure_style():
        assert matplotlib.rcParams["axes.grid"] is True and matplotlib.rcParams["savefig.dpi"] == 150
        assert matplotlib.rcParams["axes.spines.top"] is False
    assert (matplotlib.rcParams["axes.grid"], matplotlib.rcParams["savefig.dpi"]) == before
    _, axes = new_figure()
    assert not axes[0].spines["top"].get_visible() and axes[0].spines["left"].get_visible()


def test_save_png_writes_a_png_without_the_software_stamp(tmp_path):
    fig, axes = new_figure()
    axes[0].plot([0, 1], [0, 1])
    save_png(fig, str(tmp_path / "f.png"))
    data = (tmp_path / "f.png").read_bytes()
    assert data.startswith(b"\x89PNG") and b"Software" not in data and b"matplotlib" not in data
    width = int.from_bytes(data[16:20], "big")
    assert 600 < width <= (4.8 + 0.2) * 150  # 150 dpi, 0.1 in padding each side (100 dpi: at most 500 px)
