"""One fixed matplotlib style for every figure, so the gallery looks like one document.

Draw functions create figures with `new_figure` (which applies the style and the Agg backend) and pick series
colours from `SERIES_COLORS` / `color_for`, so "ring" or "ARC" keep one colour across figures. Nothing here is
applied globally: the style lives in an ``rc_context`` around each figure's creation and drawing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

STYLE_RC: dict[str, Any] = {
    "figure.dpi": 100,
    "savefig.dpi": 150,
    "savefig.bbox": "tight",
    "figure.facecolor": "white",
    "axes.facecolor": "white",
    "axes.grid": True,
    "axes.grid.which": "major",
    "grid.color": "#d9d9d9",
    "grid.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "lines.linewidth": 1.6,
    "lines.markersize": 5,
    "font.family": "DejaVu Sans",
    "svg.hashsalt": "effml-harness",  # deterministic ids if anyone saves SVG
}

# Colour-blind-safe palette (Okabe-Ito), assigned in order to series without a fixed colour.
PALETTE: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
)

# Series names that keep one colour across every figure.
SERIES_COLORS: dict[str, str] = {
    "ring": "#0072B2",
    "tree": "#D55E00",
    "closed_form": "#000000",
    "link_level": "#E69F00",
    "measured": "#009E73",
    "dense": "#000000",
}


def color_for(name: str, index: int = 0) -> str:
    """The fixed colour of series ``name`` if it has one, else the ``index``-th palette colour."""
    return SERIES_COLORS.get(name, PALETTE[index % len(PALETTE)])


@contextlib.contextmanager
def figure_style() -> Iterator[None]:
    """Apply the project style inside the block (matplotlib rc_context; nothing leaks out)."""
    import matplotlib

    with matplotlib.rc_context(STYLE_RC):
        yield


def new_figure(
    nrows: int = 1,
    ncols: int = 1,
    *,
    width_in: float | None = None,
    height_in: float | None = None,
    sharex: bool = False,
    sharey: bool = False,
) -> tuple[Figure, Sequence[Axes]]:
    """A styled Figure and a flat list of its axes (``nrows * ncols`` of them).

    Uses the object-oriented API (`matplotlib.figure.Figure`), not pyplot, so no global figure manager keeps
    figures alive and any backend works headless.
    """
    from matplotlib.figure import Figure

    width_in = width_in if width_in is not None else 4.2 * ncols + 0.6
    height_in = height_in if height_in is not None else 3.4 * nrows + 0.4
    with figure_style():
        fig = Figure(figsize=(width_in, height_in), layout="constrained")
        axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=False)
    return fig, [ax for row in axes for ax in row]


def save_png(fig: Figure, path: str) -> None:
    """Write ``fig`` as PNG to ``path`` with the project style (the caller makes the write atomic)."""
    with figure_style():
        fig.savefig(path, format="png", metadata={"Software": None}, bbox_inches="tight", pad_inches=0.1)
