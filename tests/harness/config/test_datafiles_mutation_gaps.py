"""Gaps in the tests of `harness.config.datafiles` found by a mutation audit.

Closed here:
- `marks_data_file` finds `DataFile` inside an ``Annotated`` wrapper of a union (``Annotated[DataFile | None, ...]``);
- `data_files` finds the items of a ``list[DataFile]`` key (indexed) and the `DataFile` keys of models held in a
  list or a mapping; `declares_data_files` sees all of them, and a model that refers to itself is walked once;
- `unreadable_reason` names a device (never opened), a folder, a missing file and a path through a file;
- `data_file_records` hashes a file larger than one read chunk (1 MiB) whole;
- `resolve_path` expands ``~`` (to $HOME, not a folder named ``~`` under the base) and normalises ``..``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Annotated

from pydantic import Field

from harness.config.blocks import Strict
from harness.config.datafiles import (
    DataFile,
    data_file_records,
    data_files,
    declares_data_files,
    marks_data_file,
    resolve_path,
    unreadable_reason,
)


def test_an_annotated_optional_data_file_is_marked():
    assert marks_data_file(Annotated[DataFile | None, "doc"])
    assert not marks_data_file(Annotated[str | None, "doc"])


class _Leaf(Strict):
    csv: DataFile | None = None


class _Files(Strict):
    files: list[DataFile] = Field(default_factory=list)
    maybe: list[DataFile] | None = None
    leaves: list[_Leaf] = Field(default_factory=list)
    named: dict[str, _Leaf] = Field(default_factory=dict)


class _Plain(Strict):
    sizes: list[int] = Field(default_factory=list)
    names: dict[str, str] = Field(default_factory=dict)


class _Only(Strict):
    leaf: list[_Leaf] | None = None


class _Loop(Strict):
    again: list[_Loop] = Field(default_factory=list)


def test_data_files_in_lists_and_mappings_are_found():
    model = _Files(files=["a.csv", "b.csv"], maybe=["m.csv"], leaves=[_Leaf(), _Leaf(csv="c.csv")],
                   named={"x": _Leaf(csv="d.csv")})
    assert data_files(model) == [("files.0", "a.csv"), ("files.1", "b.csv"), ("maybe.0", "m.csv"),
                                 ("leaves.1.csv", "c.csv"), ("named.x.csv", "d.csv")]


def test_declares_data_files_looks_inside_containers_and_stops_at_a_loop():
    assert declares_data_files(_Files)
    assert declares_data_files(_Only)
    assert not declares_data_files(_Plain)
    assert not declares_data_files(_Loop)


def test_resolve_path_expands_home_and_normalises(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_path("~/x.csv", tmp_path / "base") == str(tmp_path / "home" / "x.csv")
    assert resolve_path("a/../b.csv", tmp_path / "base") == str(tmp_path / "base" / "b.csv")
    assert resolve_path(str(tmp_path / "abs.csv"), "/elsewhere") == str(tmp_path / "abs.csv")
    assert Path(resolve_path("rel.csv", ".")).is_absolute()


def test_unreadable_reason_names_what_is_wrong(tmp_path):
    (tmp_path / "f.csv").write_text("x\n")
    assert unreadable_reason(tmp_path / "f.csv") is None
    assert unreadable_reason(os.devnull) == "not a regular file (a pipe, device or socket)"
    assert unreadable_reason(tmp_path) == "is a folder, not a file"
    assert unreadable_reason(tmp_path / "nope.csv") == "no such file"
    assert unreadable_reason(tmp_path / "f.csv" / "x") == "no such file (a part of the path is not a folder)"


def test_a_file_larger_than_one_chunk_is_hashed_whole(tmp_path):
    data = bytes(range(256)) * 8192 + b"tail"  # 2 MiB + 4 bytes
    (tmp_path / "big.csv").write_bytes(data)
    model = _Files(files=[str(tmp_path / "big.csv")])
    assert data_file_records(model) == [{"key": "files.0", "path": str(tmp_path / "big.csv"),
                                         "sha256": hashlib.sha256(data).hexdigest()}]
