"""Gaps in the tests of `harness.timing.importers` and of the row checks of `harness.timing.collective_tables`
found by a mutation audit.

Closed here: Vidur's network CSV: only all-gather and reduce-scatter sizes are scaled to our convention (an
all-reduce's size is kept), ranks per node are capped at the rank count, p10 / p90 hold Vidur's min / max. Vidur's
``mlp.csv``: the shapes of ``attn_post_proj`` (k split by tensor parallelism) and of a gated ``mlp_up_proj`` (n
doubled; ``1`` reads as gated), and the MEDIAN of the medians where several operators share one GEMM shape.
`check_rows`: a median outside [p10, p90], fractional rank counts and repetitions, sizes above 2**53 or negative
and non-finite times are refused naming the line; a fractional size is kept as it is. A meta.json listing an op
without its CSV is refused. nccl-tests output: uneven ranks per host are refused; ``dtype`` overrides the type
column.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import HarnessError, TimingTableError
from harness.timing.collective_tables import check_rows, load_collective_tables, write_collective_tables
from harness.timing.importers import read_nccl_tests, read_vidur_compute, read_vidur_network

NET_HEADER = ("time_stats.{c}.min,time_stats.{c}.max,time_stats.{c}.median,num_workers,size,collective,"
              "devices_per_node\n")
MLP_HEADER = ("time_stats.attn_post_proj.min,time_stats.attn_post_proj.max,time_stats.attn_post_proj.median,"
              "time_stats.mlp_up_proj.min,time_stats.mlp_up_proj.max,time_stats.mlp_up_proj.median,"
              "n_head,n_kv_head,n_embd,n_expanded_embd,use_gated_mlp,num_tokens,num_tensor_parallel_workers\n")


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_vidur_network_all_reduce_keeps_its_size_and_caps_ranks_per_node(tmp_path):
    # 4 workers with 8 devices per node: one node of 4 ranks; min / median / max 1 / 2 / 3 ms
    text = NET_HEADER.format(c="all_reduce") + "1.0,3.0,2.0,4,1024,all_reduce,8\n"
    frame = read_vidur_network(_write(tmp_path, "net.csv", text)).collective_frames["all_reduce"]
    row = frame.iloc[0]
    assert (row["n_ranks"], row["devices_per_node"], row["size_bytes"]) == (4, 4, 1024)
    assert (row["time_ms_p10"], row["time_ms_median"], row["time_ms_p90"]) == (1.0, 2.0, 3.0)


def test_vidur_gemm_shapes_of_a_gated_mlp_and_the_attention_output(tmp_path):
    # d = 4096, 32 heads (head_dim 128), ffn 14336, tp = 2, 512 tokens; flag "1" means gated:
    # attn_post_proj (m, d, 32 * 128 / 2) = (512, 4096, 2048); gated mlp_up_proj (m, 2 * 14336 / 2, d)
    text = MLP_HEADER + "0.1,0.3,0.2,0.4,0.6,0.5,32,8,4096,14336,1,512,2\n"
    frame = read_vidur_compute(_write(tmp_path, "mlp.csv", text)).kernel_frames["matmul"]
    shapes = {(r.m, r.n, r.k): r.time_ms_median for r in frame.itertuples()}
    assert shapes == {(512, 4096, 2048): 0.2, (512, 14336, 4096): 0.5}


def test_vidur_gemms_of_one_shape_merge_to_the_median_of_their_medians(tmp_path):
    # three models' rows give the attention output GEMM (512, 4096, 2048) medians 0.1, 0.2 and 0.6 ms
    row = "{lo},{hi},{med},0.4,0.6,0.5,32,8,4096,14336,True,512,2\n"
    text = MLP_HEADER + "".join(row.format(lo=m / 2, hi=m * 2, med=m) for m in (0.1, 0.2, 0.6))
    frame = read_vidur_compute(_write(tmp_path, "mlp.csv", text)).kernel_frames["matmul"]
    merged = frame[(frame["n"] == 4096) & (frame["k"] == 2048)].iloc[0]
    assert (merged["time_ms_median"], merged["time_ms_p10"], merged["time_ms_p90"]) == (0.2, 0.05, 1.2)
    assert merged["n_reps"] == 3


GOOD = {"n_ranks": "4", "devices_per_node": "4", "size_bytes": "1024", "impl": "nccl", "dtype": "float32",
        "time_ms_median": "0.2", "time_ms_p10": "0.1", "time_ms_p90": "0.3", "n_reps": "5"}


@pytest.mark.parametrize("change, message", [
    ({"time_ms_median": "0.35"}, "expected time_ms_p10 <= time_ms_median <= time_ms_p90"),
    ({"n_ranks": "4.5", "devices_per_node": "1"}, "column n_ranks: expected a whole number >= 1"),
    ({"size_bytes": str(2**53 + 2**31)}, "column size_bytes: expected at most 2\\*\\*53"),
    ({"size_bytes": "-8"}, "column size_bytes: expected a number >= 0"),
    ({"n_reps": "2.5"}, "column n_reps: expected a whole number >= 1"),
    ({"time_ms_p90": "inf"}, "column time_ms_p90: expected a finite number"),
])
def test_bad_collective_rows_are_refused_naming_the_line(change, message):
    frame = pd.DataFrame([GOOD, {**GOOD, "size_bytes": "2048"}, {**GOOD, "size_bytes": "4096", **change}])
    with pytest.raises(TimingTableError, match=f"x.csv: line 4: {message}"):
        check_rows(Path("x.csv"), frame)


def test_a_fractional_size_is_kept():
    frame = check_rows(Path("x.csv"), pd.DataFrame([{**GOOD, "size_bytes": "1000.5"}]))
    assert frame["size_bytes"].tolist() == [1000.5]


def test_meta_json_listing_an_op_without_its_csv_is_refused(tmp_path):
    frame = check_rows(Path("x.csv"), pd.DataFrame([GOOD]))
    write_collective_tables(tmp_path / "set", {"all_reduce": frame}, {"source": "test"})
    meta_path = tmp_path / "set" / "collectives" / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["ops"]["broadcast"] = meta["ops"]["all_reduce"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(TimingTableError, match="lists op\\(s\\) broadcast with no CSV"):
        load_collective_tables(tmp_path / "set")


NCCL = """#  Rank  0 Group  0 Pid   1 on   hostA device  0 [0x01] GPU
#  Rank  1 Group  0 Pid   2 on   hostA device  1 [0x23] GPU
#  Rank  2 Group  0 Pid   3 on   hostB device  0 [0x41] GPU
#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
        1024           256     float     sum      -1    20.50    0.00    0.00      0    20.00    0.00    0.00    N/A
"""


def test_nccl_tests_with_uneven_ranks_per_host_are_refused(tmp_path):
    with pytest.raises(HarnessError, match="3 ranks on 2 hosts: not the same count per host"):
        read_nccl_tests(_write(tmp_path, "uneven.txt", NCCL), "all_reduce")


def test_the_dtype_given_overrides_the_type_column(tmp_path):
    text = NCCL.replace("#  Rank  2 Group  0 Pid   3 on   hostB device  0 [0x41] GPU\n", "")
    frame = read_nccl_tests(_write(tmp_path, "two.txt", text), "all_reduce", dtype="bfloat16").collective_frames
    row = frame["all_reduce"].iloc[0]
    assert (row["dtype"], row["n_ranks"], row["devices_per_node"], row["time_ms_median"]) == ("bfloat16", 2, 2, 0.0205)
    plain = read_nccl_tests(_write(tmp_path, "plain.txt", text), "all_reduce").collective_frames["all_reduce"]
    assert plain["dtype"].tolist() == ["float32"]
