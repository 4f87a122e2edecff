"""Gaps in the tests of `harness.timing.table` found by a mutation audit.

Closed here: a shape value of exactly 2**53 loads (the bound is inclusive), a fractional shape value is kept as
it is, and a blank (tab-only) impl, a fractional repetition count and an infinite time are refused naming file,
line and column; a table's hash is the sha256 of its CSV's bytes.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from harness.errors import TimingTableError
from harness.timing.table import load_table

FIXTURE = Path(__file__).parents[2] / "data" / "timings" / "cpu"


def _copy_with(tmp_path: Path, column: str, value: str) -> Path:
    """The fixture's copy.csv with ``column`` of its line 2 set to ``value``."""
    shutil.copytree(FIXTURE, tmp_path / "cpu")
    path = tmp_path / "cpu" / "copy.csv"
    lines = path.read_text().splitlines()
    header, cells = lines[0].split(","), lines[1].split(",")
    cells[header.index(column)] = value
    lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("numel, loaded", [(str(2**53), 2**53), ("1000.5", 1000.5)])
def test_the_largest_exact_shape_and_a_fractional_shape_load_as_written(tmp_path, numel, loaded):
    frame = load_table(_copy_with(tmp_path, "numel", numel)).frame
    assert frame["numel"].iloc[0] == loaded


@pytest.mark.parametrize("column, value, message", [
    ("impl", "\t", "column impl: empty"),
    ("n_reps", "2.5", "column n_reps: expected a whole number >= 1"),
    ("time_ms_p90", "inf", "column time_ms_p90: expected a finite number"),
])
def test_bad_cells_are_refused_naming_the_line(tmp_path, column, value, message):
    with pytest.raises(TimingTableError, match=f"copy.csv: line 2: {message}"):
        load_table(_copy_with(tmp_path, column, value))


def test_a_tables_hash_is_the_sha256_of_its_csv_bytes():
    path = FIXTURE / "copy.csv"
    assert load_table(path).sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
