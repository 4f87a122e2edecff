"""The study's prediction: gloo's rendezvous transfers in the pipeline engine (hand-computed timeline), the links
taken from the fidelity study, the stages' cache states, and every prediction of a configuration from the committed
tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from harness.cost.training_step import step_touched_bytes
from harness.fidelity.compute import open_cpu_replay
from harness.models.llama import resolve_model
from harness.pipeline_study.plan import load_plan
from harness.pipeline_study.predict import (
    cache_state_stage_times,
    link_model,
    stage_touched_bytes,
    table_stage_times,
    workload,
)
from harness.timing.replay import Prediction
from harness.workloads.pipeline_step import BoundaryCost, simulate_pipeline
from methods.pipeline.schedule import gpipe

ROOT = Path(__file__).resolve().parents[3]


def _two_stages(rendezvous: bool) -> int:
    # 1000 B at 1 Gbit/s = 8 us on the wire, 1 us latency; stage 1 computes 10x longer than stage 0
    boundary = BoundaryCost(fwd_bytes=1000, bwd_bytes=0, fwd_encode_ns=0, fwd_decode_ns=0, bwd_encode_ns=0,
                            bwd_decode_ns=0, bandwidth_gbps=1.0, latency_us=1.0)
    return simulate_pipeline(gpipe(2, 2), [10_000, 100_000], [0, 0], [boundary], rendezvous=rendezvous).pipeline_ns


def test_eager_transfers_overlap_the_receivers_compute():
    # F1 leaves stage 0 at 20 us and waits in stage 1's socket: F0 19-119 us, F1 119-219 us, gradients +1 us
    assert _two_stages(rendezvous=False) == 220_000


def test_rendezvous_transfers_wait_for_the_posted_receive():
    # stage 1 posts F1's receive at 119 us, its notice reaches stage 0 at 120 us, the data arrives at 129 us:
    # F1 129-229 us; B0's receive is posted at 230 us, so its (empty) message arrives at 232 us
    assert _two_stages(rendezvous=True) == 232_000


def test_links_come_from_the_fidelity_study_fits():
    fits = pd.read_csv(ROOT / "results" / "fidelity" / "fits_netns.csv")
    two = fits[fits["n_ranks"] == 2].set_index("rate_mbit")["alpha_us"]
    at_100 = link_model("100mbit", ROOT / "results" / "fidelity", 1500)
    assert at_100.link.latency_us == pytest.approx(two[100])
    assert at_100.payload_gbps == pytest.approx(0.1 * 1448 / 1514)
    between = link_model("300mbit", ROOT / "results" / "fidelity", 1500).link.latency_us
    assert min(two[100], two[1000]) < between < max(two[100], two[1000])
    loopback = link_model("loopback", ROOT / "results" / "fidelity", 1500)
    assert loopback.link.protocol_efficiency == 1.0 and loopback.link.latency_us > 0


def _workload(stages: int, micro_batches: int):
    plan = load_plan(ROOT / "harness" / "pipeline_study" / "plans" / "pipeline_fidelity.yaml")
    plan = plan.model_copy(update={"n_micro_batches": micro_batches})
    run = next(r for r in plan.runs if r.stages == stages)
    return workload(plan, run, link_model("loopback", ROOT / "results" / "fidelity", plan.mtu_bytes))


@pytest.mark.parametrize("stages", [2, 4])
def test_stages_of_one_micro_batch_hold_what_the_whole_step_rule_counts(stages):
    w = _workload(stages, micro_batches=1)
    touched = stage_touched_bytes(w)
    assert len(touched) == stages
    # per step, the stages partition the parameters, gradients, AdamW states and saved activations of the step
    # (AdamW's per-tensor step counters, 4 bytes each, aside)
    whole = step_touched_bytes(resolve_model(w.model), w.micro_batch, w.seq_len)
    assert sum(step for _, step in touched) == pytest.approx(whole, abs=4 * 64)
    # within the step a stage cycles through its weights, gradients and one micro-batch: less than per step
    assert all(0 < mb < step for mb, step in touched)


def test_more_micro_batches_add_saved_activations_to_the_step_only():
    one, four = stage_touched_bytes(_workload(2, 1)), stage_touched_bytes(_workload(2, 4))
    assert [mb for mb, _ in one] == [mb for mb, _ in four]
    assert all(s4 > s1 for (_, s1), (_, s4) in zip(one, four))


class _ScaledFamily:
    """A cache-state family whose every set is the single-flush tables times a factor of the touched bytes."""

    def __init__(self, base, factor):
        self.base, self.factor, self.asked = base, factor, []

    def at(self, touched):
        self.asked.append(touched)
        family = self

        class View:
            device = family.base.device

            def predict(self, op, **kwargs):
                p = family.base.predict(op, **kwargs)
                return Prediction(p.time_ms * family.factor(touched), p.source, p.detail)

        return View()


def test_stage_compute_is_priced_at_each_stages_cache_states():
    w = _workload(2, 4)
    base = open_cpu_replay(1, ROOT / "results" / "timings")
    plain = table_stage_times(w, base, n_cores=64)
    touched = stage_touched_bytes(w)
    per_mb = {mb for mb, _ in touched}
    family = _ScaledFamily(base, lambda b: 2.0 if b in per_mb else 3.0)
    scaled = cache_state_stage_times(w, family, n_cores=64)
    assert sorted(family.asked) == sorted(b for pair in touched for b in pair)
    gap_ns = 1e3 * float(getattr(base.device, "dispatch_gap_us", 0.0) or 0.0)  # launches x gap are not scaled
    for ours, theirs in zip(scaled.forward_ns + scaled.backward_ns, plain.forward_ns + plain.backward_ns):
        assert ours == pytest.approx(2.0 * theirs, rel=0.02, abs=gap_ns * 200)
    assert scaled.optimizer_ns == pytest.approx(3.0 * plain.optimizer_ns, rel=0.02, abs=gap_ns * 200)
