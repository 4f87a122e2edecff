"""Real stage processes: a tiny 2-stage loopback run trains like the single-process model, sends the codecs'
exact bytes and agrees on both sides; a failing worker leaves no process and no namespace behind."""

from __future__ import annotations

import copy

import psutil
import pytest
import torch

from harness.fidelity.launch import MeasurementError
from harness.fidelity.netns import list_namespaces, netns_unavailable_reason
from harness.pipeline_study.launch import run_stages
from harness.pipeline_study.plan import ModelSpec, RunSpec, StudyPlan, run_config
from harness.pipeline_study.stages import full_model, make_dataset
from harness.pipeline_study.study import measure_runs, reduce_records
from harness.workloads.pipeline_step import CodecSpec, build_codec

TINY = dict(model=ModelSpec(d_model=64, d_ff=128, n_heads=2, n_layers=2, vocab_size=64), micro_batch=2, seq_len=16,
            n_micro_batches=2, warmup_steps=2, measured_steps=2, timeout_s=120)
PREFIX = "h6ptest"
REASON = netns_unavailable_reason()


def _plan(forward: CodecSpec, backward: CodecSpec, schedule: str = "gpipe", networks=("loopback",)) -> StudyPlan:
    return StudyPlan(**TINY, runs=[RunSpec(stages=2, schedule=schedule, forward=forward, backward=backward,
                                           networks=list(networks))])


def _single_process_losses(plan: StudyPlan, steps: int) -> list[float]:
    """The same training in one process: per step, mean micro-batch loss, accumulated gradients, AdamW."""
    torch.manual_seed(0)
    model = full_model(plan.model, plan.seq_len, plan.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=plan.lr)
    data = make_dataset(plan.micro_batch * plan.n_micro_batches, plan.seq_len, plan.model.vocab_size, plan.seed)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        step = []
        for i in range(plan.n_micro_batches):
            batch = data[i * plan.micro_batch:(i + 1) * plan.micro_batch]
            loss = model.loss(batch[:, :-1], batch[:, 1:])
            (loss / plan.n_micro_batches).backward()
            step.append(float(loss.detach()))
        optimizer.step()
        losses.append(sum(step) / len(step))
    return losses


def test_uncompressed_two_stage_run_trains_like_one_process():
    plan = _plan(CodecSpec(name="none"), CodecSpec(name="none"), schedule="1f1b")
    config = run_config(plan, plan.runs[0], "loopback")
    records = run_stages(config)
    row, steps = reduce_records(records, config, 0)
    got = steps[steps["rank"] == 1].sort_values("step")["loss"].to_numpy()
    want = _single_process_losses(plan, len(got))
    assert got == pytest.approx(want, rel=1e-4)
    assert got[-1] < got[0]
    assert row["sender_receiver_agree"] and row["messages_checked"] == 2 * 2 * plan.warmup_steps
    assert row["fwd_wire_bytes"] == row["bwd_wire_bytes"] == 2 * 16 * 64 * 4


def test_tahquant_run_sends_the_codecs_exact_bytes_and_agrees():
    plan = _plan(CodecSpec(name="tahquant"), CodecSpec(name="fixpoint", params={"bits": 6}))
    config = run_config(plan, plan.runs[0], "loopback")
    records = run_stages(config)
    row, steps = reduce_records(records, config, 0)
    shape = (2, 16, 64)
    assert row["fwd_wire_bytes"] == build_codec(plan.runs[0].forward).payload_bytes(shape)
    assert row["bwd_wire_bytes"] == build_codec(plan.runs[0].backward).payload_bytes(shape)
    assert row["fwd_payload_bytes"] <= row["fwd_wire_bytes"]
    assert row["sender_receiver_agree"]
    assert row["measured_ms"] > 0 and row["n_steps"] == plan.measured_steps
    for rank, digests in ((0, "sent_fwd"), (1, "received_fwd"), (1, "sent_bwd"), (0, "received_bwd")):
        tampered = copy.deepcopy(records)
        mine = next(r for r in tampered if r["rank"] == rank)
        mine["digests"][digests][-1] = "0" * 40  # one message seen differently on one side
        assert not reduce_records(tampered, config, 0)[0]["sender_receiver_agree"], (rank, digests)


def _children() -> list[psutil.Process]:
    """Live child processes, less Python's multiprocessing resource tracker (started by any spawn-context pool
    an earlier test of this worker used, and kept for the interpreter's lifetime by design)."""
    return [c for c in psutil.Process().children(recursive=True) if c.status() != psutil.STATUS_ZOMBIE
            and "multiprocessing.resource_tracker" not in " ".join(c.cmdline())]


def test_a_failing_worker_leaves_no_process_on_loopback():
    plan = _plan(CodecSpec(name="none"), CodecSpec(name="none"))
    config = run_config(plan, plan.runs[0], "loopback", fail_stage=1, fail_step=1)
    started = []
    with pytest.raises(MeasurementError, match="failure forced at step 1"):
        run_stages(config, on_start=started.extend)
    assert len(started) == 2
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in started)
    assert _children() == []


@pytest.mark.netns
@pytest.mark.skipif(REASON is not None, reason=f"network namespaces unavailable: {REASON}")
def test_a_failing_worker_leaves_no_process_and_no_namespace():
    plan = _plan(CodecSpec(name="none"), CodecSpec(name="none"), networks=("100mbit",))
    try:
        with pytest.raises(MeasurementError, match="failure forced at step 0"):
            measure_runs(plan, progress=lambda _m: None, quiet_wait_s=0, netns_prefix=PREFIX, fail_stage=0,
                         fail_step=0)
        assert list_namespaces(PREFIX) == []
        assert _children() == []
    finally:
        for name in list_namespaces(PREFIX):  # never leave one behind, even when an assertion failed
            psutil.subprocess.run(["ip", "netns", "del", name], capture_output=True)
