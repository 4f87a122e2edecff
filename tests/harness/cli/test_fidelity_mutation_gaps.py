"""Gaps in the tests of `harness.commands.fidelity` found by a mutation audit.

Closed here (nothing is measured: `measure_study` is replaced by one returning committed raw rows):
- ``--recompute`` never asks for network namespaces: the netns tables are rebuilt where namespaces are unavailable.
- a measuring run without ``--loopback``/``--netns`` skips netns where it is unavailable (a note, not an error),
  measures with the full plan (``--quick``: the quick plan) into ``results/fidelity`` (``--quick``: ``/quick``),
  saves each setting's raw rows before fitting, so a failed fit is one line that names the saved file.
- a saved part whose rows are not a list of objects is refused; a saved compute row without its time is named;
  a saved raw part that fails the fit with a missing field or a wrong type is one line with ``--recompute``
  ("no field X"), and a fresh measurement lacking a field is a bug.
- what is printed: the loopback table and summary without the empty ``rate_mbit`` column, the netns ones with it,
  each setting's own rows, and the count of table files written.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.fidelity.study import FULL_PLAN, QUICK_PLAN
from tests.harness.cli_run import cli

RAW = Path(__file__).resolve().parents[3] / "results" / "fidelity" / "raw"


def _raw(setting: str) -> dict:
    return json.loads((RAW / f"{setting}.json").read_text())


def _copy_raw(out: Path, *settings: str) -> None:
    (out / "raw").mkdir(parents=True)
    for setting in settings:
        shutil.copy(RAW / f"{setting}.json", out / "raw" / f"{setting}.json")


@pytest.fixture
def measured(monkeypatch):
    """`measure_study` returning the committed loopback rows (or ``seen["raw"]``), recording its arguments."""
    seen: dict = {}

    def measure_study(plan, *, loopback, netns, progress):
        seen.update(plan=plan, loopback=loopback, netns=netns)
        return seen.get("raw", _raw("loopback"))

    monkeypatch.setattr("harness.fidelity.study.measure_study", measure_study)
    monkeypatch.setattr("harness.fidelity.netns.netns_unavailable_reason", lambda: "needs root (test)")
    return seen


def test_recompute_rebuilds_netns_where_namespaces_are_unavailable(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("harness.fidelity.netns.netns_unavailable_reason", lambda: "needs root (test)")
    _copy_raw(tmp_path, "netns")
    code, out, err = cli(capsys, "fidelity", "--netns", "--recompute", "--out", tmp_path)
    assert code == 0 and "needs root" not in err
    assert (tmp_path / "netns.csv").is_file() and not (tmp_path / "loopback.csv").exists()


def test_recompute_of_both_settings_without_namespaces(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("harness.fidelity.netns.netns_unavailable_reason", lambda: "needs root (test)")
    _copy_raw(tmp_path, "loopback", "netns")
    code, out, err = cli(capsys, "fidelity", "--recompute", "--out", tmp_path)
    assert code == 0 and err == ""
    assert (tmp_path / "netns.csv").is_file() and (tmp_path / "loopback.csv").is_file()


def test_the_count_of_written_tables_is_the_files_written(capsys, tmp_path):
    _copy_raw(tmp_path, "loopback", "netns")
    code, out, _ = cli(capsys, "fidelity", "--recompute", "--out", tmp_path)
    inputs = {tmp_path / "raw" / "loopback.json", tmp_path / "raw" / "netns.json"}
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p not in inputs]
    assert code == 0 and len(written) > 10
    assert out.splitlines()[-1] == f"wrote {len(written)} table files under {tmp_path}/"


def test_a_measuring_run_skips_unavailable_netns_and_saves_the_raw_rows(capsys, tmp_path, measured):
    code, out, err = cli(capsys, "fidelity", "--out", tmp_path)
    assert code == 0
    assert err.splitlines() == ["note: skipping the netns setting: needs root (test)"]
    assert measured == {"plan": FULL_PLAN, "loopback": True, "netns": False}
    assert json.loads((tmp_path / "raw" / "loopback.json").read_text()) == _raw("loopback")
    assert (tmp_path / "loopback.csv").is_file() and not (tmp_path / "raw" / "netns.json").exists()


def test_netns_alone_measures_netns_only(capsys, tmp_path, measured, monkeypatch):
    monkeypatch.setattr("harness.fidelity.netns.netns_unavailable_reason", lambda: None)
    measured["raw"] = _raw("netns")
    code, _, err = cli(capsys, "fidelity", "--netns", "--out", tmp_path)
    assert code == 0 and err == ""
    assert measured == {"plan": FULL_PLAN, "loopback": False, "netns": True, "raw": _raw("netns")}
    assert (tmp_path / "netns.csv").is_file() and not (tmp_path / "loopback.csv").exists()


def test_a_quick_measuring_run_writes_under_the_quick_folder(capsys, tmp_path, measured, monkeypatch):
    monkeypatch.setattr("harness.provenance.project_root", lambda: tmp_path)
    assert cli(capsys, "fidelity", "--quick", "--loopback")[0] == 0
    assert measured["plan"] == QUICK_PLAN and measured["netns"] is False
    assert (tmp_path / "results" / "fidelity" / "quick" / "raw" / "loopback.json").is_file()
    assert not (tmp_path / "results" / "fidelity" / "raw").exists()


def test_a_full_measuring_run_writes_under_the_fidelity_folder(capsys, tmp_path, measured, monkeypatch):
    monkeypatch.setattr("harness.provenance.project_root", lambda: tmp_path)
    assert cli(capsys, "fidelity", "--loopback")[0] == 0
    assert (tmp_path / "results" / "fidelity" / "raw" / "loopback.json").is_file()


def test_a_failed_fit_of_a_fresh_measurement_keeps_the_raw_rows(capsys, tmp_path, measured):
    raw = _raw("loopback")
    raw["pingpong"] = raw["pingpong"][:1]  # one size: alpha and beta cannot be fitted
    measured["raw"] = raw
    code, out, err = cli(capsys, "fidelity", "--loopback", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == (f"error: loopback: cannot fit or compare the measurements (size_bytes: expected at least two "
                   f"distinct sizes, got [4096.0]); the raw measurements are in {tmp_path}/raw/loopback.json\n")
    assert json.loads((tmp_path / "raw" / "loopback.json").read_text()) == raw


def test_a_fresh_measurement_lacking_a_field_is_a_bug(capsys, tmp_path, measured):
    raw = _raw("loopback")
    raw["compute"] = []
    measured["raw"] = raw
    with pytest.raises(KeyError):
        cli(capsys, "fidelity", "--loopback", "--out", tmp_path)


@pytest.mark.parametrize("change, why", [
    (lambda raw: raw.update(compute=[]), "no field width"),
    (lambda raw: [row.update(time_ms_median="x") for row in raw["pingpong"]], "can't multiply sequence"),
])
def test_a_saved_part_that_cannot_be_fitted_is_one_line(capsys, tmp_path, change, why):
    raw = _raw("loopback")
    change(raw)
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "loopback.json").write_text(json.dumps(raw))
    code, out, err = cli(capsys, "fidelity", "--loopback", "--recompute", "--out", tmp_path)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: loopback: cannot fit or compare the measurements ({why}")
    assert line.endswith(f"; the raw measurements are in {tmp_path}/raw/loopback.json")


def test_each_setting_prints_its_own_table_and_rate_only_where_there_is_one(capsys, tmp_path):
    _copy_raw(tmp_path, "loopback", "netns")
    code, out, _ = cli(capsys, "fidelity", "--recompute", "--out", tmp_path)
    assert code == 0
    blocks = out.split("alpha-beta fits (")
    loop_table, netns_table = blocks[0], blocks[1].split("\n\n", 2)[-1]
    loop_header, netns_header = loop_table.splitlines()[0].split(), netns_table.splitlines()[0].split()
    assert loop_header[:2] == ["setting", "n_ranks"] and "rate_mbit" not in loop_header
    assert netns_header[:3] == ["setting", "rate_mbit", "n_ranks"]
    assert {line.split()[0] for line in loop_table.splitlines()[1:] if line.strip()} == {"loopback"}
    assert blocks[1].startswith("loopback, from ping-pong only):") and blocks[2].startswith("netns, from ping-pong")


def test_the_loopback_summary_drops_its_empty_columns(capsys, tmp_path):
    _copy_raw(tmp_path, "loopback", "netns")
    code, out, _ = cli(capsys, "fidelity", "--recompute", "--out", tmp_path)
    assert code == 0
    loop = out.split("median |error| (%), loopback:\n")[1].split("\n\n")[0]
    netns = out.split("median |error| (%), netns:\n")[1].split("\n\n")[0]
    assert loop.splitlines()[0].split()[:3] == ["setting", "op", "n_ranks"] and "NaN" not in loop
    assert netns.splitlines()[0].split()[:3] == ["setting", "op", "rate_mbit"]


def test_a_saved_compute_row_without_its_time_is_named(capsys, tmp_path):
    raw = _raw("loopback")
    del raw["compute"][0]["time_ms_median"]
    (tmp_path / "raw").mkdir()
    path = tmp_path / "raw" / "loopback.json"
    path.write_text(json.dumps(raw))
    code, out, err = cli(capsys, "fidelity", "--loopback", "--recompute", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == f"error: --recompute: {path}: compute row 1: missing time_ms_median\n"


@pytest.mark.parametrize("content", ['{"meta": {}, "pingpong": 5}', '{"meta": {}, "pingpong": {}}',
                                     '{"meta": {}, "allreduce": [1]}', '{"meta": {}, "compute": [[1, 2]]}'])
def test_a_saved_part_whose_rows_are_not_a_list_of_objects_is_refused(capsys, tmp_path, content):
    (tmp_path / "raw").mkdir()
    path = tmp_path / "raw" / "loopback.json"
    path.write_text(content)
    code, out, err = cli(capsys, "fidelity", "--loopback", "--recompute", "--out", tmp_path)
    assert code == 2 and out == ""
    assert err == (f"error: --recompute: {path}: expected a JSON object with 'meta' (an object) and lists of row "
                   "objects under pingpong, allreduce, dp_step, compute, as `harness fidelity` saves\n")
