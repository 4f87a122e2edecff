"""`harness timings import`: round trips (import -> replay at the imported shapes = the imported medians) and
bad files (exit 2 naming the file and line)."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.devices import get_device
from harness.timing.collective_tables import CollectiveReplay, load_collective_tables
from harness.timing.replay import TimingReplay
from harness.timing.table import load_table_set

NCCL_TIMES_US = {1024: 20.5, 1048576: 120.0, 16777216: 1500.0}
NCCL_TEXT = """# nThread 1 nGpus 1 minBytes 1024 maxBytes 16777216 step: 2(factor) warmup iters: 5 iters: 20 agg iters: 1
# Using devices
#  Rank  0 Group  0 Pid   4349 on   hostA device  0 [0x01] NVIDIA A100-PCIE-40GB
#  Rank  1 Group  0 Pid   4350 on   hostA device  1 [0x23] NVIDIA A100-PCIE-40GB
#  Rank  2 Group  0 Pid   4351 on   hostB device  0 [0x41] NVIDIA A100-PCIE-40GB
#  Rank  3 Group  0 Pid   4352 on   hostB device  1 [0x61] NVIDIA A100-PCIE-40GB
hostA:4349:4349 [0] NCCL INFO Bootstrap : Using eno1
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
#        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
""" + "".join(f"{s:12d} {s // 4:12d}  float  sum  -1  {t:8.2f}  0.00  0.00  0  {t * 0.99:8.2f}  0.00  0.00  N/A\n"
              for s, t in NCCL_TIMES_US.items()) + "# Avg bus bandwidth    : 10.0\n"

VIDUR_NET = """,time_stats.all_gather.min,time_stats.all_gather.max,time_stats.all_gather.mean,time_stats.all_gather.median,time_stats.all_gather.std,rank,num_workers,size,collective,devices_per_node,max_devices_per_node
0,0.010,0.020,0.015,0.012,0.003,0,4,2048,all_gather,4,4
1,0.030,0.050,0.040,0.041,0.004,0,4,65536,all_gather,4,4
2,0.200,0.260,0.230,0.225,0.010,0,4,1048576,all_gather,4,4
"""

VIDUR_MLP = """time_stats.attn_pre_proj.min,time_stats.attn_pre_proj.max,time_stats.attn_pre_proj.median,time_stats.mlp_down_proj.min,time_stats.mlp_down_proj.max,time_stats.mlp_down_proj.median,time_stats.add.median,n_head,n_kv_head,n_embd,n_expanded_embd,vocab_size,use_gated_mlp,num_tokens,num_tensor_parallel_workers
1.7,1.9,1.85,1.4,1.6,1.5,0.05,32,8,4096,14336,128256,True,4096,2
0.9,1.0,0.95,0.7,0.8,0.75,0.03,32,8,4096,14336,128256,True,2048,2
"""


def _import(tmp_path, fmt: str, text: str, *extra: str) -> int:
    path = tmp_path / f"input_{fmt}.txt"
    path.write_text(text)
    return main(["timings", "import", fmt, str(path), "--device", "imported", "--out", str(tmp_path / "t"), *extra])


def test_nccl_tests_round_trip(tmp_path):
    assert _import(tmp_path, "nccl-tests", NCCL_TEXT) == 0
    tables = load_collective_tables(tmp_path / "t" / "imported")
    frame = tables.frames["all_reduce"]
    assert set(frame["n_ranks"]) == {4} and set(frame["devices_per_node"]) == {2}  # 4 ranks on two hosts
    assert set(frame["n_reps"]) == {20} and set(frame["dtype"]) == {"float32"}
    replay = CollectiveReplay(tables)
    for size, time_us in NCCL_TIMES_US.items():
        prediction = replay.predict("all_reduce", size, 4)
        assert prediction.source == "exact" and prediction.time_ms == time_us / 1e3
    assert replay.summary()["all_reduce"]["exact"] == len(NCCL_TIMES_US)
    provenance = json.loads((tmp_path / "t" / "imported" / "collectives" / "meta.json").read_text())
    assert "sha256" in provenance["ops"]["all_reduce"]["provenance"]["imported_from"]


def test_reimport_repairs_a_table_its_meta_json_disagrees_with(tmp_path):
    """A write cut off between a collective table and its meta.json (table rewritten, meta.json not): importing
    the same file again repairs the folder instead of failing on the disagreement."""
    assert _import(tmp_path, "nccl-tests", NCCL_TEXT) == 0
    table = tmp_path / "t" / "imported" / "collectives" / "all_reduce.csv"
    lines = table.read_text().splitlines(keepends=True)
    table.write_text("".join(lines[:-1]))  # one row fewer than meta.json says
    with pytest.raises(Exception, match="rows"):
        load_collective_tables(tmp_path / "t" / "imported")
    assert _import(tmp_path, "nccl-tests", NCCL_TEXT) == 0
    assert len(load_collective_tables(tmp_path / "t" / "imported").frames["all_reduce"]) == len(NCCL_TIMES_US)


def test_nccl_tests_in_place_and_op(tmp_path):
    assert _import(tmp_path, "nccl-tests", NCCL_TEXT, "--op", "reduce_scatter", "--place", "in") == 0
    frame = load_collective_tables(tmp_path / "t" / "imported").frames["reduce_scatter"]
    assert frame["time_ms_median"].tolist() == [float(f"{t * 0.99:.2f}") / 1e3 for t in NCCL_TIMES_US.values()]


def test_vidur_network_round_trip_all_gather_sized_as_output(tmp_path):
    assert _import(tmp_path, "vidur-network", VIDUR_NET) == 0
    tables = load_collective_tables(tmp_path / "t" / "imported")
    replay = CollectiveReplay(tables)
    for vidur_size, median in ((2048, 0.012), (65536, 0.041), (1048576, 0.225)):
        prediction = replay.predict("all_gather", 4 * vidur_size, 4)  # Vidur sizes the input, we the output
        assert prediction.source == "exact" and prediction.time_ms == median
    assert tables.frames["all_gather"]["time_ms_p90"].tolist() == [0.02, 0.05, 0.26]  # Vidur's max


def test_vidur_compute_round_trip(tmp_path):
    assert _import(tmp_path, "vidur-compute", VIDUR_MLP) == 0
    tables = load_table_set(tmp_path / "t" / "imported")
    assert tables.meta["provenance"]["not_imported"] == ["add"]
    replay = TimingReplay(get_device("a100"), tables)
    # attn_pre_proj, tp 2: n = (32 + 2 * 8) * 128 / 2 = 3072, k = 4096; mlp_down_proj: k = 14336 / 2, n = 4096
    for m, n, k, median in ((4096, 3072, 4096, 1.85), (2048, 3072, 4096, 0.95), (4096, 4096, 7168, 1.5)):
        prediction = replay.predict("matmul", m=m, n=n, k=k, dtype="float16")
        assert prediction.source == "exact" and prediction.time_ms == median


def test_compute_import_never_overwrites_measured_tables(tmp_path, capsys):
    measured = tmp_path / "t" / "imported"
    measured.mkdir(parents=True)
    (measured / "meta.json").write_text(json.dumps({
        "schema_version": 1, "device": "imported", "device_name": "x", "torch": None, "triton": None, "cuda": None,
        "date": "", "timer": "", "kernel_source_sha256": "", "ops": {}, "roofline": {}}))
    assert _import(tmp_path, "vidur-compute", VIDUR_MLP) == 2
    assert "measured by `harness profile`" in capsys.readouterr().err


@pytest.mark.parametrize("fmt, text, expected", [
    ("vidur-network", VIDUR_NET.replace(",size,", ",bytes,"), "line 1: missing column(s) size"),
    ("vidur-network", VIDUR_NET.replace("0.041", "-0.041"), "line 3: column time_stats.all_gather.median: negative"),
    ("vidur-compute", VIDUR_MLP.replace("n_kv_head,", "kv,"), "line 1: missing column(s) n_kv_head"),
    ("vidur-compute", VIDUR_MLP.replace(",0.95,", ",-0.95,"), "line 3: column time_stats.attn_pre_proj.median"),
    ("nccl-tests", NCCL_TEXT.replace("  120.00", " -120.00"), "line 11: negative size or time"),
    ("nccl-tests", NCCL_TEXT.replace("busbw #wrong", "busbw"), "line 10: expected 11 columns as in the header"),
    ("nccl-tests", "just some text\n", "no nccl-tests column header"),
    ("table-of-mine", "x", "unknown format 'table-of-mine'"),
])
def test_bad_files_exit_2_naming_file_and_line(tmp_path, capsys, fmt, text, expected):
    assert _import(tmp_path, fmt, text) == 2
    err = capsys.readouterr().err
    assert expected in err
    if fmt != "table-of-mine":
        assert f"input_{fmt}.txt" in err


def test_an_import_is_refused_while_another_process_writes_the_set(tmp_path, capsys):
    from kernels.files import exclusive_writer

    with exclusive_writer(tmp_path / "t" / "imported", "a profile"):  # as a second process would hold it
        assert _import(tmp_path, "nccl-tests", NCCL_TEXT) == 2
        assert "another process is writing here (an import needs it alone" in capsys.readouterr().err
    assert not (tmp_path / "t" / "imported" / "collectives").exists()
    assert _import(tmp_path, "nccl-tests", NCCL_TEXT) == 0


VIDUR_MLP_ROW = VIDUR_MLP.splitlines()[0] + "\n" + VIDUR_MLP.splitlines()[1] + "\n"  # header + line 2


@pytest.mark.parametrize("fmt, text, line", [
    # a row whose size is not a whole number was skipped as log text, and the import went on without it
    ("nccl-tests", NCCL_TEXT.replace("        1024 ", "      1024.5 "),
     "line 10: column size: expected a whole number of bytes up to 2**53, got 1024.5"),
    ("nccl-tests", NCCL_TEXT.replace("        1024 ", "        1e30 "),
     "line 10: column size: expected a whole number of bytes up to 2**53, got 1e30"),
    ("nccl-tests", NCCL_TEXT.replace("        1024 ", "       -1024 "), "line 10: negative size or time (-1024, "),
    # a size beyond 2**53 was stored rounded (99999999999999999999999999 as 100000000000000004764729344)
    ("nccl-tests", NCCL_TEXT.replace("        1024 ", " 99999999999999999999999999 "),
     "line 10: column size: expected a whole number of bytes up to 2**53, got 99999999999999999999999999"),
    ("vidur-network", VIDUR_NET.replace(",2048,", ",1e30,"), "line 2: column size: above 2**53: '1e30'"),
    ("vidur-compute", VIDUR_MLP_ROW.replace(",True,", ",maybe,"),  # was read as False
     "line 2: column use_gated_mlp: expected True or False, got 'maybe'"),
    ("vidur-compute", VIDUR_MLP_ROW.replace("1.7,1.9,1.85,", "1.9,1.7,1.85,"),  # a table the loader then refused
     "line 2: attn_pre_proj: expected min <= median <= max, got 1.9, 1.85, 1.7 ms"),
    ("vidur-compute", VIDUR_MLP_ROW.replace(",True,4096,", ",True,1e30,"), "line 2: column num_tokens: above 2**53"),
    ("vidur-compute", VIDUR_MLP_ROW.replace(",True,4096,", ",True,0,"),  # was called a non-integer shape
     "line 2: attn_pre_proj: the model dimensions give the GEMM shape m=0, n=3072, k=4096; expected whole numbers"),
])
def test_a_bad_row_is_one_line_naming_its_line_and_nothing_is_written(tmp_path, capsys, fmt, text, line):
    assert _import(tmp_path, fmt, text) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    (printed,) = err.strip().splitlines()
    assert printed.startswith(f"error: {tmp_path / f'input_{fmt}.txt'}: {line}"), printed
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("fmt, text, extra, line", [
    # --op and --place were ignored for Vidur files, even a collective that does not exist
    ("vidur-network", VIDUR_NET, ["--op", "nope"], "error: --op: only for nccl-tests files, not vidur-network"),
    ("vidur-compute", VIDUR_MLP, ["--place", "in"], "error: --place: only for nccl-tests files, not vidur-compute"),
    # a set no scenario's timings.table_set could select
    ("nccl-tests", NCCL_TEXT, ["--device", "a b"], "error: --device: expected a table-set name (letters, digits"),
    ("nccl-tests", NCCL_TEXT, ["--device", "x" * 65], "error: --device: expected a table-set name (letters, digits"),
    ("nccl-tests", NCCL_TEXT, ["--out", ""], "error: harness timings import: argument --out: expected a path, got ''"),
])
def test_import_flags_refused_before_reading(tmp_path, capsys, fmt, text, extra, line):
    assert _import(tmp_path, fmt, text, *extra) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    (printed,) = err.strip().splitlines()
    assert printed.startswith(line), printed
    assert not (tmp_path / "t").exists() and not (tmp_path / "imported").exists()


def test_a_device_file_to_import_is_not_called_missing(tmp_path, capsys):
    code = main(["timings", "import", "nccl-tests", "/dev/null", "--device", "imported", "--out", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip() == "error: /dev/null: not a regular file (a pipe, device or socket)"
