"""Spread over seeds for the convergence figures of every paper: per-step mean with a min-max band, and
"mean ± std" cells for tables.

A run is identified by its sweep point without the seed, so ``over_seeds(frame, by=["method"], x="step",
y="loss")`` averages the seeds of each method at each step. Used by the figure modules in `plots.papers`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from plots.tables import significant

SEED_COLUMN = "seed"


def n_seeds(frame: pd.DataFrame) -> int:
    """Distinct seeds in ``frame`` (1 when it has no seed column)."""
    return int(frame[SEED_COLUMN].nunique()) if SEED_COLUMN in frame.columns else 1


def over_seeds(frame: pd.DataFrame, by: Sequence[str], x: str, y: str | Sequence[str]) -> pd.DataFrame:
    """Per group of ``by`` and value of ``x``: ``<y>_mean``, ``<y>_std``, ``<y>_min``, ``<y>_max`` over seeds,
    plus ``n_seeds`` (the seeds with a value of some ``y`` there). Rows where ``y`` is missing (steps without an
    evaluation) are left out per column."""
    ys = [y] if isinstance(y, str) else list(y)
    keys = [*by, x]
    parts = []
    for column in ys:
        stats = frame.dropna(subset=[column]).groupby(keys, sort=False)[column].agg(["mean", "std", "min", "max"])
        stats.columns = [f"{column}_{name}" for name in stats.columns]
        parts.append(stats)
    present = frame.dropna(subset=ys, how="all")
    seeds = present.groupby(keys, sort=False)[SEED_COLUMN].nunique() if SEED_COLUMN in frame.columns else None
    out = pd.concat(parts, axis=1)
    out["n_seeds"] = seeds if seeds is not None else 1
    out = out.reset_index()
    for column in ys:
        out[f"{column}_std"] = out[f"{column}_std"].fillna(0.0)  # one seed: no spread
    return out


def final_over_seeds(frame: pd.DataFrame, by: Sequence[str], y: str, x: str = "step") -> pd.DataFrame:
    """Per group of ``by``: the last recorded ``y`` of each seed's run, then its mean, std, min, max, n_seeds."""
    run_keys = [*by, SEED_COLUMN] if SEED_COLUMN in frame.columns else list(by)
    last = frame.dropna(subset=[y]).sort_values(x).groupby(run_keys, sort=False)[y].last().reset_index()
    stats = last.groupby(list(by), sort=False)[y].agg(["mean", "std", "min", "max", "count"]).reset_index()
    stats["std"] = stats["std"].fillna(0.0)
    return stats.rename(columns={"count": "n_seeds"})


def draw_band(ax: Any, summary: pd.DataFrame, x: str, y: str, *, color: str, label: str, **line: Any) -> None:
    """Mean line of ``y`` with its min-max band over seeds (a summary from `over_seeds`)."""
    summary = summary.sort_values(x)
    ax.plot(summary[x], summary[f"{y}_mean"], color=color, label=label, **line)
    if (summary[f"{y}_max"] > summary[f"{y}_min"]).any():
        ax.fill_between(summary[x], summary[f"{y}_min"], summary[f"{y}_max"], color=color, alpha=0.15, linewidth=0)


def pm(mean: float, std: float, digits: int = 3) -> str:
    """A table cell "mean ± std" (``digits`` significant digits, one fewer for the std); NaN shows as "n/a" (a
    std is NaN for one seed)."""
    if not np.isfinite(mean):
        return "n/a"
    spread = significant(std, max(1, digits - 1)) if np.isfinite(std) else "n/a"
    return f"{significant(mean, digits)} ± {spread}"
