"""Gaps in the tests of `harness.pipeline_study.plan` found by a mutation audit.

Closed here:
- network names: a fractional rate is read, and a name with trailing text is refused;
- a run that lists a network twice, sends AQ-SGD backward, or has more stages than blocks is refused;
- ``networks()`` sorts loopback first and then by rate as a number (not as text); ``max_stages`` looks only at
  the runs on that network;
- a run's config carries the plan's seed and its data set is one step's samples;
- the field bounds: at least 2 stages, at least 2 warm-up steps, an MTU of at least 576 bytes, at least one
  network and one run, and heads that fit rotary embeddings.
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.pipeline_study.plan import ModelSpec, RunSpec, StudyPlan, network_rate_mbit, run_config

SMALL = ModelSpec(d_model=64, d_ff=128, n_heads=2, n_layers=2, vocab_size=64)


def _plan(*runs: RunSpec, **kwargs) -> StudyPlan:
    return StudyPlan(model=SMALL, micro_batch=2, seq_len=8, runs=list(runs), **kwargs)


def test_a_fractional_rate_is_read():
    assert network_rate_mbit("2.5mbit") == 2.5


@pytest.mark.parametrize("name", ["100mbitx", "loopback0", "100 mbit", "1e3mbit"])
def test_a_name_with_extra_text_is_refused(name):
    with pytest.raises(ValueError, match="expected 'loopback' or '<rate>mbit'"):
        network_rate_mbit(name)


def test_a_network_listed_twice_is_refused():
    with pytest.raises(ValidationError, match="listed twice"):
        RunSpec(networks=["loopback", "100mbit", "loopback"])


def test_aqsgd_is_refused_for_the_backward_direction():
    with pytest.raises(ValidationError, match="aqsgd is a forward-activation codec"):
        RunSpec(networks=["loopback"], backward={"name": "aqsgd"})


def test_more_stages_than_blocks_is_refused():
    assert _plan(RunSpec(stages=2, networks=["loopback"])).runs[0].stages == 2
    with pytest.raises(ValidationError, match="runs.0.stages: 3 stages for 2 blocks"):
        _plan(RunSpec(stages=3, networks=["loopback"]))


def test_networks_are_loopback_first_then_by_rate():
    plan = _plan(RunSpec(networks=["1000mbit", "100mbit"]), RunSpec(networks=["2.5mbit", "loopback"]))
    assert plan.networks() == ["loopback", "2.5mbit", "100mbit", "1000mbit"]


def test_max_stages_counts_only_the_runs_on_that_network():
    model = SMALL.model_copy(update={"n_layers": 4})
    plan = StudyPlan(model=model, micro_batch=2, seq_len=8,
                     runs=[RunSpec(stages=4, networks=["100mbit"]), RunSpec(stages=3, networks=["loopback"]),
                           RunSpec(stages=2, networks=["loopback", "100mbit"])])
    assert plan.max_stages("loopback") == 3
    assert plan.max_stages("100mbit") == 4


def test_run_config_carries_the_plan_settings():
    plan = _plan(RunSpec(networks=["loopback"]), seed=7, n_micro_batches=3)
    config = run_config(plan, plan.runs[0], "loopback")
    assert (config.seed, config.micro_batch, config.n_micro_batches, config.network) == (7, 2, 3, "loopback")
    assert config.n_samples == 6


@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda: RunSpec(stages=1, networks=["loopback"]), "stages"),
        (lambda: RunSpec(networks=[]), "networks"),
        (lambda: _plan(RunSpec(networks=["loopback"]), warmup_steps=1), "warmup_steps"),
        (lambda: _plan(RunSpec(networks=["loopback"]), mtu_bytes=575), "mtu_bytes"),
        (lambda: StudyPlan(model=SMALL, runs=[]), "runs"),
        (lambda: ModelSpec(d_model=64, n_heads=3), "n_heads|head"),
    ],
)
def test_values_outside_the_bounds_are_refused(build, where):
    with pytest.raises(ValidationError, match=where):
        build()


def test_the_bounds_themselves_are_accepted():
    plan = _plan(RunSpec(stages=2, networks=["loopback"]), warmup_steps=2, mtu_bytes=576)
    assert (plan.warmup_steps, plan.mtu_bytes) == (2, 576)


def test_the_backward_codec_must_fit_the_boundary_too():
    model = ModelSpec(d_model=32, d_ff=64, n_heads=2, n_layers=2, vocab_size=64)
    with pytest.raises(ValidationError, match="runs.0.backward: channels .* must be a multiple of tile_size 64"):
        StudyPlan(model=model, micro_batch=2, seq_len=8,
                  runs=[RunSpec(networks=["loopback"], backward={"name": "uniform_tile", "params": {"bits": 4}})])
