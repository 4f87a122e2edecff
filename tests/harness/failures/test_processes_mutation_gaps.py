"""Gaps in the tests of `harness.failures.processes` found by a mutation audit, closed here.

The existing tests check only the *mean* of the inter-arrival draws, so swapping the Weibull and exponential
branches survived (an exponential and a mean-matched Weibull have the same mean); here the spread of log(draws),
which depends on the shape alone, tells them apart. Also closed: `read_repair_csv` (the empirical repair file; its
header check, error line numbers, zero durations, blank lines and an empty file), the last component of a class
never failing, the cluster process's uniform victim among the up devices (always the first, never the last), its
subset's device names and its repairs clipped to the horizon, classes sharing one seed, and the p-value of
`poisson_count_test` (the upper tail, the factor 2, the cap at 1, the acceptance at equality).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.errors import ScenarioError
from harness.failures.processes import (ComponentClass, InterArrival, Repair, generate_events, poisson_count_test,
                                        read_repair_csv, renewal_events)


@pytest.mark.parametrize("distribution, shape, log_sd", [
    # ln of a Weibull(k) draw is a Gumbel variable with sd pi / (k sqrt 6), whatever the scale (mean matching)
    ("weibull", 0.7, math.pi / (0.7 * math.sqrt(6.0))),   # 1.8322
    ("weibull", 2.5, math.pi / (2.5 * math.sqrt(6.0))),   # 0.5130
    ("exponential", 0.7, math.pi / math.sqrt(6.0)),       # 1.2825: the exponential ignores the shape
])
def test_the_shape_sets_the_spread_of_log_interarrivals(distribution, shape, log_sd):
    """20,000 draws (seed 11): the sample sd of ln(X) is within 5 % of the Gumbel value (its standard error is
    under 1 %)."""
    draws = InterArrival(10.0, distribution, shape).sample(np.random.default_rng(11), 20_000)
    assert np.log(draws).std() == pytest.approx(log_sd, rel=0.05)


def _csv(tmp_path, text: str):
    path = tmp_path / "repairs.csv"
    path.write_text(text)
    return path


def test_repair_csv_reads_every_duration_skipping_blank_lines(tmp_path):
    assert read_repair_csv(_csv(tmp_path, "duration_h\n1.5\n\n0\n  \n4\n")) == (1.5, 0.0, 4.0)


@pytest.mark.parametrize("text, needle", [
    ("hours\n1.0\n", ":1: expected the header 'duration_h'"),
    ("", ":1: expected the header 'duration_h'"),
    ("duration_h\n1.0\nabc\n", ":3: duration_h: expected a number, got 'abc'"),
    ("duration_h\n1.0\n\n-2\n", ":4: duration_h: expected a number >= 0, got -2.0"),
    ("duration_h\n1.0\ninf\n", ":3: duration_h: expected a number >= 0, got inf"),
    ("duration_h\n\n", ": no repair durations"),
])
def test_bad_repair_csv_names_the_line(tmp_path, text, needle):
    with pytest.raises(ScenarioError) as err:
        read_repair_csv(_csv(tmp_path, text))
    assert err.value.problems == [f"{tmp_path / 'repairs.csv'}{needle}"]


def test_every_component_of_a_class_fails():
    """4 devices, MTBF 1 h, 100 h (seed 12): each is expected to fail ~100 times, so each must appear (the last
    one too), and each count passes the Poisson test at 0.1 %."""
    devices = ComponentClass("device", 4, 1, InterArrival(1.0), Repair(0.0))
    events = renewal_events(devices, 100.0, np.random.default_rng(12))
    counts = {f"device:{i}": 0 for i in range(4)}
    for e in events:
        counts[e.component] += 1
    assert all(poisson_count_test(n, 100.0, 0.001)[0] for n in counts.values()), counts


def test_a_cluster_failure_hits_every_up_device_alike():
    """8 devices, a failure every 0.5 h, zero repair, 400 h (seed 13): ~800 failures spread uniformly over the
    devices (chi-square test of the 8 counts at 0.1 %). With repairs longer than the run, the failures take the
    devices down one by one: 8 events, one per device, each clipped to end at the horizon, and the arrivals that
    find all 8 down are skipped."""
    from scipy import stats

    from harness.failures.processes import ClusterProcess, cluster_events

    events = cluster_events(ClusterProcess(8, InterArrival(0.5), Repair(0.0)), 400.0, np.random.default_rng(13))
    counts = np.bincount([e.devices[0] for e in events], minlength=8)
    assert stats.chisquare(counts).pvalue > 0.001, counts
    last = cluster_events(ClusterProcess(8, InterArrival(0.5), Repair(1000.0)), 400.0, np.random.default_rng(14))
    assert sorted(e.devices[0] for e in last) == list(range(8))
    assert [e.end_h for e in last] == pytest.approx([400.0] * 8)


def test_a_cluster_process_on_a_subset_names_the_subsets_devices():
    from harness.failures.processes import ClusterProcess, cluster_events

    events = cluster_events(ClusterProcess(8, InterArrival(0.5), Repair(0.1), subset=(4, 5, 6, 7)), 100.0,
                            np.random.default_rng(15))
    assert {e.devices[0] for e in events} == {4, 5, 6, 7}
    assert {e.component for e in events} == {f"device:{d}" for d in (4, 5, 6, 7)}


def test_each_class_draws_from_its_own_child_seed():
    """Two identical classes in one list must not fail at the same times."""
    a = ComponentClass("device", 4, 1, InterArrival(5.0), Repair(1.0))
    b = ComponentClass("node", 4, 1, InterArrival(5.0), Repair(1.0))
    events = generate_events([a, b], 100.0, np.random.SeedSequence(16))
    times = {name: [e.time_h for e in events if e.component.startswith(name)] for name in ("device", "node")}
    assert times["device"] and times["node"] and times["device"] != times["node"]


def test_poisson_count_test_p_value_by_hand():
    """count 3 against Poisson(1): P[X >= 3] = 1 - e^-1 (1 + 1 + 1/2) = 0.080301 < P[X <= 3], so p = 0.160603;
    count 0: P[X <= 0] = e^-1, p = 2 / e = 0.735759; count 1: 2 P[X >= 1] = 2 (1 - 1/e) = 1.26 is capped at 1, which
    a false-alarm rate of 1 still accepts."""
    assert poisson_count_test(3, 1.0)[1] == pytest.approx(2 * (1 - 2.5 / math.e), rel=1e-9)
    assert poisson_count_test(0, 1.0)[1] == pytest.approx(2 / math.e, rel=1e-9)
    assert poisson_count_test(3, 1.0, false_alarm=0.17) == (False, pytest.approx(0.160603, rel=1e-5))
    assert poisson_count_test(1, 1.0, false_alarm=1.0) == (True, 1.0)
