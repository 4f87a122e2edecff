"""Gaps in the tests of `harness.timing.collective_tables` found by a mutation audit.

Closed here, on small hand-made tables (`CollectiveReplay`, `TablePricer`): one rank costs 0 with no fallback;
exact means the same size (half a byte off interpolates); interpolation uses the NEAREST measured sizes on either
side, also when the CSV lists them out of order; two rows are enough for the fitted closed form, whose time is in
ms (checked on noiseless rows of a known startup and bus bandwidth); rows timed at 0 ms are left out of the fit;
the fit weights each row by ``1 / max((p90 - p10) / median, 0.05)`` (checked against a weighted least-squares
solution by ``numpy.linalg.lstsq``); several dtypes or ranks-per-node at one rank count must be chosen; a pricer
whose table holds one dtype uses it whatever the scenario's dtype; a pricer's counts add up over rank counts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.sim.collectives import LinkCost
from harness.sim.topology import Topology
from harness.timing.collective_tables import (
    CollectiveReplay,
    TablePricer,
    load_collective_tables,
    write_collective_tables,
)

COLUMNS = ["n_ranks", "devices_per_node", "size_bytes", "impl", "dtype", "time_ms_median", "time_ms_p10",
           "time_ms_p90", "n_reps"]


def _tables(tmp_path: Path, rows, op: str = "all_reduce"):
    """``rows``: (n_ranks, devices_per_node, size_bytes, median_ms[, p10, p90[, dtype]])."""
    full = []
    for row in rows:
        n, dpn, size, median, *rest = row
        p10, p90 = rest[:2] if rest else (median, median)
        dtype = rest[2] if len(rest) > 2 else "float32"
        full.append((n, dpn, size, "nccl", dtype, median, p10, p90, 5))
    write_collective_tables(tmp_path / "set", {op: pd.DataFrame(full, columns=COLUMNS)}, {"source": "test"})
    return load_collective_tables(tmp_path / "set")


def test_one_rank_costs_nothing_without_rows_or_fallback(tmp_path):
    replay = CollectiveReplay(_tables(tmp_path, [(4, 4, 1000, 0.1), (4, 4, 2000, 0.2)]))
    p = replay.predict("all_reduce", 1 << 20, 1)
    assert (p.time_ms, p.source) == (0.0, "closed_form")


def test_half_a_byte_off_a_measured_size_interpolates(tmp_path):
    replay = CollectiveReplay(_tables(tmp_path, [(4, 4, 1000, 0.1), (4, 4, 2000, 0.3)]))
    p = replay.predict("all_reduce", 1000.5, 4)
    assert p.source == "interpolated" and p.time_ms == pytest.approx(0.1 + 0.0005 * 0.2)


def test_interpolation_uses_the_nearest_sizes_on_either_side(tmp_path):
    replay = CollectiveReplay(_tables(tmp_path, [(4, 4, 1000, 0.1), (4, 4, 2000, 0.2), (4, 4, 4000, 0.6)]))
    assert replay.predict("all_reduce", 3000, 4).time_ms == pytest.approx(0.4)  # halfway from 2000 to 4000


def test_rows_out_of_order_in_the_csv_still_interpolate_between_neighbours(tmp_path):
    folder = tmp_path / "set" / "collectives"
    _tables(tmp_path, [(4, 4, 1000, 0.1), (4, 4, 2000, 0.2), (4, 4, 4000, 0.6)])
    frame = pd.read_csv(folder / "all_reduce.csv")
    frame.iloc[[2, 0, 1]].to_csv(folder / "all_reduce.csv", index=False)  # 4000, 1000, 2000
    replay = CollectiveReplay(load_collective_tables(tmp_path / "set"))
    assert replay.predict("all_reduce", 3000, 4).time_ms == pytest.approx(0.4)
    assert replay.predict("all_reduce", 1500, 4).time_ms == pytest.approx(0.15)


def test_two_rows_give_the_fitted_closed_form_in_ms(tmp_path):
    # 4 ranks, all_reduce: bus factor 2 * 3 / 4 = 1.5; startup 20 us, bus bandwidth 10 bytes/ns:
    # 1 MB -> 20_000 + 150_000 ns, 2 MB -> 20_000 + 300_000 ns; 4 MB -> 20_000 + 600_000 ns = 0.62 ms
    replay = CollectiveReplay(_tables(tmp_path, [(4, 4, 10**6, 0.17), (4, 4, 2 * 10**6, 0.32)]))
    p = replay.predict("all_reduce", 4 * 10**6, 4)
    assert p.source == "closed_form_fit"
    assert p.time_ms == pytest.approx(0.62, abs=2e-6)  # the fit may round the transfer up by 1 ns


def test_rows_timed_at_zero_ms_are_left_out_of_the_fit(tmp_path):
    rows = [(4, 4, 0, 0.0), (4, 4, 10**6, 0.17), (4, 4, 2 * 10**6, 0.32)]
    replay = CollectiveReplay(_tables(tmp_path, rows), fallback=lambda op, size, n: 1)
    p = replay.predict("all_reduce", 4 * 10**6, 4)
    assert p.source == "closed_form_fit" and p.time_ms == pytest.approx(0.62, abs=2e-6)


def test_the_fit_weights_each_row_by_its_own_spread(tmp_path):
    # 2 ranks, all_reduce: bus factor 1. Noisy medians; relative spreads 0.01 (floored to 0.05), 1.0, 0.2, 1.0
    sizes = np.array([1e3, 1e5, 1e6, 1e7])
    median_ms = np.array([2.6e-2, 2.9e-2, 5.1e-2, 2.4e-1])
    spread = np.array([0.01, 1.0, 0.2, 1.0])
    rows = [(2, 2, int(s), m, m * (1 - r / 2), m * (1 + r / 2)) for s, m, r in zip(sizes, median_ms, spread)]
    fitted = CollectiveReplay(_tables(tmp_path, rows)).fitted("all_reduce", 2)
    w = 1.0 / np.maximum(spread, 0.05)
    times_ns = median_ms * 1e6
    design = (w / times_ns)[:, None] * np.column_stack([np.ones_like(sizes), sizes])
    (a, c), *_ = np.linalg.lstsq(design, w, rcond=None)
    assert a > 0 and c > 0
    assert fitted.startup_ns == pytest.approx(a, rel=1e-6)
    assert fitted.busbw_bytes_per_ns == pytest.approx(1.0 / c, rel=1e-6)


def test_several_dtypes_or_ranks_per_node_at_one_rank_count_must_be_chosen(tmp_path):
    dtypes = CollectiveReplay(_tables(tmp_path / "a", [(4, 4, 1000, 0.1, 0.1, 0.1, "float32"),
                                                       (4, 4, 1000, 0.2, 0.2, 0.2, "bfloat16")]))
    with pytest.raises(HarnessError, match="several dtype values at n_ranks=4"):
        dtypes.predict("all_reduce", 1000, 4)
    nodes = CollectiveReplay(_tables(tmp_path / "b", [(4, 4, 1000, 0.1), (4, 2, 1000, 0.3)]))
    with pytest.raises(HarnessError, match="several devices_per_node at n_ranks=4"):
        nodes.predict("all_reduce", 1000, 4)
    assert nodes.predict("all_reduce", 1000, 4, 2).time_ms == 0.3


def test_a_pricer_uses_a_tables_only_dtype_and_adds_its_counts_over_rank_counts(tmp_path):
    tables = _tables(tmp_path, [(4, 4, 1000, 0.1, 0.1, 0.1, "float16"), (8, 4, 1000, 0.3, 0.3, 0.3, "float16")])
    pricer = TablePricer(tables, "set", dtype="float32")
    link = LinkCost(1, 1.0)
    assert pricer("all_reduce", "ring", 1000, Topology(1, 4, link, link)) == 100_000
    assert pricer("all_reduce", "ring", 1000, Topology(2, 4, link, link)) == 300_000
    assert pricer.summary() == {"all_reduce": {"exact": 2}}
