"""The startup + bus-bandwidth closed form, its fit, the measured-collective replay and link protocol efficiency."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.config.blocks import LinkSpec
from harness.errors import HarnessError, TimingTableError
from harness.sim.collectives import (
    LinkCost,
    StartupBandwidth,
    bus_factor,
    fit_startup_bandwidth,
    startup_bandwidth_ns,
)
from harness.timing.collective_tables import (
    CollectiveReplay,
    check_rows,
    load_collective_tables,
    write_collective_tables,
)


def test_bus_factors_are_nccl_tests():
    assert bus_factor("all_reduce", 4) == 1.5
    assert bus_factor("all_gather", 4) == bus_factor("reduce_scatter", 4) == 0.75
    assert bus_factor("broadcast", 8) == bus_factor("p2p", 2) == 1.0


@given(startup_us=st.floats(1, 5_000), busbw=st.floats(0.01, 500), p=st.integers(2, 64),
       sizes=st.lists(st.integers(1 << 10, 1 << 30), min_size=2, max_size=8, unique=True))
@settings(max_examples=60, deadline=None)
def test_fit_recovers_noiseless_parameters(startup_us, busbw, p, sizes):
    truth = StartupBandwidth(startup_us * 1e3, busbw)
    times = [startup_us * 1e3 + bus_factor("all_reduce", p) * s / busbw for s in sizes]
    fit = fit_startup_bandwidth("all_reduce", p, sizes, times)
    for size in sizes:
        exact = truth.startup_ns + bus_factor("all_reduce", p) * size / busbw
        assert startup_bandwidth_ns("all_reduce", size, p, fit) == pytest.approx(exact, rel=1e-6, abs=2)


@given(a=st.integers(0, 1 << 30), b=st.integers(0, 1 << 30), p=st.integers(1, 128))
def test_closed_form_monotone_in_size_and_zero_for_one_rank(a, b, p):
    params = StartupBandwidth(20_000, 150.0)
    lo, hi = sorted((a, b))
    assert startup_bandwidth_ns("all_reduce", lo, p, params) <= startup_bandwidth_ns("all_reduce", hi, p, params)
    assert startup_bandwidth_ns("all_gather", a, 1, params) == 0


def test_spread_weights_discount_a_scattered_outlier():
    sizes = [4096, 65536, 1 << 20, 16 << 20]
    truth = StartupBandwidth(300_000, 0.0125)
    times = [startup_bandwidth_ns("all_reduce", s, 2, truth) for s in sizes]
    times[0] *= 7  # a bimodal first size
    spread = [3.0, 0.1, 0.1, 0.1]
    weighted = fit_startup_bandwidth("all_reduce", 2, sizes, times, spread)
    plain = fit_startup_bandwidth("all_reduce", 2, sizes, times)
    assert abs(weighted.startup_ns - truth.startup_ns) < abs(plain.startup_ns - truth.startup_ns)


def test_fit_rejects_a_single_size():
    with pytest.raises(ValueError):
        fit_startup_bandwidth("all_reduce", 4, [1024, 1024], [1e4, 1.1e4])


def _table(rows):
    frame = pd.DataFrame(rows, columns=["n_ranks", "devices_per_node", "size_bytes", "time_ms_median"])
    frame["impl"], frame["dtype"], frame["n_reps"] = "nccl", "float32", 5
    frame["time_ms_p10"] = frame["time_ms_median"] * 0.9
    frame["time_ms_p90"] = frame["time_ms_median"] * 1.1
    return frame


def test_replay_exact_then_interpolated_then_fitted_then_fallback(tmp_path):
    rows = [(4, 4, 1 << 10, 0.03), (4, 4, 1 << 20, 0.10), (4, 4, 1 << 24, 1.20)]
    write_collective_tables(tmp_path / "set", {"all_reduce": _table(rows)}, {"source": "test"})
    replay = CollectiveReplay(load_collective_tables(tmp_path / "set"),
                              fallback=lambda op, size, n: LinkCost(5_000, 10.0).message_ns(size))
    assert replay.predict("all_reduce", 1 << 20, 4).time_ms == 0.10
    between = replay.predict("all_reduce", 3 << 20, 4)
    assert between.source == "interpolated" and 0.10 < between.time_ms < 1.20
    beyond = replay.predict("all_reduce", 1 << 26, 4)
    assert beyond.source == "closed_form_fit" and beyond.time_ms > 1.20
    other = replay.predict("all_reduce", 1 << 20, 8)
    assert other.source == "closed_form" and other.time_ns == LinkCost(5_000, 10.0).message_ns(1 << 20)
    assert replay.summary()["all_reduce"] == {"exact": 1, "interpolated": 1, "closed_form_fit": 1, "closed_form": 1}


def test_replay_without_fallback_refuses_unknown_rank_counts(tmp_path):
    write_collective_tables(tmp_path / "set", {"p2p": _table([(2, 1, 1024, 0.01)])}, {"source": "test"})
    replay = CollectiveReplay(load_collective_tables(tmp_path / "set"))
    with pytest.raises(HarnessError, match="no closed-form fallback"):
        replay.predict("p2p", 1024, 4)


def test_writing_keeps_other_ops_and_their_provenance(tmp_path):
    write_collective_tables(tmp_path / "set", {"p2p": _table([(2, 1, 1024, 0.01)])}, {"source": "first"})
    write_collective_tables(tmp_path / "set", {"all_reduce": _table([(2, 1, 1024, 0.02)])}, {"source": "second"})
    tables = load_collective_tables(tmp_path / "set")
    assert set(tables.frames) == {"p2p", "all_reduce"}
    assert tables.meta["ops"]["p2p"]["provenance"]["source"] == "first"


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns=["n_reps"]), "line 1: missing column(s) n_reps"),
    (lambda f: f.assign(time_ms_median=-1.0), "line 2: column time_ms_median: time must be >= 0"),
    (lambda f: f.assign(devices_per_node=3), "line 2: column devices_per_node: 3 does not divide n_ranks 4"),
    (lambda f: pd.concat([f, f]), "line 3: duplicate shape"),
    (lambda f: f.assign(size_bytes="1e30"), "line 2: column size_bytes: expected at most 2**53, got 1e30"),
])
def test_bad_rows_name_file_and_line(tmp_path, change, message):
    with pytest.raises(TimingTableError, match=re.escape(message)):
        check_rows(tmp_path / "x.csv", change(_table([(4, 4, 1024, 0.03)])))


def test_protocol_efficiency_scales_the_payload_rate():
    assert LinkSpec(bandwidth_gbps=1.0, latency_us=0).protocol_efficiency == 1.0
    tcp = LinkSpec(bandwidth_gbps=1.0, latency_us=0, protocol_efficiency=1448 / 1514)
    assert LinkCost.from_spec(tcp).bytes_per_ns == pytest.approx(0.125 * 1448 / 1514)
    with pytest.raises(ValueError):
        LinkSpec(bandwidth_gbps=1.0, latency_us=0, protocol_efficiency=1.5)
    assert np.isclose(tcp.payload_gbps, 1448 / 1514)
