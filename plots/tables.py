"""Render a table-kind figure (a DataFrame) as a PNG image and as an escaped HTML table for the gallery."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from plots.style import figure_style, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_CELL_CHARS = 40


def _cell_text(value: object) -> str:
    if isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def table_figure(table: pd.DataFrame, title: str) -> Figure:
    """A matplotlib Figure showing ``table`` (index included when it is not a plain RangeIndex)."""
    shown = table if isinstance(table.index, pd.RangeIndex) else table.reset_index()
    n_rows, n_cols = shown.shape
    width_in = min(16.0, max(4.0, 1.3 * max(n_cols, 1)))
    height_in = min(20.0, 0.5 + 0.2 * (n_rows + 1))
    fig, (ax,) = new_figure(width_in=width_in, height_in=height_in)
    fig.set_layout_engine("none")  # a lone table axis has no decorations for constrained layout to arrange
    with figure_style():
        ax.axis("off")
        ax.set_title(title, loc="left")
        if n_cols:
            cells = [[_cell_text(value) for value in row] for row in shown.itertuples(index=False)]
            drawn = ax.table(
                cellText=cells or None,
                colLabels=[_cell_text(column) for column in shown.columns],
                loc="upper left",
                cellLoc="left",
                colLoc="left",
            )
            drawn.auto_set_font_size(False)
            drawn.set_fontsize(8)
            drawn.auto_set_column_width(list(range(n_cols)))
    return fig


def table_html(table: pd.DataFrame) -> str:
    """``table`` as an HTML ``<table>`` fragment; every cell and header is HTML-escaped."""
    shown = table if isinstance(table.index, pd.RangeIndex) else table.reset_index()
    return shown.to_html(
        index=False, escape=True, border=0, classes="data", float_format=lambda value: f"{value:.4g}", na_rep="—"
    )
