"""`harness rl-data`: bad names and sizes exit 2 with one line; make then verify round trip; list shows state."""

from __future__ import annotations

import pytest

from harness.cli import main


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("argv, message", [
    (["rl-data", "make", "hopper-mediocre-local"], "unknown dataset 'hopper-mediocre-local'"),
    (["rl-data", "verify", "--size", "huge"], "--size: expected one of test, quick, full, got 'huge'"),
    (["rl-data", "references", "ant"], "unknown family 'ant'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, minari_root):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_make_then_verify_then_list(capsys, minari_root):
    assert main(["rl-data", "make", "hopper-random-local", "--size", "test"]) == 0
    out = capsys.readouterr().out
    assert "300 transitions" in out and "identical to the committed manifest" in out
    assert main(["rl-data", "verify", "hopper-random-local", "--size", "test"]) == 0
    assert "hopper-random-local" in capsys.readouterr().out
    assert main(["rl-data", "verify", "hopper-expert-local", "--size", "test"]) == 1
    assert "is not generated" in capsys.readouterr().out
    assert main(["rl-data", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("hopper-random-local"))
    assert row.split()[-3] == "LC"


@pytest.mark.parametrize("argv, first", [
    (["rl-data", "make", "walker2d-expert-local", "--size", "test"], "walker2d-expert-local"),
    (["rl-data", "references", "halfcheetah"], "halfcheetah"),
])
def test_a_recipe_whose_run_is_not_exported_is_one_line_and_exit_2(argv, first, capsys, minari_root, monkeypatch,
                                                                     tmp_path):
    from methods.offline_rl.datasets import references, specs

    monkeypatch.setattr(specs, "ROOT", tmp_path / "checkout")  # no SAC run exported there
    # were the refusal to go, the command would measure and overwrite the committed references.json
    monkeypatch.setattr(references, "write_references", lambda *a, **k: pytest.fail("measured despite no run"))
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {first}: results/offline_rl/policies/") and "--export" in err and "\n" not in err
