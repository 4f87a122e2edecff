"""Render a table-kind figure (a DataFrame) as a PNG image and as an escaped HTML table for the gallery.

Both use one normalised view of the table (`shown_table`): a meaningful index becomes the leading column(s), column
labels are flat strings (multi-level labels joined, the columns' axis name dropped, so no empty header cell), and
numbers are rounded for people (`cell_text`). The HTML keeps every cell's full text; only the PNG shortens long
cells to fit.
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from plots.style import figure_style, new_figure

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_CELL_CHARS = 40  # PNG only


def significant(value: float, digits: int) -> str:
    """``value`` to ``digits`` significant digits, with whole numbers below 10,000 written out: 250 as "250", not
    "2.5e+02"."""
    text = f"{value:.{digits}g}"
    return f"{value:.0f}" if "e+" in text and abs(value) < 1e4 else text


def cell_text(value: object) -> str:
    """A cell for people: floats to 4 significant digits (thousands as whole numbers), missing as "—"."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float) and not isinstance(value, bool):
        if math.isinf(value):
            return "∞" if value > 0 else "−∞"
        if abs(value) >= 1e4 and abs(value) < 1e15:
            return f"{value:,.0f}"
        text = f"{value:.4g}"
        return f"{value:,.0f}" if "e+" in text and abs(value) < 1e4 else text  # 9999.5 as "10,000", not "1e+04"
    return str(value)


def _label(column: object) -> str:
    if isinstance(column, tuple):
        return " ".join(str(part) for part in column if str(part).strip())
    return str(column)


def shown_table(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` as displayed: index (when not a plain RangeIndex) as leading column(s), flat string headers."""
    shown = table.copy()
    if not isinstance(shown.index, pd.RangeIndex):
        names = [name if name is not None else "" for name in shown.index.names]
        shown.index = shown.index.set_names(names)
        shown = shown.reset_index()
    shown.columns = [_label(column) for column in shown.columns]
    return shown


def _short(text: str) -> str:
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def table_figure(table: pd.DataFrame, title: str) -> Figure:
    """A matplotlib Figure showing ``table`` (for the PNG download; the gallery shows the HTML)."""
    shown = shown_table(table)
    n_rows, n_cols = shown.shape
    width_in = min(16.0, max(4.0, 1.3 * max(n_cols, 1)))
    height_in = min(20.0, 0.5 + 0.2 * (n_rows + 1))
    fig, (ax,) = new_figure(width_in=width_in, height_in=height_in)
    fig.set_layout_engine("none")  # a lone table axis has no decorations for constrained layout to arrange
    with figure_style():
        ax.axis("off")
        ax.set_title(title, loc="left")
        if n_cols:
            cells = [[_short(cell_text(value)) for value in row] for row in shown.itertuples(index=False)]
            drawn = ax.table(
                cellText=cells or None,
                colLabels=[_short(column) for column in shown.columns],
                loc="upper left",
                cellLoc="left",
                colLoc="left",
            )
            drawn.auto_set_font_size(False)
            drawn.set_fontsize(8)
            drawn.auto_set_column_width(list(range(n_cols)))
    return fig


def table_html(table: pd.DataFrame) -> str:
    """``table`` as an HTML ``<table>`` fragment with full cell text; every cell and header is HTML-escaped."""
    shown = shown_table(table)
    head = "".join(f"<th>{html.escape(column)}</th>" for column in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell_text(value))}</td>" for value in row) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
