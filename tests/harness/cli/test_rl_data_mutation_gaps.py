"""Gaps in the tests of `harness.commands.rl_data` found by a mutation audit.

Closed:
- a ``$MINARI_DATASETS_PATH`` of blanks only is refused like an empty one (one line, exit 2), not used as a folder
  named by the blanks under the current directory.
"""

from __future__ import annotations

import pytest

from tests.harness.cli_run import cli


@pytest.mark.parametrize("value", [" ", "  \t"])
def test_a_blank_dataset_path_is_refused_like_an_empty_one(capsys, tmp_path, monkeypatch, value):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINARI_DATASETS_PATH", value)
    code, out, err = cli(capsys, "rl-data", "list")
    assert code == 2 and out == ""
    assert err == ("error: MINARI_DATASETS_PATH is set but empty; unset it for the default "
                   "(~/.cache/effml_harness/minari) or name the dataset folder\n")
    assert list(tmp_path.iterdir()) == []  # no folder made from the blanks
