"""Oobleck's pipeline step and reconfiguration costs, Bamboo's fatal pairs and MeCeFO with no rank up, worked out
by hand from the rules in the docstrings of `harness.failures.step_costs` and `harness.failures.policies`.

Pipeline steps are priced on a replay where every op call takes 1 ms, so ``c`` (one micro-batch's forward +
backward of the whole model) and the optimizer step are call counts. The global batch is one micro-batch per rank
(8 ranks: 8 micro-batches), spread over the pipelines in proportion to their size; the slowest pipeline sets the
step. The policies run on the conftest's FixedPricer (8 devices, 1000 tokens a step, 1 GB of state, templates of
2..4 stages) with 30 s detection and the default 25 GB/s inter-node link.
"""

from __future__ import annotations

import math

import pytest

from harness.cost.training_step import layer_ops, optimizer_ops
from harness.failures.macro import simulate
from harness.failures.policies import POLICIES, ClusterState, PolicyCosts
from harness.failures.processes import Event
from harness.failures.step_costs import StepPricer, StepSetup
from harness.models.llama import resolve_model
from harness.sim.collectives import LinkCost
from harness.sim.topology import Topology
from tests.harness.failures.one_ms_per_call import OneMsPerCall, count_calls

RANKS = 8
DIMS = resolve_model("llama-60m")
MICRO_BATCH, SEQ_LEN = 2, 64
COSTS = PolicyCosts(detect_s=30.0)
COPY_S = 1e9 / 4 / 25e9  # one stage of the 1 GB state in pipelines of 4 (8 devices) over the 25 GB/s link: 0.01 s
COPY_3_S = 1e9 / 3 / 25e9  # the same with a pipeline of 3 among the surviving ones (6 or 7 devices up)
COPY_BOUND_S = 1e9 / 2 / 25e9  # a stage of the smallest template (2 stages): the most a reconfiguration copies
FATAL_S = 30.0 + 45.0  # Bamboo's global rendezvous timeout + new instance boot




C_S = sum(count_calls(l.forward) + count_calls(l.backward) for l in layer_ops(DIMS, MICRO_BATCH, SEQ_LEN)) / 1e3
OPTIMIZER_S = count_calls(optimizer_ops(DIMS, "adamw", "cpu")) / 1e3


def _pricer(stages_min: int, stages_max: int) -> StepPricer:
    setup = StepSetup(DIMS, MICRO_BATCH, SEQ_LEN, "float32", "adamw", 25.0, True, lowrank_rank=8, refresh_every=4,
                      power_iterations=3, stages_min=stages_min, stages_max=stages_max)
    link = LinkCost(1_000, 10.0)
    return StepPricer(setup, OneMsPerCall(), Topology(1, RANKS, link, link))


def _one_pipeline_s(micro_batches: float, stages: int) -> float:
    """1F1B over ``stages`` stages: (m + s - 1) c / s, plus the optimizer over the pipeline's 1/s of the weights."""
    return (micro_batches + stages - 1) * C_S / stages + OPTIMIZER_S / stages


@pytest.mark.parametrize(("devices", "templates", "pipelines"), [
    # every device up: ceil(8 / 4) = 2 pipelines of 4 stages, 8 * 4/8 = 4 micro-batches each
    pytest.param(8, (2, 4), [(4, 4), (4, 4)], id="8-up-templates-2..4"),
    # one failure: ceil(7 / 4) = 2 pipelines of 4 and 3 stages, 8 * 4/7 and 8 * 3/7 micro-batches
    pytest.param(7, (2, 4), [(32 / 7, 4), (24 / 7, 3)], id="7-up-templates-2..4"),
    # two failures: 2 pipelines of 3, 4 micro-batches each
    pytest.param(6, (2, 4), [(4, 3), (4, 3)], id="6-up-templates-2..4"),
    # three failures: 2 pipelines of 3 and 2 stages, 8 * 3/5 and 8 * 2/5 micro-batches
    pytest.param(5, (2, 4), [(24 / 5, 3), (16 / 5, 2)], id="5-up-templates-2..4"),
    # one pipeline of the largest template takes the whole batch
    pytest.param(4, (2, 4), [(8, 4)], id="4-up-templates-2..4"),
    # the smallest template still runs: one pipeline of 2 stages with all 8 micro-batches
    pytest.param(2, (2, 4), [(8, 2)], id="2-up-templates-2..4"),
    # templates of 3..4 cannot cover 5 devices: at most 5 // 3 = 1 pipeline, of 4 stages; one device idles
    pytest.param(5, (3, 4), [(8, 4)], id="5-up-templates-3..4"),
    # templates of 4..5 on 6 devices: 6 // 4 = 1 pipeline of 5 stages, one device idle
    pytest.param(6, (4, 5), [(8, 5)], id="6-up-templates-4..5"),
    # on 7 devices the same single pipeline of 5, two devices idle (no slower than on 5 devices)
    pytest.param(7, (4, 5), [(8, 5)], id="7-up-templates-4..5"),
    # 8 devices, templates of 3 stages only: 8 // 3 = 2 pipelines of 3, 8 * 3/6 = 4 micro-batches each, 2 idle
    pytest.param(8, (3, 3), [(4, 3), (4, 3)], id="8-up-templates-3..3"),
])
def test_oobleck_step_on_surviving_devices_by_hand(devices, templates, pipelines):
    expected = max(_one_pipeline_s(m, s) for m, s in pipelines)
    assert _pricer(*templates).pipeline_step_s(devices) == pytest.approx(expected, rel=1e-12)
    assert _pricer(*templates).pipeline_sizes(devices) == [s for _, s in pipelines]


@pytest.mark.parametrize(("devices", "templates"), [(1, (2, 4)), (3, (4, 5)), (0, (1, 1))])
def test_oobleck_step_is_infinite_below_the_smallest_template(devices, templates):
    assert _pricer(*templates).pipeline_step_s(devices) == math.inf
    assert _pricer(*templates).pipeline_sizes(devices) == []


@pytest.mark.parametrize(("templates", "copy_stages"), [
    # every device loads its new stage at once, so the shortest new pipeline (its largest stages) sets the time
    pytest.param((2, 4), {8: 4, 7: 3, 6: 3, 5: 2, 4: 4, 3: 3, 2: 2, 1: 2}, id="templates-2..4"),
    pytest.param((3, 4), {8: 4, 7: 3, 6: 3, 5: 4, 4: 4, 3: 3, 2: 3}, id="templates-3..4"),  # 5 up: one pipeline of 4
    pytest.param((4, 5), {8: 4, 7: 5, 6: 5, 5: 5, 4: 4, 3: 4}, id="templates-4..5"),
])
def test_oobleck_reconfiguration_copies_a_stage_of_the_shortest_new_pipeline(templates, copy_stages):
    """The failure's pause is detection + state_bytes / min(pipeline_sizes(n_up)) at the network rate (the smallest
    template's share when no pipeline fits), and the time it loses never exceeds the bound (the bound copies a stage
    of ``stages_min``)."""
    pricer = _pricer(*templates)
    oobleck = POLICIES["oobleck"](pricer, COSTS)
    bound = oobleck.bound_s()
    full_step = pricer.pipeline_step_s(RANKS)
    assert bound == pytest.approx(30 + pricer.state_bytes / templates[0] / 25e9 + 0.5 * full_step, rel=1e-12)
    for n_up, stages in copy_stages.items():
        state = ClusterState(RANKS)
        state.down[n_up:] = 1
        copy_s = pricer.state_bytes / stages / COSTS.network_bytes_per_s
        assert min(pricer.pipeline_sizes(n_up), default=templates[0]) == stages
        failure = oobleck.on_failure(state, (RANKS - 1,))
        assert failure.pause_s == pytest.approx(30 + copy_s, rel=1e-12), n_up
        assert oobleck.on_repair(state, (RANKS - 1,)).pause_s == pytest.approx(copy_s, rel=1e-12), n_up
        lost = failure.pause_s + failure.lost_tokens / oobleck.reference_rate()
        assert lost <= bound * (1 + 1e-12), (n_up, lost, bound)


def test_oobleck_one_failure_and_its_repair_by_hand(pricer):
    """8 devices, device 2 down from 1 h to 2 h of a 10 h run. All up: 2 pipelines of 4, a step of
    (8/2 + 4 - 1) / 4 = 1.75 s; on 7 devices the FixedPricer's 2 pipelines of 3.5 take (8/2 + 2.5) / 3.5 s. The
    failure pauses detection + one stage's copy (a third of the state: the 7 devices form pipelines of 4 and 3)
    and redoes half a step (500 tokens); the repair pauses one copy (a quarter: pipelines of 4 again)."""
    full, seven = 1000 / 1.75, 1000 * 3.5 / 6.5
    result = simulate([Event(1.0, "device:2", "fail", 1.0, (2,))], POLICIES["oobleck"](pricer, COSTS), 8, 10.0)
    assert result.tokens == pytest.approx(3600 * full + (3600 - 30 - COPY_3_S) * seven
                                          + (8 * 3600 - COPY_S) * full - 500)
    assert result.paused_s == pytest.approx(30 + COPY_3_S + COPY_S)
    assert result.degraded_s == pytest.approx(3600 - 30 - COPY_3_S)
    assert (result.lost_tokens, result.n_failures, result.n_repairs) == (500, 1, 1)
    assert result.lost_per_failure_s == pytest.approx([30 + COPY_3_S + 500 / full])


def test_oobleck_copies_one_stage_per_reconfiguration_however_many_devices_go(pricer):
    oobleck = POLICIES["oobleck"](pricer, COSTS)
    state = ClusterState(8)
    oobleck.produce(60.0, oobleck.reference_rate())  # running a minute before the node fails
    state.down[[2, 3]] = 1  # a node of two devices: 6 up, pipelines of 3
    lost = oobleck.on_failure(state, (2, 3))
    assert (lost.pause_s, lost.lost_tokens) == pytest.approx((30 + COPY_3_S, 500))
    state.down[[2, 3]] = 0  # back up (the macro simulation calls on_repair on the state after the repair)
    assert oobleck.on_repair(state, (2, 3)).pause_s == pytest.approx(COPY_S)


def test_oobleck_bound_is_detection_copy_and_half_a_failure_free_step(pricer):
    assert POLICIES["oobleck"](pricer, COSTS).bound_s() == pytest.approx(30 + COPY_BOUND_S + 0.5 * 1.75)


def test_bamboo_is_fatal_only_when_the_failure_pairs_a_rank_with_its_predecessor(pricer):
    """Rank 4 down at 1 h (its predecessor 3 takes over); rank 3 at 1.5 h: rank 4's layers are lost with it, fatal;
    rank 7 at 2 h, while 3 and 4 are still down: its neighbours 6 and 0 are up, so only detection."""
    events = [Event(1.0, "device:4", "fail", 2.0, (4,)), Event(1.5, "device:3", "fail", 2.0, (3,)),
              Event(2.0, "device:7", "fail", 0.5, (7,))]
    result = simulate(events, POLICIES["bamboo"](pricer, COSTS), 8, 10.0)
    assert result.lost_per_failure_s == pytest.approx([30, 30 + FATAL_S, 30])


def test_bamboo_node_failure_of_two_neighbouring_ranks_is_fatal(pricer):
    state = ClusterState(8)
    state.down[[5, 6]] = 1
    assert POLICIES["bamboo"](pricer, COSTS).on_failure(state, (5, 6)).pause_s == 30 + FATAL_S


def test_mecefo_rate_with_one_rank_up_and_with_none(pricer):
    mecefo = POLICIES["mecefo"](pricer, COSTS)
    state = ClusterState(8)
    state.down[1:] = 1
    assert mecefo.rate(state) == pytest.approx(1000 / (1 + 0.4 * 7))  # rank 0 runs all 8 micro-batches
    state.down[0] = 1
    assert mecefo.rate(state) == 0.0
