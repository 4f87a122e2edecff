"""Real torch.distributed (gloo) runs on loopback (harness.fidelity.launch + measure): they run, times are
positive, predictions from their fit are finite. No accuracy assertions: timing is a benchmark, not a test."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from harness.fidelity.launch import Loopback, MeasurementError, reduce_rows, run_ranks
from harness.fidelity.study import fit_from_pingpong
from harness.fidelity.predict import loopback_hop, predict_allreduce_ns

SIZES = [4096, 1 << 20, 16 << 20]  # wide apart: beta must show through the noise of a busy machine


def _args(sizes, repeats=3):
    return ["--sizes-bytes", *map(str, sizes), "--warmup", "1", "--repeats", str(repeats)]


def test_two_process_allreduce_and_prediction():
    import pandas as pd

    rows = reduce_rows(run_ranks("pingpong_allreduce", 2, _args(SIZES), timeout_s=120))
    assert [(row["op"], row["size_bytes"]) for row in rows] == [("pingpong", s) for s in SIZES] + [
        ("allreduce", s) for s in SIZES
    ]
    for row in rows:
        assert 0 < row["time_ns_p10"] <= row["time_ns_median"] <= row["time_ns_p90"]
        assert row["n_repeats"] == 3
    pingpong = pd.DataFrame([row for row in rows if row["op"] == "pingpong"])
    fit = fit_from_pingpong(pingpong.assign(time_ms_median=pingpong["time_ns_median"] / 1e6))
    hop = loopback_hop(fit.alpha_ns, fit.bytes_per_ns)
    for size in SIZES:
        predicted_ns = predict_allreduce_ns("loopback", 2, size, hop, "gloo_ring", "link_level")
        assert math.isfinite(predicted_ns) and predicted_ns > 0


def test_reduce_rows_takes_the_slowest_rank_per_repeat():
    records = [
        {"rows": [{"size_bytes": 8, "times_ns": [10, 50, 30]}]},
        {"rows": [{"size_bytes": 8, "times_ns": [20, 40, 30]}]},
    ]
    (row,) = reduce_rows(records)
    assert row["time_ns_median"] == 30  # max per repeat: [20, 50, 30]
    assert row["n_repeats"] == 3


def _worker_children() -> set[int]:
    """Pids of this process's children that run the measurement worker (from /proc)."""
    pids = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and b"harness.fidelity.measure" in cmdline:
            pids.add(int(stat.parent.name))
    return pids


def test_a_failing_rank_raises_with_its_message_and_leaves_no_process():
    with pytest.raises(MeasurementError, match="multiples of 4"):
        run_ranks("allreduce", 2, _args([4097]), timeout_s=60)
    assert _worker_children() == set()


def test_a_hung_measurement_times_out_and_is_killed():
    # one rank of two never gets its peer: rank 0 waits in rendezvous until our deadline kills it
    with pytest.raises(MeasurementError, match="timed out"):
        run_ranks("allreduce", 2, _args([4096]) + ["--timeout-s", "30"], timeout_s=3, placement=_OnlyRankZero())
    assert _worker_children() == set()


class _OnlyRankZero(Loopback):
    """Starts rank 1 as a process that exits at once (``true``), so rank 0 waits for it forever."""

    def exec_prefix(self, rank: int) -> list[str]:
        return [] if rank == 0 else ["true"]
