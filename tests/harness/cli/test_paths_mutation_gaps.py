"""Gaps in the tests of `harness.commands._paths` found by a mutation audit.

Closed:
- a path flag of blanks only is refused like an empty one (not read as a folder named by the blanks);
- ``writable=False`` skips the write probe, ``writable=True`` turns a failed probe into one `HarnessError`;
- `shown_path` prints a path below the current directory relative to it, any other path as given.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pytest

from harness.commands._paths import check_out_folder, path_arg, shown_path
from harness.errors import HarnessError


@pytest.mark.parametrize("text", ["", " ", " \t "])
def test_an_empty_or_blank_path_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected a path"):
        path_arg(text)


def test_a_path_with_text_is_kept_as_given():
    assert path_arg(" a") == Path(" a")


def test_the_write_probe_runs_only_when_asked(tmp_path, monkeypatch):
    def refused(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refused)
    check_out_folder("--out", tmp_path, writable=False)  # no probe: no error
    with pytest.raises(HarnessError) as caught:
        check_out_folder("--out", tmp_path)
    assert str(caught.value) == f"--out {tmp_path}: cannot write there (Permission denied)"


def test_shown_path_is_relative_below_the_current_directory_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "runs" / "toy") == str(Path("runs") / "toy")
    assert shown_path(Path("/elsewhere/x")) == "/elsewhere/x"
