"""Static method diagrams: rounded boxes and labelled arrows on a unit square.

Shared by every paper's schematic figures (overviews, block diagrams); a diagram has no data to check, so its
figure carries a `plots.verdict.not_checkable` verdict. Coordinates are fractions of the axes (0..1).
"""

from __future__ import annotations

from typing import Any

from plots.style import new_figure


def diagram_axes(width_in: float = 7.0, height_in: float = 4.0) -> tuple[Any, Any]:
    """A new figure with one blank unit-square axes (no ticks, no frame)."""
    fig, axes = new_figure(width_in=width_in, height_in=height_in)
    ax = axes[0]
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    return fig, ax


def box(ax: Any, x: float, y: float, text: str, w: float = 0.22, h: float = 0.1, color: str = "#dddddd",
        fontsize: float = 7) -> None:
    """A rounded box centred at (x, y) with ``text`` inside."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.01", fc=color, ec="black"))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def arrow(ax: Any, start: tuple[float, float], end: tuple[float, float], text: str = "", *,
          dashed: bool = False) -> None:
    """An arrow from ``start`` to ``end``, with an optional label beside its midpoint."""
    style = {"arrowstyle": "->", "lw": 1.0}
    if dashed:
        style["linestyle"] = "--"
    ax.annotate("", xy=end, xytext=start, arrowprops=style)
    if text:
        ax.text((start[0] + end[0]) / 2 + 0.01, (start[1] + end[1]) / 2 + 0.02, text, fontsize=6)
