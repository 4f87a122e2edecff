"""Bad input found by a CLI audit: each case exits 2 (or 1 where a verify finds a damaged dataset) with one clear
line naming the key or file (and line), no traceback, no Python repr, nothing already written lost."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from harness.cli import main
from tests.harness.cli_run import cli
from harness.errors import TimingTableError
from harness.timing.table import load_table

TABLE_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "timings" / "cpu"
HUGE = "9" * 400

TOY = """\
name: audit
kind: toy
network:
  inter_node: {bandwidth_gbps: 25.0, latency_us: 2.0}
workload:
  n_messages: 2
"""

NCCL = """# nThread 1 nGpus 1 minBytes 1024 maxBytes 2048 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1
#  Rank  0 Group  0 Pid   4349 on   hostA device  0 [0x01] NVIDIA A100-PCIE-40GB
#  Rank  1 Group  0 Pid   4350 on   hostA device  1 [0x23] NVIDIA A100-PCIE-40GB
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
        1024           256     float     sum      -1    20.50    0.00    0.00      0    20.00    0.00    0.00    N/A
        2048           512     float     sum      -1    30.50    0.00    0.00      0    30.00    0.00    0.00    N/A
"""

VIDUR_NET = """\
,time_stats.all_reduce.min,time_stats.all_reduce.max,time_stats.all_reduce.median,num_workers,size,collective,devices_per_node
0,0.010,0.020,0.012,4,2048,all_reduce,4
1,0.030,0.050,0.041,4,65536,all_reduce,4
"""

VIDUR_MLP_HEADER = ("time_stats.attn_pre_proj.min,time_stats.attn_pre_proj.max,time_stats.attn_pre_proj.median,"
                    "n_head,n_kv_head,n_embd,n_expanded_embd,use_gated_mlp,num_tokens,num_tensor_parallel_workers\n")


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


# ------------------------------------------------------------------------------------- scenario files and --set


@pytest.mark.parametrize("override", [
    "network.inter_node.latency=1e400us",           # a unit conversion gives an int too large for a float
    f"network.inter_node.latency_us={HUGE}",        # a plain huge integer under an unbounded number key
    "network.inter_node.bandwidth=1e400Gbit/s",
])
def test_a_huge_number_is_one_line_not_an_overflow_traceback(capsys, tmp_path, override):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    code, _, err = cli(capsys, "validate", path, "--set", override)
    key = override.split("=")[0]
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"{path}: network.inter_node.") and "magnitude at most 2**53" in line, line
    assert f"(set by --set {key}=" in line


def test_a_huge_integer_in_the_file_is_one_line(capsys, tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY.replace("latency_us: 2.0", f"latency_us: {HUGE}"))
    code, _, err = cli(capsys, "validate", path)
    assert code == 2
    assert one_line(err).startswith(f"{path}: network.inter_node.latency_us: expected a number of magnitude")


def test_an_infinite_number_under_a_short_unit_key_suggests_no_inf_unit(capsys, tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY)
    code, _, err = cli(capsys, "validate", path, "--set", "network.inter_node.latency=1e400")
    assert code == 2
    line = one_line(err)
    assert "inf" in line and "'infus'" not in line and "latency_us: inf" not in line
    assert line.startswith(f"{path}: network.inter_node.latency: expected a duration with a unit (")


@pytest.mark.parametrize("value, message", [
    ("5furlongs", "unknown unit 'furlongs'"),
    ("5", "a number here needs a unit, e.g. '5Gbit/s'"),
])
def test_a_sweep_axis_value_with_a_bad_unit_names_the_axis_and_the_value(capsys, tmp_path, value, message):
    path = tmp_path / "sweep.yaml"
    path.write_text(TOY + f"sweep:\n  product:\n    network.inter_node.bandwidth: [10Gbit/s, {value}]\n")
    code, _, err = cli(capsys, "validate", path)
    assert code == 2
    assert one_line(err).startswith(
        f"{path}: sweep.product.network.inter_node.bandwidth (value 2 of 2): {message}")


def test_an_impossible_date_names_its_line(capsys, tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text(TOY + "seed: 2020-13-45\n")
    code, _, err = cli(capsys, "validate", path)
    assert code == 2
    assert one_line(err) == f"{path}: line 7, column 7: cannot build a value from '2020-13-45' (month must be in 1..12)"


def test_a_recursive_alias_is_described_not_dumped_as_a_python_dict(capsys, tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("name: audit\nkind: toy\nworkload: &a {n_messages: *a}\n")
    code, _, err = cli(capsys, "validate", path)
    assert code == 2
    line = one_line(err)
    assert line.startswith(f"{path}: workload.n_messages: expected an integer, got a value that contains itself")
    assert "{'" not in line and "{...}" not in line


# ----------------------------------------------------------------------------------------------------- schema


def test_schema_refuses_a_folder_in_place_of_a_schema_file_before_writing_any(capsys, tmp_path):
    out = tmp_path / "schemas"
    (out / "toy.schema.json").mkdir(parents=True)
    code, stdout, err = cli(capsys, "schema", "--out", out)
    assert code == 2 and stdout == ""
    assert f"{out / 'toy.schema.json'} is a folder" in one_line(err)
    assert sorted(p.name for p in out.iterdir()) == ["toy.schema.json"]


# ----------------------------------------------------------------------------------------------- timings import


def _import(capsys, tmp_path, fmt: str, text: str | bytes | None, *extra) -> tuple[int, str, str, Path]:
    path = tmp_path / f"input_{fmt}.txt"
    if isinstance(text, bytes):
        path.write_bytes(text)
    elif text is not None:
        path.write_text(text)
    code, out, err = cli(capsys, "timings", "import", fmt, path, "--device", "imp", "--out", tmp_path / "t", *extra)
    return code, out, err, path


def test_vidur_compute_with_a_header_and_no_rows(capsys, tmp_path):
    code, _, err, path = _import(capsys, tmp_path, "vidur-compute", VIDUR_MLP_HEADER)
    assert code == 2 and one_line(err) == f"error: {path}: no rows"
    assert not (tmp_path / "t").exists()


def test_vidur_compute_with_zero_heads_names_the_cell_and_warns_nothing(capsys, tmp_path):
    text = VIDUR_MLP_HEADER + "1.7,1.9,1.85,0,8,4096,14336,True,4096,2\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's divide-by-zero RuntimeWarning was printed before the error
        code, _, err, path = _import(capsys, tmp_path, "vidur-compute", text)
    assert code == 2 and one_line(err) == f"error: {path}: line 2: column n_head: expected a number > 0, got '0'"


def test_a_folder_as_the_file_to_import_is_not_called_missing(capsys, tmp_path):
    folder = tmp_path / "input_nccl-tests.txt"
    folder.mkdir()
    code, _, err, _ = _import(capsys, tmp_path, "nccl-tests", None)
    assert code == 2 and one_line(err) == f"error: {folder}: is a folder, not a file"


def test_a_duplicate_row_is_named_without_a_python_dict(capsys, tmp_path):
    text = VIDUR_NET + "2,0.010,0.020,0.012,4,2048,all_reduce,4\n"
    code, _, err, path = _import(capsys, tmp_path, "vidur-network", text)
    assert code == 2
    assert one_line(err) == (f"error: {path}: line 4: duplicate shape n_ranks=4, devices_per_node=4, size_bytes=2048, "
                             "impl=nccl, dtype=float16 (first on line 2)")


def test_a_duplicate_timing_table_row_is_named_without_a_python_dict(tmp_path):
    folder = tmp_path / "cpu"
    shutil.copytree(TABLE_FIXTURE, folder)
    path = folder / "copy.csv"
    path.write_text(path.read_text() + path.read_text().splitlines()[2] + "\n")
    with pytest.raises(TimingTableError) as caught:
        load_table(path)
    assert "{" not in str(caught.value) and "numel=" in str(caught.value)


@pytest.mark.parametrize("fmt, text", [("nccl-tests", NCCL), ("vidur-network", VIDUR_NET)])
def test_import_with_a_dtype_no_table_uses_writes_nothing(capsys, tmp_path, fmt, text):
    code, out, err, _ = _import(capsys, tmp_path, fmt, text, "--dtype", "banana")
    assert code == 2 and out == ""
    assert one_line(err) == "error: --dtype: unknown dtype 'banana'; known: float32, bfloat16, float16"
    assert not (tmp_path / "t").exists()
    code, _, _, _ = _import(capsys, tmp_path, fmt, text, "--dtype", "bfloat16")
    assert code == 0 and "bfloat16" in next((tmp_path / "t" / "imp" / "collectives").glob("*.csv")).read_text()


def test_import_with_out_a_file_is_one_line(capsys, tmp_path):
    (tmp_path / "t").write_text("not a folder\n")
    code, _, err, _ = _import(capsys, tmp_path, "nccl-tests", NCCL)
    assert code == 2
    assert one_line(err).startswith(f"error: --out {tmp_path / 't'}: cannot write the tables under")
    assert (tmp_path / "t").read_text() == "not a folder\n"


VIDUR_MLP_ROW = VIDUR_MLP_HEADER + "1.7,1.9,1.85,32,8,4096,14336,True,4096,2\n"


@pytest.mark.parametrize("fmt, text, meta, content", [
    ("nccl-tests", NCCL, "collectives/meta.json", b"\xff\xfe\x00"),
    ("nccl-tests", NCCL, "collectives/meta.json", b'{"schema_version": 1, "table_set": "imp", "ops": 5}'),
    ("vidur-compute", VIDUR_MLP_ROW, "meta.json", b"\xff\xfe\x00"),
])
def test_import_into_a_set_with_a_damaged_meta_json_keeps_it_and_names_it(capsys, tmp_path, fmt, text, meta,
                                                                         content):
    path = tmp_path / "t" / "imp" / meta
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    code, _, err, _ = _import(capsys, tmp_path, fmt, text)
    assert code == 2 and one_line(err).startswith(f"error: {path}: ")
    assert path.read_bytes() == content


# ------------------------------------------------------------------------------------------------ timings list


def test_timings_list_names_a_damaged_meta_json_and_lists_the_rest(capsys, tmp_path):
    root = tmp_path / "t"
    (tmp_path / "net.csv").write_text(VIDUR_NET)
    assert main(["timings", "import", "vidur-network", str(tmp_path / "net.csv"), "--device", "good",
                 "--out", str(root)]) == 0
    capsys.readouterr()
    bad = root / "bad" / "meta.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    code, out, err = cli(capsys, "timings", "list", "--out", root)
    assert code == 2
    assert out.startswith("good: collectives: all_reduce 2")
    assert one_line(err).startswith(f"error: {bad}: not valid JSON (line 1, column 2: ")


def test_timings_list_with_out_a_file(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    code, out, err = cli(capsys, "timings", "list", "--out", tmp_path / "f")
    assert code == 2 and out == ""
    assert one_line(err) == f"error: --out {tmp_path / 'f'}: is a file, not a timings folder"


def test_timings_list_with_out_a_missing_folder(capsys, tmp_path):
    code, out, err = cli(capsys, "timings", "list", "--out", tmp_path / "typo")
    assert code == 2 and out == ""
    assert one_line(err) == f"error: --out {tmp_path / 'typo'}: no such timings folder"


# ---------------------------------------------------------------------------------- fidelity-compute --recompute


@pytest.mark.parametrize("name, content, message", [
    ("steps.csv", b"", "steps.csv: not a readable CSV (No columns to parse from file)"),
    ("steps.csv", b"\xff\xfe\x00garbage", "steps.csv: not a readable CSV ("),
    ("steps.csv", None, "steps.csv is a folder, not the saved study's CSV"),
    ("op_times.csv", b"\xff\xfe\x00garbage", "op_times.csv: not a readable CSV ("),
    ("steps.csv", "abc", "steps.csv: line 2: column measured_ms: expected a number, got 'abc'"),
    ("op_times.csv", b"a,b\n1,2\n1,2,3,4\n",  # pandas ends this message with a newline
     "op_times.csv: not a readable CSV (Error tokenizing data. C error: Expected 2 fields in line 3, saw 4)"),
])
def test_recompute_from_a_damaged_study_folder(capsys, tmp_path, name, content, message):
    saved = Path(__file__).resolve().parents[2] / "results" / "fidelity_compute" / "steps.csv"
    lines = saved.read_text().splitlines()[:2]
    header = lines[0].split(",")
    if content == "abc":  # one measured time that is not a number
        cells = lines[1].split(",")
        cells[header.index("measured_ms")] = "abc"
        lines[1] = ",".join(cells)
    (tmp_path / "steps.csv").write_text("\n".join(lines) + "\n")
    target = tmp_path / name
    if content is None:
        target.unlink()
        target.mkdir()
    elif isinstance(content, bytes):
        target.write_bytes(content)
    code, out, err = cli(capsys, "fidelity-compute", "--recompute", "--out", tmp_path)
    assert code == 2 and out == ""
    assert one_line(err).startswith(f"error: --recompute: {tmp_path}/{message}"), err


# ------------------------------------------------------------------------------------------------------ rl-data


@pytest.mark.parametrize("argv", [["rl-data", "verify", "hopper-random-local", "--size", "test"],
                                  ["rl-data", "list"]])
def test_rl_data_with_a_file_as_the_dataset_folder(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "f"))
    (tmp_path / "f").write_text("x")
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert one_line(err) == (f"error: MINARI_DATASETS_PATH {tmp_path / 'f'}: a file is in the way; expected the "
                             "dataset folder (or a path to create one)")


def test_rl_data_verify_and_list_name_a_damaged_local_manifest(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    manifest = tmp_path / "effml" / "hopper-random-local-test-v0" / "manifest.json"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{not json")
    code, out, _ = cli(capsys, "rl-data", "verify", "hopper-random-local", "--size", "test")
    assert code == 1
    assert out.splitlines()[0].split() == ["hopper-random-local", "FAILED"]
    assert out.splitlines()[1].strip().startswith(f"{manifest}: damaged local manifest (")
    code, out, err = cli(capsys, "rl-data", "list")
    assert code == 2
    row = next(line for line in out.splitlines() if line.startswith("hopper-random-local"))
    assert row.split()[-3] == "!C"
    assert one_line(err).startswith(f"error: {manifest}: damaged local manifest (")
    assert manifest.read_text() == "{not json"


# ---------------------------------------------------------------------------------- flags argparse refuses


@pytest.mark.parametrize("argv, line", [
    (["run", "x.yaml", "--seed", "abc"], "error: harness run: argument --seed: invalid int value: 'abc'"),
    (["figures", "--quick", "--full"], "error: harness figures: argument --full: not allowed with argument --quick"),
    (["timings", "import", "nccl-tests", "x.txt"],
     "error: harness timings import: the following arguments are required: --device"),
    (["profile", "--grid", "huge"], "error: harness profile: argument --grid: invalid choice: 'huge'"),
    (["nosuchcommand"], "error: harness: argument COMMAND: invalid choice: 'nosuchcommand'"),
    # a flag the subcommand does not know: the line names the subcommand and its help, not the top-level parser
    (["sweep", "x.yaml", "--no-such-flag"], "error: harness sweep: unrecognized arguments: --no-such-flag"),
    (["timings", "list", "--bogus", "1"], "error: harness timings list: unrecognized arguments: --bogus 1"),
    (["--bogus", "list"], "error: harness: unrecognized arguments: --bogus"),
])
def test_a_flag_argparse_refuses_is_one_line_without_the_usage_block(capsys, argv, line):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    printed = one_line(err)
    assert printed.startswith(line) and printed.endswith(f"(see '{line[7:].split(':')[0]} --help')"), printed


# --------------------------------------------------- output paths of long commands: refused before any work


def test_profile_with_out_under_a_file_is_refused_before_timing(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    code, out, err = cli(capsys, "profile", "--ops", "copy", "--out", tmp_path / "f")
    assert code == 2 and out == ""
    assert one_line(err) == (f"error: --out {tmp_path / 'f' / 'cpu'}: a file is in the way ({tmp_path / 'f'} is a "
                             "file); expected a folder (or a path to create one)")
    assert (tmp_path / "f").read_text() == "x"


def test_profile_with_a_file_in_place_of_the_table_set_is_refused_before_timing(capsys, tmp_path):
    (tmp_path / "cpu-x").write_text("x")  # the table-set folder is a file: the tables could not be written
    code, out, err = cli(capsys, "profile", "--ops", "copy", "--out", tmp_path, "--table-set", "cpu-x")
    assert code == 2 and out == "" and "profiling" not in err
    assert one_line(err).startswith(f"error: --out {tmp_path / 'cpu-x'}: a file is in the way; expected a folder")
    assert (tmp_path / "cpu-x").read_text() == "x"


@pytest.mark.parametrize("where, message", [
    ("f/rows.json", "a file is in the way ({f} is a file)"),
    ("folder", "is a folder, expected a file"),
])
def test_bench_json_that_cannot_be_written_is_refused_before_timing(capsys, tmp_path, where, message):
    (tmp_path / "f").write_text("x")
    (tmp_path / "folder").mkdir()
    code, out, err = cli(capsys, "bench", "--ops", "topk_flat", "--json", tmp_path / where)
    assert code == 2 and out == ""  # nothing timed, no table printed
    assert one_line(err).startswith(f"error: --json {tmp_path / where}: {message.format(f=tmp_path / 'f')}")


@pytest.mark.parametrize("argv", [
    ["failover", "--quick"],
    ["fidelity", "--loopback", "--quick"],
    ["fidelity-compute", "--quick"],
    ["pipeline-fidelity", "--quick"],
    ["pipeline-fidelity", "--recompute"],
])
def test_a_study_with_out_a_file_is_refused_before_measuring(capsys, tmp_path, argv):
    (tmp_path / "f").write_text("x")
    code, out, err = cli(capsys, *argv, "--out", tmp_path / "f")
    assert code == 2 and out == ""
    assert one_line(err) == f"error: --out {tmp_path / 'f'}: a file is in the way; expected a folder (or a path to " \
                            "create one)"
    assert (tmp_path / "f").read_text() == "x"


def test_figures_with_results_root_under_a_file(capsys, tmp_path):
    (tmp_path / "f").write_text("x")
    code, out, err = cli(capsys, "figures", "--only", "harness.toy", "--out", tmp_path / "figs", "--results-root",
                         tmp_path / "f" / "runs")
    assert code == 2 and out == ""
    assert one_line(err).startswith(f"error: --results-root {tmp_path / 'f' / 'runs'}: a file is in the way "
                                    f"({tmp_path / 'f'} is a file)")


# ------------------------------------------------------------------- fidelity-compute, pipeline-fidelity flags


@pytest.mark.parametrize("command", ["fidelity-compute", "pipeline-fidelity"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_max_wait_that_is_not_finite_is_refused(capsys, tmp_path, command, value):
    code, out, err = cli(capsys, command, "--quick", "--max-wait-s", value, "--out", tmp_path)
    assert code == 2 and out == ""
    assert one_line(err) == f"error: --max-wait-s: expected a finite number >= 0, got {value}"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("content, message", [
    (b"\xff\xfe\x00runs: []\n", "not UTF-8 text (byte 0xff at offset 0)"),
    (None, "is a folder, not a plan file"),
])
def test_pipeline_plan_that_is_binary_or_a_folder(capsys, tmp_path, content, message):
    plan = tmp_path / "plan.yaml"
    if content is None:
        plan.mkdir()
    else:
        plan.write_bytes(content)
    code, out, err = cli(capsys, "pipeline-fidelity", "--plan", plan, "--out", tmp_path / "out")
    assert code == 2 and out == ""
    assert one_line(err) == f"error: {plan}: {message}"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("meta, message", [
    (b"{not json", "meta.json: unreadable (Expecting property name enclosed in double quotes"),
    (b"[1, 2]", "meta.json: unreadable (expected a JSON object with the study's 'plan')"),
    (b'{"plan": {"runs": 5}}', "meta.json: the saved plan is not valid (1 problem(s), first: runs: "),
    (None, "meta.json is a folder, not the written study's file"),
])
def test_pipeline_recompute_from_a_damaged_meta_json(capsys, tmp_path, meta, message):
    path = tmp_path / "meta.json"
    if meta is None:
        path.mkdir()
    else:
        path.write_bytes(meta)
    code, out, err = cli(capsys, "pipeline-fidelity", "--recompute", "--out", tmp_path)
    assert code == 2 and out == ""
    assert one_line(err).startswith(f"error: --recompute: {tmp_path}/{message}"), err
    assert meta is None or path.read_bytes() == meta


def test_vidur_import_of_a_ragged_file_is_one_line(capsys, tmp_path):
    code, _, err, path = _import(capsys, tmp_path, "vidur-network", "a,b\n1,2\n1,2,3,4\n")
    assert code == 2  # pandas ends this message with a newline
    assert one_line(err) == (f"error: {path}: not a readable CSV (Error tokenizing data. C error: Expected 2 fields "
                             "in line 3, saw 4)")
    assert not (tmp_path / "t").exists()


# ------------------------------------------------------------------------- a second audit: every subcommand


def _must_not_run(monkeypatch, *targets: str) -> None:
    """Make each dotted function fail the test if called: a refusal must come before any measurement."""
    def measured(*_args, **_kwargs):
        raise AssertionError("measured before the input was checked")

    for target in targets:
        monkeypatch.setattr(target, measured)


@pytest.mark.parametrize("argv, what", [([], "COMMAND"), (["timings"], "ACTION"), (["rl-data"], "ACTION")])
def test_a_missing_command_or_action_is_one_line_not_the_help_page(capsys, argv, what):
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""  # the whole help page went to stdout
    prog = " ".join(["harness", *argv])
    assert one_line(err) == f"error: {prog}: the following arguments are required: {what} (see '{prog} --help')"


@pytest.mark.parametrize("argv", [["schema", "--out"], ["list", "--scenarios"], ["timings", "list", "--out"],
                                  ["figures", "--only", "harness.fidelity", "--out"], ["bench", "--json"]])
def test_an_empty_path_is_refused_not_read_as_the_current_folder(capsys, tmp_path, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    _must_not_run(monkeypatch, "kernels.benchmark.run_bench", "plots.runner.render_figures")
    code, out, err = cli(capsys, *argv, "")
    assert code == 2 and out == ""
    flag = argv[-1]
    assert one_line(err).startswith(f"error: harness {argv[0]}") and f"argument {flag}: expected a path, got ''" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, sub, measure", [
    (["fidelity", "--loopback", "--quick"], "raw", "harness.fidelity.study.measure_study"),
    (["fidelity-compute", "--quick"], "runs", "harness.fidelity.compute.measure_points"),
    (["failover", "--quick"], "raw", "harness.failover.study.run_study"),
    (["pipeline-fidelity", "--quick"], "raw", "harness.pipeline_study.study.run_study"),
    (["pipeline-fidelity", "--quick"], "history", "harness.pipeline_study.study.run_study"),
])
def test_a_file_where_a_study_writes_a_folder_is_refused_before_measuring(capsys, tmp_path, monkeypatch, argv, sub,
                                                                          measure):
    # the measurements were lost: written into <out>/<sub>/ only after minutes of measuring
    _must_not_run(monkeypatch, measure)
    (tmp_path / sub).write_text("x")
    code, out, err = cli(capsys, *argv, "--out", tmp_path)
    assert code == 2 and out == ""
    assert one_line(err) == f"error: --out {tmp_path}: {tmp_path / sub} is a file; expected a folder there (or nothing)"
    assert (tmp_path / sub).read_text() == "x"


def test_pipeline_fidelity_checks_the_timing_tables_before_measuring(capsys, tmp_path, monkeypatch):
    _must_not_run(monkeypatch, "harness.pipeline_study.study.plan_profile")  # the study's first measurement
    code, out, err = cli(capsys, "pipeline-fidelity", "--quick", "--timings", tmp_path / "none", "--out",
                         tmp_path / "o")
    assert code == 2 and out == ""
    assert one_line(err).startswith(f"error: cache-state tables cpu-f<MiB> under {tmp_path / 'none'}: found 0 set(s)")


def test_fidelity_compute_says_measuring_only_once_the_tables_are_there(capsys, tmp_path):
    code, out, err = cli(capsys, "fidelity-compute", "--quick", "--timings", tmp_path / "none", "--out", tmp_path)
    assert code == 2 and out == ""
    assert one_line(err).startswith("error: cache-state tables cpu-f<MiB> under")  # no "measuring 1 points" first


@pytest.mark.parametrize("content, message", [
    ("{}", "expected a JSON object with 'meta' (an object) and lists of row objects under pingpong, "),
    ("[1, 2]", "expected a JSON object with 'meta' (an object)"),
    ('{"meta": {}, "pingpong": [{"setting": "loopback", "rate_mbit": null, "n_ranks": 2}]}',
     "pingpong row 1: missing size_bytes, time_ms_median"),
    (b"\xff\xfe", "is not valid JSON ('utf-8' codec can't decode byte 0xff"),
    (None, "is a folder, not a saved measurement; run `harness fidelity` to measure first"),  # was "does not exist"
])
def test_fidelity_recompute_from_a_damaged_raw_file(capsys, tmp_path, content, message):
    raw = tmp_path / "raw" / "loopback.json"
    raw.parent.mkdir()
    if content is None:
        raw.mkdir()
    elif isinstance(content, bytes):
        raw.write_bytes(content)
    else:
        raw.write_text(content)
    code, out, err = cli(capsys, "fidelity", "--recompute", "--loopback", "--out", tmp_path)
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith(f"error: --recompute: {raw}") and message in line, line
    assert "{'" not in line


@pytest.mark.parametrize("argv, line, measure", [
    (["profile", "--budget-s", "inf"], "error: --budget-s: expected a finite number > 0, got inf",
     "kernels.profiler.run_profile"),  # 200 repeats of every row, "until inf s" in meta.json
    (["profile", "--seed", str(2**64)], f"error: --seed: expected an integer from 0 to 2**64 - 1, got {2**64}",
     "kernels.profiler.run_profile"),  # torch's overflow, a traceback after the roofline was measured
    (["bench", "--seed", "-1"], "error: --seed: expected an integer from 0 to 2**64 - 1, got -1",
     "kernels.benchmark.run_bench"),
    (["profile", "--table-set", "a b"], "error: --table-set: expected a table-set name (letters, digits, _ . -",
     "kernels.profiler.run_profile"),  # a set no scenario's timings.table_set can select
])
def test_kernel_flags_are_refused_before_timing(capsys, tmp_path, monkeypatch, argv, line, measure):
    _must_not_run(monkeypatch, measure)
    code, out, err = cli(capsys, *argv, *(["--out", tmp_path] if argv[0] == "profile" else []))
    assert code == 2 and out == ""
    assert one_line(err).startswith(line)
    assert list(tmp_path.iterdir()) == []


def test_profile_times_an_op_named_twice_once(capsys, tmp_path, monkeypatch):
    seen = {}

    def profiled(**kwargs):
        seen.update(kwargs)
        return tmp_path / "cpu"

    monkeypatch.setattr("kernels.profiler.run_profile", profiled)
    code, _, _ = cli(capsys, "profile", "--ops", "copy", "copy", "--out", tmp_path)
    assert code == 0 and seen["ops"] == ["copy"]  # twice was merged as two "passes" of one op


def test_rl_data_with_an_empty_dataset_path(capsys, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", "")  # was the current directory
    code, out, err = cli(capsys, "rl-data", "list")
    assert code == 2 and out == ""
    assert one_line(err) == ("error: MINARI_DATASETS_PATH is set but empty; unset it for the default "
                             "(~/.cache/effml_harness/minari) or name the dataset folder")


@pytest.mark.parametrize("command", [["figures"], ["sweep", "scenarios/collective_ring.yaml"]])
def test_more_local_workers_than_four_per_cpu_is_one_line_before_anything_runs(capsys, tmp_path, monkeypatch,
                                                                                command):
    monkeypatch.setattr("harness.executors.default_workers", lambda: 2)
    root = Path(__file__).resolve().parents[2]
    argv = [str(root / a) if a.endswith(".yaml") else a for a in command]
    code, out, err = cli(capsys, *argv, "--workers", "9", "--out", tmp_path / "out")
    assert code == 2 and err.startswith("error: --workers 9: more than 4x the 2 CPUs") and "at most 8" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", [["figures"], ["sweep", "scenarios/collective_ring.yaml"]])
def test_no_workers_is_one_line_before_anything_runs(capsys, tmp_path, command):
    root = Path(__file__).resolve().parents[2]
    argv = [str(root / a) if a.endswith(".yaml") else a for a in command]
    code, out, err = cli(capsys, *argv, "--workers", "0", "--out", tmp_path / "out")
    assert code == 2 and one_line(err) == "error: --workers must be at least 1, got 0"
    assert not (tmp_path / "out").exists()
