"""Failure processes: Poisson counts, mean-matched Weibull, repairs, correlated domains, asymmetric subsets."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from harness.failures.processes import (ComponentClass, InterArrival, Repair, generate_events, poisson_count_test,
                                        renewal_events)

FALSE_ALARM = 0.001  # per seed; 5 fixed seeds -> a false alarm in fewer than 0.5% of code versions


@pytest.mark.parametrize("seed", range(5))
def test_exponential_failure_count_is_poisson(seed):
    """100 devices, MTBF 50 h, no repair time, 1,000 h: the count is Poisson(2,000) (two-sided test at 0.1%)."""
    devices = ComponentClass("device", 100, 1, InterArrival(50.0), Repair(0.0))
    events = generate_events([devices], 1000.0, np.random.SeedSequence(seed))
    accept, p = poisson_count_test(len(events), 100 * 1000.0 / 50.0, FALSE_ALARM)
    assert accept, f"count {len(events)} rejected against Poisson(2000), p = {p:.2g}"


def test_poisson_test_rejects_a_wrong_rate():
    assert not poisson_count_test(2300, 2000.0, FALSE_ALARM)[0]
    assert poisson_count_test(2000, 2000.0, FALSE_ALARM)[0]


@settings(max_examples=30, deadline=None)
@given(shape=st.floats(0.3, 5.0), mean=st.floats(0.1, 1e5))
def test_weibull_is_mean_matched(shape, mean):
    assert math.isclose(InterArrival(mean, "weibull", shape).frozen().mean(), mean, rel_tol=1e-9)
    assert math.isclose(InterArrival(mean).frozen().mean(), mean, rel_tol=1e-12)


@pytest.mark.parametrize("shape", [0.7, 1.0, 2.5])
def test_weibull_sample_mean_matches(shape):
    """Sample mean of 20,000 draws within 5 standard errors of the mean (a one-sample t-test would be the same)."""
    draws = InterArrival(10.0, "weibull", shape).sample(np.random.default_rng(1), 20_000)
    assert abs(draws.mean() - 10.0) <= 5 * draws.std() / math.sqrt(len(draws))


def test_exponential_interarrivals_pass_a_ks_test():
    draws = InterArrival(3.0).sample(np.random.default_rng(2), 5_000)
    assert stats.kstest(draws, stats.expon(scale=3.0).cdf).pvalue > FALSE_ALARM


def test_lognormal_repair_mean_and_fixed_repair():
    rng = np.random.default_rng(3)
    draws = Repair(2.0, "lognormal", 0.8).sample(rng, 50_000)
    assert abs(draws.mean() - 2.0) <= 5 * draws.std() / math.sqrt(len(draws))
    assert set(Repair(1.5).sample(rng, 10)) == {1.5}
    assert set(Repair(0.0, "empirical", samples_h=(1.0, 4.0)).sample(rng, 200)) == {1.0, 4.0}


def test_node_failure_takes_its_devices_down_and_components_never_overlap():
    nodes = ComponentClass("node", 4, 8, InterArrival(5.0), Repair(1.0))
    events = renewal_events(nodes, 200.0, np.random.default_rng(4))
    assert events
    for e in events:
        index = int(e.component.split(":")[1])
        assert e.devices == tuple(range(8 * index, 8 * index + 8))
    by_node: dict[str, list] = {}
    for e in sorted(events, key=lambda e: e.time_h):
        by_node.setdefault(e.component, []).append(e)
    for episodes in by_node.values():
        assert all(a.end_h <= b.time_h for a, b in zip(episodes, episodes[1:]))  # never fails while down


def test_asymmetric_subset_only_fails_its_members():
    devices = ComponentClass("device", 32, 1, InterArrival(2.0), Repair(0.5), subset=tuple(range(8)))
    events = renewal_events(devices, 100.0, np.random.default_rng(5))
    assert events and {d for e in events for d in e.devices} <= set(range(8))


def test_adding_a_class_keeps_the_others_draws():
    a = ComponentClass("device", 10, 1, InterArrival(5.0), Repair(1.0))
    b = ComponentClass("node", 2, 5, InterArrival(7.0), Repair(1.0))
    alone = generate_events([a], 100.0, np.random.SeedSequence(9))
    both = generate_events([a, b], 100.0, np.random.SeedSequence(9))
    assert [e for e in both if e.component.startswith("device")] == alone


def test_llama3_405b_record_count():
    """16,384 GPUs, 54 days, per-GPU MTBF from the 419 unexpected interruptions: median over 9 seeds in 419 +- 41."""
    mtbf = 54 * 24 * 16384 / 419
    gpus = ComponentClass("device", 16384, 1, InterArrival(mtbf), Repair(2.0))
    counts = [len(generate_events([gpus], 54 * 24.0, np.random.SeedSequence(s))) for s in range(9)]
    assert abs(float(np.median(counts)) - 419) <= 41, counts


def test_cluster_process_hits_only_up_devices_and_counts_are_poisson():
    from harness.failures.processes import ClusterProcess, cluster_events

    process = ClusterProcess(32, InterArrival(0.5), Repair(2.0))
    events = cluster_events(process, 2000.0, np.random.default_rng(7))
    down_until: dict[str, float] = {}
    for e in events:
        assert down_until.get(e.component, -1.0) <= e.time_h  # the victim was up
        down_until[e.component] = e.end_h
    # with 4 of 32 devices down on average an arrival almost never finds all down: the count is Poisson(4000)
    assert poisson_count_test(len(events), 2000.0 / 0.5, FALSE_ALARM)[0]
    subset = ClusterProcess(32, InterArrival(0.5), Repair(2.0), subset=(0, 1, 2, 3, 4, 5, 6, 7))
    assert {e.devices[0] for e in cluster_events(subset, 200.0, np.random.default_rng(8))} <= set(range(8))


def test_a_seed_fixes_every_draw_stragglers_keep_their_slowdown_and_bad_rates_are_refused():
    classes = [ComponentClass("device", 8, 1, InterArrival(5.0, "weibull", 0.7), Repair(1.0, "lognormal", 0.5)),
               ComponentClass("device", 8, 1, InterArrival(3.0), Repair(0.5, "lognormal", 0.8), "straggle", 1.7)]
    first = generate_events(classes, 200.0, np.random.SeedSequence(4))
    assert generate_events(classes, 200.0, np.random.SeedSequence(4)) == first
    assert generate_events(classes, 200.0, np.random.SeedSequence(5)) != first
    assert {e.slowdown for e in first if e.kind == "straggle"} == {1.7}
    assert {e.slowdown for e in first if e.kind == "fail"} == {1.0}
    for bad in ({"mean_h": 0.0}, {"mean_h": math.inf}, {"mean_h": 1.0, "shape": 0.0}):
        with pytest.raises(ValueError, match="must be > 0"):
            InterArrival(**{"distribution": "weibull", **bad})
