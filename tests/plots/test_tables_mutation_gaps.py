"""Gaps in the tests of `plots.tables` found by a mutation audit, closed here with exact expected text.

The table figures' cells, headers and HTML had only indirect checks (escaping, no empty header cell). Closed: every
branch of `cell_text` (numpy scalars that are not Python floats, missing values, ±∞, the thousands range and its
edges, negative numbers, 4 significant digits), multi-level column labels, which index becomes a leading column
(named, unnamed, a plain RangeIndex), the PNG's shortened cells and title, and the exact escaped HTML.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from plots.tables import cell_text, shown_table, table_figure, table_html


@pytest.mark.parametrize("value, text", [
    (np.float32(1.2345678), "1.235"),  # not a Python float: its .item() is
    (np.int64(12345), "12345"),
    (None, "—"),
    (math.nan, "—"),
    (np.float64("nan"), "—"),
    (math.inf, "∞"),
    (-math.inf, "−∞"),
    (10000.0, "10,000"),  # the thousands range starts at 1e4 inclusive
    (9999.0, "9999"),
    (9999.5, "10,000"),  # rounds up to the thousands range: not "1e+04"
    (123456.0, "123,456"),
    (-12345.5, "-12,346"),
    (1e15, "1e+15"),  # and ends below 1e15
    (0.000123456, "0.0001235"),
    (7, "7"),
    (True, "True"),
    ("a<b", "a<b"),  # escaping is the HTML's job
])
def test_cell_text(value, text):
    assert cell_text(value) == text


def test_shown_table_headers_and_leading_index_columns():
    wide = pd.DataFrame([[1.0, 2.0]], columns=pd.MultiIndex.from_tuples([("loss", ""), ("acc", "mean")]))
    assert list(shown_table(wide).columns) == ["loss", "acc mean"]
    named = pd.DataFrame({"loss": [0.5]}, index=pd.Index(["arc"], name="method"))
    assert shown_table(named).values.tolist() == [["arc", 0.5]] and list(shown_table(named).columns) == ["method",
                                                                                                         "loss"]
    unnamed = pd.DataFrame({"loss": [0.5]}, index=["arc"])
    assert list(shown_table(unnamed).columns) == ["", "loss"]
    plain = pd.DataFrame({"loss": [0.5, 0.25]})
    assert list(shown_table(plain).columns) == ["loss"]


def test_table_html_exact_and_escaped():
    table = pd.DataFrame({"a<b": ["<i>x</i>", "y"], "n": [12345.0, math.nan]}, index=pd.Index([1, 3], name="k&"))
    assert table_html(table) == (
        '<table class="data"><thead><tr><th>k&amp;</th><th>a&lt;b</th><th>n</th></tr></thead><tbody>'
        "<tr><td>1</td><td>&lt;i&gt;x&lt;/i&gt;</td><td>12,345</td></tr>"
        "<tr><td>3</td><td>y</td><td>—</td></tr></tbody></table>"
    )


def test_table_figure_shortens_long_cells_to_forty_characters_and_keeps_the_title():
    import matplotlib.pyplot as plt

    exactly_40, longer = "x" * 40, "y" * 45
    figure = table_figure(pd.DataFrame({"text": [exactly_40, longer], "n": [0.000123456, 2.0]}), "Table 1")
    try:
        (ax,) = figure.axes
        assert ax.get_title(loc="left") == "Table 1"
        (drawn,) = ax.tables
        cells = {key: cell.get_text().get_text() for key, cell in drawn.get_celld().items()}
        assert (cells[(0, 0)], cells[(0, 1)]) == ("text", "n")
        assert (cells[(1, 0)], cells[(1, 1)]) == (exactly_40, "0.0001235")
        assert cells[(2, 0)] == "y" * 39 + "…"
    finally:
        plt.close(figure)
