"""Gaps in the tests of `harness.timing.sets` found by a mutation audit.

Closed here: hidden folders are not table sets; a file with a set's name is not a set; a name longer than
`SET_NAME_MAX_CHARS` is refused; a sweep naming sets through its ``zip`` block or through whole ``timings``
blocks has each missing set reported.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from harness.config.blocks import SET_NAME_MAX_CHARS
from harness.errors import HarnessError
from harness.timing.sets import check_set_name, known_table_sets, table_set_problems


def _scenario(table_set=None, product=None, zip_=None):
    return SimpleNamespace(timings=SimpleNamespace(table_set=table_set),
                           sweep=SimpleNamespace(product=product or {}, zip=zip_ or {}))


def test_hidden_folders_are_not_table_sets(tmp_path):
    (tmp_path / ".cache").mkdir()
    (tmp_path / "cpu").mkdir()
    assert known_table_sets(tmp_path) == ["cpu"]


def test_a_file_with_a_sets_name_is_not_a_set(tmp_path):
    (tmp_path / "cpu").write_text("not a folder")
    (problem,) = table_set_problems(_scenario("cpu"), "s.yaml", tmp_path)
    assert problem.startswith("s.yaml: timings.table_set: unknown table set 'cpu'")


def test_a_name_one_character_too_long_is_refused():
    check_set_name("--table-set", "a" * SET_NAME_MAX_CHARS)
    with pytest.raises(HarnessError, match="--table-set: expected a table-set name"):
        check_set_name("--table-set", "a" * (SET_NAME_MAX_CHARS + 1))


def test_sets_named_by_a_zip_axis_or_by_whole_timings_blocks_are_checked(tmp_path):
    (tmp_path / "cpu").mkdir()
    scenario = _scenario(zip_={"timings.table_set": ["cpu", "gone"]},
                         product={"timings": [{"table_set": "cpu"}, {"table_set": "lost"}]})
    problems = table_set_problems(scenario, "s.yaml", tmp_path)
    assert [p.split(": unknown")[0] for p in problems] == [
        "s.yaml: sweep.product.timings (value 2 of 2)", "s.yaml: sweep.zip.timings.table_set (value 2 of 2)"]
