"""A table set named in ``timings.table_set`` must exist (`harness.timing.sets`): refused by ``harness validate``,
``run``, ``sweep`` and the replay with one line naming the key and the sets there, while a device's own missing set
still means roofline only. And the short lines ``harness run`` prints about where times came from
(`harness.timing.notes`), collectives from an imported nccl-tests set included."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.blocks import DeviceScenario, DeviceSpec, Strict, TimingsSpec
from harness.errors import HarnessError
from harness.provenance import default_timings_root
from harness.timing.notes import collective_note, roofline_note, timing_notes
from harness.timing.replay import open_replay
from harness.timing.sets import known_table_sets, table_set_problems
from tests.harness.cli_run import cli

ROOT = Path(__file__).resolve().parents[3]
DP = ROOT / "scenarios" / "dp_llama.yaml"
FIXTURES = ROOT / "tests" / "data" / "timings"

NCCL = """# nThread 1 nGpus 1 minBytes 1024 maxBytes 2048 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1
#  Rank  0 Group  0 Pid   4349 on   hostA device  0 [0x01] NVIDIA A100-PCIE-40GB
#  Rank  1 Group  0 Pid   4350 on   hostA device  1 [0x23] NVIDIA A100-PCIE-40GB
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
        1024           256     float     sum      -1    20.50    0.00    0.00      0    20.00    0.00    0.00    N/A
        2048           512     float     sum      -1    30.50    0.00    0.00      0    30.00    0.00    0.00    N/A
"""


def _scenario(device="cpu", table_set=None) -> DeviceScenario:
    return DeviceScenario(name="t", kind="test", workload=Strict(), cluster=DeviceSpec(device=device),
                          timings=TimingsSpec(table_set=table_set))


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# --------------------------------------------------------------------------------- a named set must exist


@pytest.mark.parametrize("command", ["validate", "run", "sweep"])
def test_a_mistyped_table_set_is_one_line_naming_the_key_and_the_known_sets(capsys, tmp_path, command):
    assert not (default_timings_root() / "nosuch").exists()
    extra = [] if command == "validate" else ["--out", tmp_path / "runs"]
    code, out, err = cli(capsys, command, DP, "--set", "timings.table_set=nosuch", *extra)
    assert code == 2 and out == ""
    line = _one_line(err)
    known = ", ".join(known_table_sets(default_timings_root()))
    assert line.endswith(f"{DP}: timings.table_set: unknown table set 'nosuch' (no folder results/timings/nosuch/); "
                         f"known: {known}"), line
    assert "cpu" in known.split(", ")
    assert not (tmp_path / "runs").exists()  # refused before the results folder is made


def test_a_mistyped_table_set_on_a_sweep_axis_names_the_axis_value(capsys, tmp_path):
    code, out, err = cli(capsys, "validate", DP, "--set", "sweep.product={timings.table_set: [cpu, nosuch]}")
    assert code == 2 and out == ""
    assert "sweep.product.timings.table_set (value 2 of 2): unknown table set 'nosuch'" in _one_line(err)


def test_an_existing_named_set_and_a_devices_missing_own_set_are_fine(capsys):
    code, out, _ = cli(capsys, "validate", DP, "--set", "timings.table_set=cpu")
    assert code == 0 and "ok" in out
    code, out, _ = cli(capsys, "validate", DP, "--set", "cluster.device=a100")  # no a100 set: roofline only
    assert code == 0 and "ok" in out


def test_the_replay_refuses_a_named_set_that_is_not_there(tmp_path):
    (tmp_path / "cpu-x").mkdir()
    with pytest.raises(HarnessError) as raised:
        open_replay(_scenario(table_set="nowhere"), timings_root=tmp_path)
    assert str(raised.value) == (f"timings.table_set: unknown table set 'nowhere' (no folder {tmp_path / 'nowhere'}/); "
                                 "known: cpu-x")
    # the device's own set may be missing: roofline only, recorded
    replay = open_replay(_scenario(device="h100"), timings_root=tmp_path)
    assert replay.tables is None and replay.info()["tables_missing"].endswith("does not exist")
    assert table_set_problems(_scenario(device="h100"), "f.yaml", tmp_path) == []
    assert table_set_problems(_scenario(table_set="cpu-x"), "f.yaml", tmp_path) == []


def test_a_set_with_collective_tables_only_prices_compute_from_the_roofline(capsys, tmp_path):
    (tmp_path / "nccl.txt").write_text(NCCL)
    code, _, _ = cli(capsys, "timings", "import", "nccl-tests", tmp_path / "nccl.txt", "--device", "x2", "--out",
                     tmp_path)
    assert code == 0
    replay = open_replay(_scenario(device="h100", table_set="x2"), timings_root=tmp_path)
    assert replay.tables is None and replay.info()["tables_missing"].endswith("holds collective tables only")
    assert replay.predict("copy", numel=1 << 20).source == "roofline"


# ----------------------------------------------------------------------------------------------- the notes


def test_the_roofline_note_is_short_and_points_to_run_json_for_the_reasons():
    ops = [f"op{i}" for i in range(16)]
    info = {"timings": {
        "timing_sources": {op: {"exact": 1, "interpolated": 0, "roofline": 2} for op in ops},
        "time_by_source_ms": {op: {"exact": 1.0, "interpolated": 0.0, "roofline": float(i)}
                              for i, op in enumerate(ops)},
        "roofline_reasons": {op: {f"a long reason why {op} had no table row " * 5: 2} for op in ops},
    }}
    share = 100 * sum(range(16)) / (sum(range(16)) + 16)
    assert roofline_note(info) == (f"note: {share:.0f}% of predicted compute time came from the roofline model "
                                   "(16 op(s): op15, op14, op13 and 13 more; why per op: run.json "
                                   "info.timings.roofline_reasons)")


def test_the_collective_note_counts_table_and_closed_form_sources():
    tables = {"table_set": "x2", "ops": {}}
    assert collective_note({}) is None
    assert collective_note({"collective_sources": {}, "collective_tables": tables}) is None
    assert collective_note({"collective_sources": {"all_reduce": {"exact": 3}}, "collective_tables": tables}) == \
        "note: collective times: 3 of 3 from table set 'x2' (3 exact)"
    mixed = {"all_reduce": {"exact": 2, "interpolated": 1, "closed_form_fit": 1},
             "all_gather": {"closed_form": 2}}
    assert collective_note({"collective_sources": mixed, "collective_tables": tables}) == (
        "note: collective times: 4 of 6 from table set 'x2' (2 exact, 1 interpolated, 1 fitted to the table); "
        "2 from the network's closed form (not in the table: all_gather)")
    assert timing_notes({"collective_sources": {"all_gather": {"closed_form": 1}}, "collective_tables": tables}) == [
        "note: collective times: 0 of 1 from table set 'x2'; 1 from the network's closed form (not in the table: "
        "all_gather)"]


def test_harness_run_says_where_collective_times_came_from(capsys, tmp_path, monkeypatch):
    import harness.provenance

    (tmp_path / "nccl.txt").write_text(NCCL)
    timings = tmp_path / "timings"
    code, _, _ = cli(capsys, "timings", "import", "nccl-tests", tmp_path / "nccl.txt", "--device", "x2", "--out",
                     timings)
    assert code == 0
    monkeypatch.setattr(harness.provenance, "default_timings_root", lambda: timings)
    scenario = tmp_path / "c.yaml"
    scenario.write_text("name: c\nkind: collective\ncluster: {nodes: 1, devices_per_node: 2, device: h100}\n"
                        "timings: {table_set: x2}\nworkload: {op: all_reduce, size_bytes: 1024}\n")
    code, out, err = cli(capsys, "run", scenario, "--out", tmp_path / "runs")
    assert code == 0 and "closed_form" in out  # the metrics' model column names the network model
    assert "note: collective times: 1 of 1 from table set 'x2' (1 exact)" in err.splitlines()
