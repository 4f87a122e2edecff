"""Issue 8, part 3: every bad input gives exit 2 and ONE line naming the key path (or the file and line).

Each case runs through the CLI in this process (`harness.cli.main`), under both ``validate`` and ``run`` where the
input is a scenario: a mistake must be caught by validation, never by a crash (or a silent wrong answer) inside a
run. Fixture files are written into pytest's tmp folders; a few shipped examples live in ``scenarios/broken/``.
"""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import pytest

from harness.config.overrides import parse_yaml_text
from tests.harness.cli_run import cli

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
BROKEN = SCENARIOS / "broken"
TOY = SCENARIOS / "toy_example.yaml"
RING = SCENARIOS / "collective_ring.yaml"  # sweeps cluster.nodes
OPS = SCENARIOS / "collective_ops.yaml"  # a cluster kind that sweeps only workload.op
DIGITS = SCENARIOS / "compression" / "training_digits.yaml"
DP = SCENARIOS / "compression" / "dp_compressed.yaml"
CONTRACTION = SCENARIOS / "greedylore" / "contraction.yaml"

ELEVEN_DAYS_MS = 11 * 24 * 3600 * 1000


def one_error_line(capsys, *argv) -> str:
    """Run the CLI; assert exit 2 and exactly one stderr line; return it without the ``error: `` prefix."""
    code, _, err = cli(capsys, *argv)
    lines = err.splitlines()
    assert code == 2 and len(lines) == 1, err
    return lines[0].removeprefix("error: ")


def write(folder: Path, text: str, name: str = "s.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def sweep_file(folder: Path, n_axes: int) -> Path:
    """A toy scenario whose product sweep has 10**n_axes points (ten values per axis)."""
    axes = ["workload.n_messages", "workload.mean_size_bytes", "workload.sleep_ms", "seed",
            "network.inter_node.latency_us", "network.inter_node.bandwidth_gbps",
            "network.intra_node.latency_us"][:n_axes]
    lines = [f"    {axis}: [{', '.join(str(v) for v in range(1, 11))}]" for axis in axes]
    return write(folder, "name: big\nkind: toy\nsweep:\n  product:\n" + "\n".join(lines) + "\n")


# ------------------------------------------------------------------ scenario values: validate and run alike
# (scenario file, --set override, the start of the one line after "<file>: ")
OVERRIDE_CASES = [
    # numbers that overflow: 1e30 bytes once became a negative int64
    ("toy_bytes_1e30", TOY, "workload.mean_size_bytes=1e30",
     "workload.mean_size_bytes: expected a number <= 1099511627776, got 1e+30"),
    ("int_bytes_1e30", RING, "workload.size_bytes=1e30",
     "workload.size_bytes: expected an integer > 0 and <= 1125899906842624, got 1e+30"),
    ("seed_above_2**53", TOY, "seed=1e20", "seed: expected a number of magnitude at most 2**53"),
    # infinity and NaN where a finite number is needed
    ("inf_bytes", TOY, "workload.mean_size_bytes=.inf", "workload.mean_size_bytes: expected a finite number, got inf"),
    ("inf_bandwidth", RING, "network.inter_node.bandwidth_gbps=.inf",
     "network.inter_node.bandwidth_gbps: expected a finite number, got inf"),
    ("minus_inf_latency", RING, "network.inter_node.latency_us=-.inf",
     "network.inter_node.latency_us: expected a finite number, got -inf"),
    ("nan_latency", RING, "network.inter_node.latency_us=.nan",
     "network.inter_node.latency_us: expected a finite number, got nan"),
    ("inf_param", DIGITS, "technique.params.ratio=.inf", "technique.params.ratio: expected a finite number, got inf"),
    ("inf_in_a_sweep", RING, "sweep.product.workload.size_bytes=[1024, .inf]",
     "sweep point 2 of 10 (cluster.nodes=1, workload.size_bytes=inf): workload.size_bytes: expected a finite number"),
    # booleans where numbers are expected (`nodes: true` meant 1)
    ("bool_nodes", OPS, "cluster.nodes=true", "cluster.nodes: expected an integer > 0 and <= 100000, got true"),
    ("bool_count", TOY, "workload.n_messages=true", "workload.n_messages: expected an integer > 0"),
    ("bool_seed", TOY, "seed=false", "seed: expected an integer >= 0, got false"),
    ("bool_in_a_tuple", DIGITS, "workload.task.channels=[16, true]",
     "workload.task.channels: expected a list of numbers (not true/false), got [16, true]"),
    ("bool_param", DIGITS, "technique.params.ratio=true", "technique.params.ratio: expected a number, got true"),
    ("bool_optional_number", DIGITS, "workload.task.dirichlet_alpha=true",
     "workload.task.dirichlet_alpha: expected a number > 0, got true"),
    # names that become folders: a device name is a path component
    ("device_path", RING, "cluster.device=../../etc", "cluster.device: expected a string matching "),
    ("device_too_long", RING, "cluster.device=" + "x" * 300, "cluster.device: expected a string of at most 64 "),
    # a typo in a device name (neither catalogue nor table set) used to run with no device numbers at all
    ("device_unknown", RING, "cluster.device=h1OO", "cluster.device: unknown device 'h1OO': not in the device "
     "catalogue (a100, a100_pcie, cpu, h100, rtx4090) and no table set results/timings/h1OO/"),
    ("device_unknown_in_sweep", RING, "sweep.product={cluster.device: [h100, h1OO]}",
     "sweep.product.cluster.device (value 2 of 2): unknown device 'h1OO'"),
    ("device_unknown_in_cluster_sweep", OPS, "sweep.product.cluster=[{device: h1OO, nodes: 4}]",
     "sweep.product.cluster (value 1 of 1): unknown device 'h1OO'"),
    ("device_unknown_in_tune", OPS, "tune={axis: cluster.device, values: [h100, h1OO], metric: time_s}",
     "tune.values (value 2 of 2, axis cluster.device): unknown device 'h1OO'"),
    # a 5,000-character name
    ("long_name", TOY, "name=" + "a" * 5000, "name: expected a string of at most 100 character(s), got 'aaaa"),
    # n_workers = 100,000 on a training task
    ("training_workers", DIGITS, "workload.n_workers=100000",
     "workload.n_workers: expected an integer <= 1024, got 100000"),
    # exact key paths, no scenario dumped as JSON, tagged unions named by their tag
    ("param_type", DIGITS, "technique.params.ratio=abc", "technique.params.ratio: expected a number, got 'abc'"),
    ("param_range", DP, "technique.params.ratio=2", "technique.params.ratio: expected a fraction in (0, 1], got 2"),
    ("param_string_number", DIGITS, "technique.params.ratio='0.2'",
     "technique.params.ratio: expected a number, got '0.2'"),
    ("param_unknown", DIGITS, "technique.params.ratios=0.2", "technique.params.ratios: no such key (allowed: "),
    ("compressor_unknown", DIGITS, "technique.name=zip", "technique.name: unknown compressor 'zip'; known: "),
    ("ef_param", DIGITS, "workload.error_feedback.params.eta=0.1", "workload.error_feedback.params.eta: no such key"),
    ("task_field", DIGITS, "workload.task.batch_size=-1", "workload.task.batch_size: expected an integer > 0, got -1"),
    ("task_unknown_key", DIGITS, "workload.task.depth=3", "workload.task.depth: no such key (allowed: batch_size, "),
    ("task_unknown", DIGITS, "workload.task.name=imagenet",
     "workload.task.name: unknown task 'imagenet'; known: 'logistic', 'robust_shifted', 'digits', "),
    ("task_tag_missing", DIGITS, "workload.task={batch_size: 3}",
     "workload.task.name: missing required key (expected one of 'logistic', "),
    # runaway but valid-looking requests: a bound per field, or an up-front estimate
    ("messages_1e8", TOY, "workload.n_messages=100000000",
     "workload.n_messages: expected an integer <= 10000000, got 100000000"),
    ("steps_1e7", DIGITS, "workload.steps=10000000", "workload.steps: expected an integer <= 100000, got 10000000"),
    ("sleep_11_days", TOY, f"workload.sleep_ms={ELEVEN_DAYS_MS}", "workload.sleep_ms: expected a number <= 600000"),
    ("contraction_memory", CONTRACTION, "workload.steps=100000",
     "workload.steps: one trial precomputes steps x (n_workers + 1) x n_rows x n_cols float64 gradients"),
]


# `run` builds only the base point, so a bad sweep point is for `validate` and `sweep` to refuse
COMMAND_CASES = [pytest.param(command, *case[1:], id=f"{case[0]}-{command}") for case in OVERRIDE_CASES
                 for command in ("validate", "run", "sweep")
                 if (command == "sweep") == case[2].startswith("sweep.") or command == "validate"]


def _swept(file: Path, key: str) -> bool:
    """Whether a sweep axis of ``file`` sets ``key`` (or a mapping holding it) at every point."""
    sweep = parse_yaml_text(file.read_text()).get("sweep") or {}
    return any(key == axis or key.startswith(axis + ".") for block in sweep.values() for axis in block)


@pytest.mark.parametrize(("command", "file", "override", "expected"), COMMAND_CASES)
def test_bad_value_is_one_line_naming_the_key(capsys, tmp_path, command, file, override, expected):
    argv = [command, file, "--set", override] + (["--out", tmp_path / "runs"] if command != "validate" else [])
    line = one_error_line(capsys, *argv)
    key = override.split("=", 1)[0]
    if command == "validate" and _swept(file, key):  # every point replaces it: refused before its value is checked
        expected = f"bad override {override!r}: {key}"
        assert "is a sweep axis" in line, line
    assert line.startswith(f"{file}: {expected}"), line
    assert len(line) < 400 and '{"' not in line  # never the whole scenario as JSON
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("metrics.csv"))


FILE_CASES = [
    ("duplicate_top_level_key", "name: a\nkind: toy\nname: b\n", "line 3, column 1: duplicate key 'name' (first at line 1)"),
    ("duplicate_nested_key", "name: a\nkind: toy\nworkload:\n  n_messages: 3\n  sleep_ms: 0\n  n_messages: 4\n",
     "line 6, column 3: duplicate key 'n_messages' (first at line 4)"),
    ("bool_in_file", "name: a\nkind: collective\ncluster: {nodes: true}\nworkload: {size_bytes: 1024}\n",
     "cluster.nodes: expected an integer > 0"),
    ("inf_in_file", "name: a\nkind: toy\nworkload: {mean_size_bytes: .inf}\n",
     "workload.mean_size_bytes: expected a finite number, got inf"),
    ("unknown_task_in_file", "name: a\nkind: compressed_training\nworkload: {task: {name: imagenet}}\n",
     "workload.task.name: unknown task 'imagenet'; known: "),
    ("param_in_file", "name: a\nkind: compressed_training\ntechnique: {name: topk, params: {ratio: abc}}\n",
     "technique.params.ratio: expected a number, got 'abc'"),
]


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in FILE_CASES], ids=[case[0] for case in FILE_CASES])
def test_bad_file_is_one_line_naming_the_key_or_line(capsys, tmp_path, command, text, expected):
    path = write(tmp_path, text)
    argv = [command, path] + (["--out", tmp_path / "runs"] if command == "run" else [])
    assert one_error_line(capsys, *argv).startswith(f"{path}: {expected}")


@pytest.mark.parametrize(("file", "override"), [
    (TOY, "workload.sleep_ms=0"), (TOY, "seed=3"), (OPS, "cluster.nodes=2.0"), (TOY, "workload.mean_size_bytes=1e6"),
    (OPS, "cluster.device=a100_pcie"), (DP, "workload.overlap=true"),
])
def test_booleans_and_ordinary_numbers_still_validate(capsys, file, override):
    code, out, err = cli(capsys, "validate", file, "--set", override)
    assert code == 0 and err == "" and out.startswith(f"{file}: ok (kind ")


def test_merge_keys_are_not_duplicates(capsys, tmp_path):
    path = write(tmp_path, "name: a\nkind: toy\nworkload:\n  <<: {n_messages: 3, sleep_ms: 0}\n  n_messages: 4\n")
    code, out, _ = cli(capsys, "validate", path)
    assert code == 0 and out == f"{path}: ok (kind toy, 1 point)\n"


def test_duplicate_key_inside_an_override_value(capsys):
    line = one_error_line(capsys, "validate", TOY, "--set", "workload={n_messages: 1, n_messages: 2}")
    assert "duplicate key 'n_messages'" in line


# ---------------------------------------------------------------------------------------------- huge sweeps
@pytest.mark.parametrize("command", ["validate", "run", "sweep"])
@pytest.mark.parametrize("n_axes", [6, 7])
def test_huge_sweep_is_counted_not_built(capsys, tmp_path, command, n_axes):
    path = sweep_file(tmp_path, n_axes)
    argv = [command, path] + (["--out", tmp_path / "runs"] if command != "validate" else [])
    tracemalloc.start()
    start = time.perf_counter()
    try:
        line = one_error_line(capsys, *argv)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 20
    assert peak < 50 * 2**20  # flat: the 10**6 / 10**7 points are never materialised
    count = f"{10**n_axes:,}"
    assert line == (f"{path}: sweep: {count} points, more than the limit of 10,000 (split the grid, or raise the "
                    "limit with --max-points N or HARNESS_MAX_SWEEP_POINTS=N)")


def test_the_sweep_limit_is_configurable(capsys, tmp_path, monkeypatch):
    sweep = SCENARIOS / "toy_sweep.yaml"  # 6 points
    assert "more than the limit of 5 " in one_error_line(capsys, "validate", sweep, "--max-points", "5")
    assert cli(capsys, "validate", sweep, "--max-points", "6")[0] == 0
    assert "more than the limit of 5 " in one_error_line(capsys, "sweep", sweep, "--out", tmp_path, "--max-points", "5")
    monkeypatch.setenv("HARNESS_MAX_SWEEP_POINTS", "3")
    assert "more than the limit of 3 " in one_error_line(capsys, "validate", sweep)
    assert "more than the limit of 3 " in one_error_line(capsys, "run", sweep, "--out", tmp_path)
    assert "more than the limit of 3 " in one_error_line(capsys, "sweep", sweep, "--out", tmp_path, "--workers", "1")
    monkeypatch.setenv("HARNESS_MAX_SWEEP_POINTS", "many")
    assert one_error_line(capsys, "validate", sweep) == ("HARNESS_MAX_SWEEP_POINTS: expected an integer >= 1, got "
                                                         "'many' (unset it for the default, 10,000)")
    assert one_error_line(capsys, "validate", sweep, "--max-points", "0") == (
        "--max-points: expected an integer >= 1, got 0")


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", "\u00b2"])
def test_a_bad_max_points_variable_is_one_line_naming_it(capsys, tmp_path, monkeypatch, value):
    monkeypatch.setenv("HARNESS_MAX_SWEEP_POINTS", value)
    expected = (f"HARNESS_MAX_SWEEP_POINTS: expected an integer >= 1, got {value!r} (unset it for the default, "
                "10,000)")
    sweep = SCENARIOS / "toy_sweep.yaml"
    assert one_error_line(capsys, "validate", TOY, sweep) == expected  # once, not once per file
    assert one_error_line(capsys, "run", sweep, "--out", tmp_path) == expected
    assert one_error_line(capsys, "sweep", sweep, "--out", tmp_path) == expected
    assert not any(tmp_path.iterdir())


def test_list_with_a_bad_max_points_variable_is_one_line_naming_it(capsys, monkeypatch):
    monkeypatch.setenv("HARNESS_MAX_SWEEP_POINTS", "abc")
    assert one_error_line(capsys, "list") == ("HARNESS_MAX_SWEEP_POINTS: expected an integer >= 1, got 'abc' (unset "
                                              "it for the default, 10,000)")


def test_run_counts_a_big_sweep_but_builds_only_its_base_point(capsys, tmp_path):
    path = sweep_file(tmp_path, 4)  # 10,000 points: at the limit, so allowed
    code, _, err = cli(capsys, "run", path, "--out", tmp_path / "runs")
    assert code == 0 and "(10000 points); running its base point only" in err
    assert len(list((tmp_path / "runs" / "big").iterdir())) == 1


# ------------------------------------------------------------------------------- files, folders, --out
def _unwritable_folder(tmp_path: Path) -> Path:
    """A folder this process cannot create or write into (root ignores permissions: then /sys, where it can't)."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        return locked / "runs"
    candidate = Path("/sys/harness-cannot-write-here")
    try:
        candidate.mkdir()
    except OSError:
        return candidate
    candidate.rmdir()
    pytest.skip("no folder here refuses writes")


@pytest.mark.parametrize("command", ["run", "sweep"])
@pytest.mark.parametrize("where", ["file", "below_a_file", "unwritable"])
def test_out_must_be_a_writable_folder(capsys, tmp_path, command, where):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    out = {"file": blocker, "below_a_file": blocker / "runs", "unwritable": None}[where] or _unwritable_folder(tmp_path)
    line = one_error_line(capsys, command, TOY, "--out", out)
    if where == "unwritable":
        assert line.startswith(f"--out {out}: cannot write there (")
    else:
        assert line == f"--out {out}: a file is in the way; expected a folder (or a path to create one)"


def test_a_fifo_is_refused_without_blocking(capsys, tmp_path):
    fifo = tmp_path / "scenario.yaml"
    os.mkfifo(fifo)
    assert one_error_line(capsys, "validate", fifo) == \
        f"{fifo}: not a regular file (a pipe, device or socket); expected a YAML file"


@pytest.mark.parametrize("command", ["validate", "run"])
def test_dev_zero_is_refused(capsys, tmp_path, command):
    argv = [command, "/dev/zero"] + (["--out", tmp_path] if command == "run" else [])
    assert one_error_line(capsys, *argv) == "/dev/zero: not a regular file (a pipe, device or socket); expected a YAML file"


def test_an_oversized_file_is_refused_before_parsing(capsys, tmp_path):
    path = write(tmp_path, "name: a\nkind: toy\ndescription: " + "x" * (1 << 20) + "\n")
    assert one_error_line(capsys, "validate", path).startswith(f"{path}: larger than 1 MiB; ")


@pytest.mark.parametrize("what", ["missing", "file"])
def test_list_on_a_missing_scenario_folder_exits_2(capsys, tmp_path, what):
    folder = tmp_path / "nope"
    if what == "file":
        folder.write_text("x")
    code, out, err = cli(capsys, "list", "--scenarios", folder)
    assert code == 2 and out == ""
    assert err == f"error: --scenarios {folder}: {'no such folder' if what == 'missing' else 'not a folder'}\n"


# ------------------------------------------------------------------------------------- shipped examples
@pytest.mark.parametrize(
    ("file", "expected"),
    [
        ("duplicate_key.yaml", "line 5, column 3: duplicate key 'n_messages' (first at line 4)"),
        ("huge_sweep.yaml", "sweep: 1,000,000 points, more than the limit of 10,000"),
        ("bool_for_number.yaml", "cluster.nodes: expected an integer > 0 and <= 100000, got true"),
        ("unknown_task.yaml", "workload.task.name: unknown task 'imagenet'; known: 'logistic'"),
        ("infinite_number.yaml", "workload.mean_size_bytes: expected a finite number, got inf"),
    ],
)
def test_shipped_broken_examples(capsys, file, expected):
    assert one_error_line(capsys, "validate", BROKEN / file).startswith(f"{BROKEN / file}: {expected}")


# -------------------------------------------------------------------------- honest answers from valid input
@pytest.mark.parametrize("op", ["all_reduce", "reduce_scatter", "all_gather", "broadcast", "p2p"])
@pytest.mark.parametrize("model", ["closed_form", "link_level"])
def test_one_rank_collective_costs_zero_and_reports_no_nan(capsys, tmp_path, op, model):
    code, _, _ = cli(capsys, "run", RING, "--out", tmp_path, "--set", "cluster.nodes=1", "--set",
                     "cluster.devices_per_node=1", "--set", f"workload.op={op}", "--set", f"network.model={model}")
    assert code == 0
    (metrics,) = tmp_path.rglob("metrics.csv")
    row = pd.read_csv(metrics).iloc[0]
    assert row["n_ranks"] == 1 and row["time_ns"] == 0
    assert row["algbw_gbps"] == 0.0 and row["busbw_gbps"] == 0.0


def test_the_run_summary_names_the_device_it_used(capsys, tmp_path):
    path = write(tmp_path, "name: a\nkind: collective\nworkload: {size_bytes: 1024}\n")  # leaves out cluster.device
    code, out, _ = cli(capsys, "run", path, "--out", tmp_path)
    assert code == 0
    assert "device: cpu (cluster.device not set: the default); 1 node(s) x 1 device(s); timing tables: cpu" in \
        out.splitlines()
    code, out, _ = cli(capsys, "run", RING, "--out", tmp_path)
    assert code == 0 and "device: h100; 2 node(s) x 8 device(s); timing tables: h100" in out.splitlines()


def test_the_run_summary_names_a_device_only_where_the_kind_has_one(capsys, tmp_path):
    from harness.commands.run import device_line
    from harness.config.loader import load_scenario

    code, out, _ = cli(capsys, "run", TOY, "--out", tmp_path)  # toy times messages on a link: no device
    assert code == 0 and "device:" not in out and "node(s)" not in out
    # a kind that runs on one device type: the device and its tables, no node count
    assert device_line(load_scenario(SCENARIOS / "chelsea" / "decode_cpu.yaml")) == "device: cpu; timing tables: cpu"
    assert device_line(load_scenario(SCENARIOS / "tahquant" / "speed_vs_bandwidth.yaml",
                                     ["timings.table_set=cpu"])) == "device: h100; timing tables: cpu"
    assert device_line(load_scenario(SCENARIOS / "moc" / "training.yaml")) is None
