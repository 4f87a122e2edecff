"""Strict loading of timing tables: every schema violation is refused with a message naming file, line, column."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness.errors import TimingTableError
from harness.timing.table import load_meta, load_table, load_table_set
from kernels.timing_schema import SCHEMA_VERSION

FIXTURE = Path(__file__).parents[2] / "data" / "timings" / "cpu"


@pytest.fixture
def table_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "cpu"
    shutil.copytree(FIXTURE, folder)
    return folder


def _edit_csv(path: Path, line: int, column: str, value: str) -> None:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


def _edit_meta(folder: Path, **changes) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    for key, value in changes.items():
        if value is None:
            meta.pop(key)
        else:
            meta[key] = value
    (folder / "meta.json").write_text(json.dumps(meta))


def test_fixture_loads_with_hashes():
    tables = load_table_set(FIXTURE)
    assert sorted(tables.tables) == ["copy", "matmul"]
    assert len(tables.tables["matmul"]) == 8
    assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in tables.hashes().values())
    frame = tables.tables["matmul"].frame
    assert list(frame.columns[:3]) == ["m", "n", "k"]
    assert frame["n_reps"].dtype.kind == "i"


def test_hash_changes_with_content(table_dir):
    before = load_table(table_dir / "copy.csv").sha256
    _edit_csv(table_dir / "copy.csv", 2, "time_ms_p90", "0.031037")
    assert load_table(table_dir / "copy.csv").sha256 != before


@pytest.mark.parametrize(
    ("line", "column", "value", "message"),
    [
        (3, "m", "sixty-four", r"matmul.csv: line 3: column m: expected a number, got 'sixty-four'"),
        (4, "k", "", r"matmul.csv: line 4: column k: expected a number, got ''"),
        (2, "time_ms_median", "-0.5", r"matmul.csv: line 2: column time_ms_median: time must be >= 0"),
        (5, "time_ms_p90", "nan", r"matmul.csv: line 5: column time_ms_p90: expected a finite number"),
        (6, "time_ms_p10", "99", r"matmul.csv: line 6: column time_ms_p10: 99.0 exceeds time_ms_median"),
        (7, "time_ms_p90", "0.0001", r"matmul.csv: line 7: column time_ms_p90: 0.0001 is below time_ms_median"),
        (8, "n_reps", "0", r"matmul.csv: line 8: column n_reps: expected a whole number >= 1"),
        (9, "impl", " ", r"matmul.csv: line 9: column impl: empty"),
        (2, "n", "-256", r"matmul.csv: line 2: column n: shape value must be from 0 to 2\*\*53, got -256"),
        (3, "k", "1e30", r"matmul.csv: line 3: column k: shape value must be from 0 to 2\*\*53, got 1e30"),
    ],
)
def test_bad_cell_is_named(table_dir, line, column, value, message):
    _edit_csv(table_dir / "matmul.csv", line, column, value)
    with pytest.raises(TimingTableError, match=message):
        load_table(table_dir / "matmul.csv")


def test_duplicate_shape_key(table_dir):
    path = table_dir / "copy.csv"
    path.write_text(path.read_text() + path.read_text().splitlines()[2] + "\n")
    _edit_meta(table_dir, ops={"copy": {"shape_columns": ["numel"], "rows": 4}, "matmul": {"shape_columns": ["m", "n", "k"], "rows": 8}})
    with pytest.raises(TimingTableError, match=r"copy.csv: line 5: duplicate shape key .*numel.*1048576.*first on line 3"):
        load_table(path)


def test_missing_column(table_dir):
    path = table_dir / "copy.csv"
    path.write_text("\n".join(",".join(line.split(",")[:-1]) for line in path.read_text().splitlines()) + "\n")
    with pytest.raises(TimingTableError, match=r"copy.csv: line 1: missing column\(s\) n_reps"):
        load_table(path)


def test_unknown_column(table_dir):
    path = table_dir / "copy.csv"
    path.write_text("\n".join(line + (",gbps" if i == 0 else ",1.0") for i, line in enumerate(path.read_text().splitlines())) + "\n")
    with pytest.raises(TimingTableError, match=r"copy.csv: line 1: unknown column\(s\) gbps"):
        load_table(path)


def test_unknown_op(table_dir):
    shutil.copy(table_dir / "copy.csv", table_dir / "warp_drive.csv")
    with pytest.raises(TimingTableError, match=r"warp_drive.csv: unknown op 'warp_drive'; known ops: .*copy.*matmul"):
        load_table_set(table_dir)


def test_header_only_table_loads_empty(table_dir):
    path = table_dir / "copy.csv"
    path.write_text(path.read_text().splitlines()[0] + "\n")
    with pytest.raises(TimingTableError, match=r"ops.copy.rows is 3 but copy.csv has 0 rows"):
        load_table(path)
    _edit_meta(table_dir, ops={"copy": {"shape_columns": ["numel"], "rows": 0}, "matmul": {"shape_columns": ["m", "n", "k"], "rows": 8}})
    table = load_table(path)
    assert len(table) == 0 and list(table.frame.columns[:1]) == ["numel"]


def test_missing_meta(table_dir):
    (table_dir / "meta.json").unlink()
    with pytest.raises(TimingTableError, match=r"meta.json: missing"):
        load_table(table_dir / "copy.csv")


def test_meta_version_mismatch(table_dir):
    _edit_meta(table_dir, schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(TimingTableError, match=rf"schema_version {SCHEMA_VERSION + 1} does not match this code's version {SCHEMA_VERSION}"):
        load_table_set(table_dir)


def test_meta_missing_and_unknown_keys(table_dir):
    _edit_meta(table_dir, timer=None)
    with pytest.raises(TimingTableError, match=r"meta.json: missing key\(s\) timer"):
        load_meta(table_dir)
    _edit_meta(table_dir, timer="perf_counter", colour="blue")
    with pytest.raises(TimingTableError, match=r"meta.json: unknown key\(s\) colour"):
        load_meta(table_dir)


def test_meta_not_json(table_dir):
    (table_dir / "meta.json").write_text('{"schema_version": 1,\n  "device": }')
    with pytest.raises(TimingTableError, match=r"meta.json: not valid JSON \(line 2"):
        load_meta(table_dir)


def test_meta_rows_and_shape_columns_must_match(table_dir):
    _edit_meta(table_dir, ops={"copy": {"shape_columns": ["numel"], "rows": 99}, "matmul": {"shape_columns": ["m", "n", "k"], "rows": 8}})
    with pytest.raises(TimingTableError, match=r"ops.copy.rows is 99 but copy.csv has 3 rows"):
        load_table_set(table_dir)
    _edit_meta(table_dir, ops={"copy": {"shape_columns": ["numel"], "rows": 3}, "matmul": {"shape_columns": ["m", "k", "n"], "rows": 8}})
    with pytest.raises(TimingTableError, match=r"ops.matmul.shape_columns \['m', 'k', 'n'\] do not match"):
        load_table_set(table_dir)


def test_meta_and_files_must_agree(table_dir):
    (table_dir / "copy.csv").unlink()
    with pytest.raises(TimingTableError, match=r"lists op\(s\) copy with no CSV"):
        load_table_set(table_dir)


def test_device_must_match_folder(table_dir):
    _edit_meta(table_dir, device="h100")
    with pytest.raises(TimingTableError, match=r"device 'h100' does not match its folder name 'cpu'"):
        load_table_set(table_dir)


def test_missing_folder(tmp_path):
    with pytest.raises(TimingTableError, match=r"no such timing-table folder"):
        load_table_set(tmp_path / "nope")
