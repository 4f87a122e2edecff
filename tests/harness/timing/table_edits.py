"""Edits of a copied timing-table set for the timing tests: an op's rows replaced or given bfloat16 twins, the
device's roofline keys changed, meta.json kept in step with the CSVs."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

TIME_COLUMNS = ("time_ms_median", "time_ms_p10", "time_ms_p90")


def _edit_meta(folder: Path, edit) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    edit(meta)
    (folder / "meta.json").write_text(json.dumps(meta))


def set_rows(folder: Path, op: str, frame: pd.DataFrame) -> None:
    """``op``'s table becomes ``frame`` (its row count recorded in meta.json)."""
    frame.to_csv(folder / f"{op}.csv", index=False)
    _edit_meta(folder, lambda meta: meta["ops"][op].update(rows=len(frame)))


def add_bf16_rows(folder: Path, ops: Iterable[str], scale: float) -> None:
    """Each of ``ops`` gets bfloat16 rows: its float32 rows with their times times ``scale``."""
    for op in ops:
        frame = pd.read_csv(folder / f"{op}.csv")
        bf16 = frame.assign(dtype="bfloat16", **{c: frame[c] * scale for c in TIME_COLUMNS})
        set_rows(folder, op, pd.concat([frame, bf16]))


def update_roofline(folder: Path, **keys) -> None:
    """meta.json's roofline keys (``kernel_floor_us``, ``dispatch_gap_us``, ``matmul_tflops``, ...) replaced."""
    _edit_meta(folder, lambda meta: meta["roofline"].update(keys))
