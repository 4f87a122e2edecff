"""Mutation gaps of the compression kinds (harness/workloads/compressed_dp_step.py, compressed_training.py).

compressed_dp_step: `simulate_step` on hand-built plans (the backward tail, the last compute slot, the forward pass,
what counts as compute and compression, the overlap priority of a hook's kernels over the next backward segment,
timed by hand from one collective's closed-form time); all-gathers always go by ring, whatever the all-reduce
algorithm; GreedyLore's amortised step over a refresh period.
compressed_training: the cosine schedule's learning rates, which steps are kept, the ``dense`` column, the share of
parameters really compressed, the dense-fallback total.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.config.blocks import ClusterSpec, LinkSpec, NetworkSpec, TechniqueSpec
from harness.models.llama import LlamaDims
from harness.sim.topology import Topology, topology_collective_ns
from harness.timing.replay import open_replay
from harness.workloads.base import RunContext
from harness.workloads.compressed_dp_step import BucketPlan, CompressedDPScenario, CompressedDPWorkload, StepPlan, \
    run as run_dp, simulate_step

ROOT = Path(__file__).parents[3]
TIMINGS = ROOT / "tests" / "data" / "timings"
TINY = LlamaDims(d_model=256, d_ff=512, n_heads=4, n_layers=2, vocab_size=512)


def _network(model="closed_form"):
    return NetworkSpec(intra_node=LinkSpec(bandwidth_gbps=100.0, latency_us=2.0),
                       inter_node=LinkSpec(bandwidth_gbps=10.0, latency_us=10.0), model=model)


def _topology():
    return Topology.from_config(ClusterSpec(nodes=2, devices_per_node=2, device="cpu"), _network())


def _plan(buckets, forward_ns=0, tail_ns=0):
    return StepPlan(forward_ns, tail_ns, tuple(buckets), 0, 0.0, 0, 0)


# ------------------------------------------------------------------------------------------ simulate_step
@pytest.mark.parametrize("overlap", [False, True])
def test_compute_only_step_adds_forward_backward_tail_and_every_slot(overlap):
    plan = _plan([BucketPlan(10, (5, 3), ((),)), BucketPlan(20, (4,), ())], forward_ns=100, tail_ns=7)
    t = simulate_step(plan, _topology(), algorithm="ring", overlap=overlap, model="closed_form")
    # one compute stream, nothing to wait for: 100 + (10 + 20 + 7) + (5 + 3 + 4)
    assert (t.step_time_ns, t.compute_ns, t.compression_ns, t.comm_ns) == (149, 137, 12, 0)


def test_without_overlap_collectives_follow_backward_and_slots_in_sequence():
    topo = _topology()
    size = 1 << 20
    c = topology_collective_ns("all_reduce", "ring", size, topo)
    plan = _plan([BucketPlan(10, (5, 3), ((("all_reduce", float(size)),),))], forward_ns=50, tail_ns=6)
    t = simulate_step(plan, topo, algorithm="ring", overlap=False, model="closed_form")
    assert (t.step_time_ns, t.comm_ns) == (50 + 16 + 5 + c + 3, c)


def test_with_overlap_a_hooks_kernels_go_before_the_next_backward_segment():
    """Hand timeline (C = one collective's time, C > 10 ns): seg1 [0, 10]; bucket 1's first all-reduce [10, 10 + C];
    seg2 [10, 20]; bucket 2's slot [20, 20 + 2C] while seg3 waits from 20; bucket 1's second slot asks at 10 + C.
    At 20 + 2C the hook's slot goes first (priority): [20 + 2C, 25 + 2C], its second all-reduce [25 + 2C, 25 + 3C],
    seg3 [25 + 2C, 35 + 2C]: the step ends at 25 + 3C (first come, first served would end at 35 + 3C)."""
    topo = _topology()
    size = 1 << 20
    c = topology_collective_ns("all_reduce", "ring", size, topo)
    assert c > 10
    ar = (("all_reduce", float(size)),)
    plan = _plan([BucketPlan(10, (0, 5, 0), (ar, ar)), BucketPlan(10, (2 * c,), ()), BucketPlan(10, (0,), ())])
    t = simulate_step(plan, topo, algorithm="ring", overlap=True, model="closed_form")
    assert t.step_time_ns == 25 + 3 * c
    assert (t.compute_ns, t.compression_ns, t.comm_ns) == (30, 5 + 2 * c, 2 * c)


def test_with_overlap_the_step_waits_for_the_backward_tail_and_the_last_bucket():
    topo = _topology()
    size = 1 << 20
    c = topology_collective_ns("all_reduce", "ring", size, topo)
    ar = (("all_reduce", float(size)),)
    tail = 3 * c
    plan = _plan([BucketPlan(10, (0, 0), (ar,))], tail_ns=tail)
    t = simulate_step(plan, topo, algorithm="ring", overlap=True, model="closed_form")
    assert t.step_time_ns == 10 + tail  # the collective [10, 10 + C] hides under the tail
    plan = _plan([BucketPlan(10, (0, 0), (ar,))], tail_ns=1)
    t = simulate_step(plan, topo, algorithm="ring", overlap=True, model="closed_form")
    assert t.step_time_ns == 10 + c  # the tail [10, 11] hides under the collective


# ------------------------------------------------------------------------------------------ the dp kind
def _dp(method, params, **workload):
    defaults = dict(model=TINY, micro_batch=1, seq_len=64, dtype="float32", bucket_mb=0.25, n_steps=1)
    scenario = CompressedDPScenario(
        name="cdp", cluster=ClusterSpec(nodes=2, devices_per_node=2, device="cpu"), network=_network(),
        technique=TechniqueSpec(name=method, params=params), workload=CompressedDPWorkload(**{**defaults, **workload}))
    ctx = RunContext(seed_seq=np.random.SeedSequence(0), timings=open_replay(scenario, timings_root=TIMINGS))
    return run_dp(scenario, ctx)


def test_topk_all_gathers_go_by_ring_whatever_the_all_reduce_algorithm():
    # Top-K issues only all-gathers; the tree algorithm is for all-reduce only
    ring = _dp("topk", {"ratio": 0.2}, algorithm="ring").metrics.iloc[0]
    tree = _dp("topk", {"ratio": 0.2}, algorithm="tree").metrics.iloc[0]
    for column in ("comm_ms", "bytes_sent_per_worker", "payload_bytes_per_worker", "step_time_ms"):
        assert tree[column] == ring[column], column
    assert tree["bytes_sent_per_worker"] == 3 * tree["payload_bytes_per_worker"]  # (N - 1) contributions, N = 4


def test_greedylore_amortised_step_is_the_mean_over_one_period_with_its_optimizer():
    m = _dp("greedylore", {"rank": 4, "refresh_period": 3}, n_steps=3, first_call_index=0,
            optimizer="adamw").metrics
    assert m["refresh"].tolist() == [True, False, False]
    assert m["call_index"].tolist() == [0, 1, 2]
    times = m["step_time_ms"].to_numpy()
    assert times[1] == times[2] and times[0] > times[1]
    assert m["amortized_step_time_ms"].iloc[0] == pytest.approx((times[0] + 2 * times[1]) / 3, rel=1e-12)
    later = _dp("greedylore", {"rank": 4, "refresh_period": 3}, n_steps=2, first_call_index=4,
                optimizer="adamw").metrics
    assert later["call_index"].tolist() == [4, 5] and later["refresh"].tolist() == [False, False]
    assert later["step_time_ms"].tolist() == [times[1], times[1]]


def test_dense_bytes_follow_the_gradient_dtype():
    from harness.compression_cost import llama_param_tensors

    numel = sum(t.numel for t in llama_param_tensors(TINY))
    for dtype, itemsize in (("float32", 4), ("bfloat16", 2)):
        row = _dp("none", {}, dtype=dtype).metrics.iloc[0]
        # ring all-reduce over 4 ranks: every rank sends 2 (N - 1) / N of each tensor
        assert row["dense_bytes_per_worker"] == pytest.approx(1.5 * itemsize * numel, rel=1e-6), dtype
        assert row["payload_bytes_per_worker"] == itemsize * numel, dtype


# ------------------------------------------------------------------------------------------ compressed_training
def _ct(task, steps, optimizer, seed=0, **workload):
    from harness.workloads.compressed_training import CompressedTrainingScenario, run

    scenario = CompressedTrainingScenario.model_validate(dict(
        name="ct", seed=seed, technique=dict(name="arc_topk", params={"ratio": 0.2, "rank": 2}),
        workload={"n_workers": 2, "steps": steps, "eval_every": 100, "record_every": 1, "task": task,
                  "optimizer": optimizer, **workload}))
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(seed)))


LOGISTIC = dict(name="logistic", n_samples=2000, batch_size=50)


def test_cosine_schedule_sets_the_next_steps_rate_down_to_zero_at_the_last():
    import torch

    from harness.workloads.compressed_training import OptimizerSpec, make_optimizer, make_schedule

    spec = OptimizerSpec(name="sgd", lr=2.0, schedule="cosine")
    opt = make_optimizer(spec, [torch.nn.Parameter(torch.zeros(1))])
    schedule = make_schedule(spec, opt, 4)
    seen = []
    for step in range(4):
        schedule(step)
        seen.append(opt.param_groups[0]["lr"])
    # 2 * (1 + cos(pi t / 4)) / 2 for t = 1..4
    assert seen == pytest.approx([1.0 + math.sqrt(0.5), 1.0, 1.0 - math.sqrt(0.5), 0.0], abs=1e-12)
    constant = OptimizerSpec(name="sgd", lr=2.0)
    opt = make_optimizer(constant, [torch.nn.Parameter(torch.zeros(1))])
    make_schedule(constant, opt, 4)(1)
    assert opt.param_groups[0]["lr"] == 2.0


@pytest.mark.parametrize("task", [LOGISTIC, dict(name="digits", model="logreg", batch_size=8)])
def test_the_schedule_is_applied_after_every_step_of_both_task_families(task):
    constant = _ct(task, 3, dict(name="sgd", lr=0.1)).metrics
    out = _ct(task, 3, dict(name="sgd", lr=0.1, schedule="cosine"))
    assert out.info["error_feedback"] == "ef14"  # none asked for: ARC-Top-K's usual pairing is what ran
    cosine = out.metrics
    assert cosine["loss"].iloc[0] == constant["loss"].iloc[0]
    # the second update uses lr (1 + cos(pi / 3)) / 2 = 0.75 lr; the logistic rows hold the loss after each update,
    # the digits rows the batch loss before it: row 2 comes after the second update in both
    assert cosine["loss"].iloc[2] != constant["loss"].iloc[2]


def test_optimizers_get_their_settings():
    import torch

    from harness.workloads.compressed_training import OptimizerSpec, make_optimizer

    p = [torch.nn.Parameter(torch.zeros(2))]
    sgd = make_optimizer(OptimizerSpec(name="sgd", lr=0.3, weight_decay=0.01), p)
    assert type(sgd) is torch.optim.SGD and sgd.defaults["weight_decay"] == 0.01 and sgd.defaults["momentum"] == 0
    mom = make_optimizer(OptimizerSpec(name="momentum", momentum=0.5, nesterov=True, weight_decay=0.02), p)
    assert type(mom) is torch.optim.SGD
    assert (mom.defaults["momentum"], mom.defaults["nesterov"], mom.defaults["weight_decay"]) == (0.5, True, 0.02)
    adam = make_optimizer(OptimizerSpec(name="adam", betas=(0.8, 0.9), weight_decay=0.1), p)
    assert type(adam) is torch.optim.Adam and adam.defaults["betas"] == (0.8, 0.9)
    assert type(make_optimizer(OptimizerSpec(name="adamw"), p)) is torch.optim.AdamW


def test_bfloat16_compute_is_the_data_parallel_kinds_bfloat16_compute():
    from harness.workloads import data_parallel_step as dp

    ours = _dp("none", {}, dtype="bfloat16", n_steps=1).metrics.iloc[0]
    scenario = dp.DataParallelScenario(
        name="dp", cluster=ClusterSpec(nodes=2, devices_per_node=2, device="cpu"), network=_network(),
        workload=dp.DataParallelWorkload(model=TINY, micro_batch=1, seq_len=64, dtype="bfloat16", bucket_mb=0.25,
                                         overlap=False, n_steps=1))
    theirs = dp.run(scenario, RunContext(np.random.SeedSequence(0),
                                         timings=open_replay(scenario, timings_root=TIMINGS))).metrics.iloc[0]
    assert ours["compute_ms"] == theirs["compute_ms"]
    assert ours["step_time_ms"] == theirs["step_time_ms"]
    fp32 = _dp("none", {}, dtype="float32", n_steps=1).metrics.iloc[0]
    assert fp32["compute_ms"] != ours["compute_ms"]


def test_the_requested_error_feedback_is_the_one_costed():
    none = _dp("arc_topk", {"ratio": 0.2, "rank": 4}, error_feedback="none")
    ef21 = _dp("arc_topk", {"ratio": 0.2, "rank": 4}, error_feedback="ef21")
    usual = _dp("arc_topk", {"ratio": 0.2, "rank": 4})
    assert (none.info["error_feedback"], ef21.info["error_feedback"], usual.info["error_feedback"]) == \
        ("none", "ef21", "ef14")
    assert none.metrics["compression_ms"].iloc[0] < usual.metrics["compression_ms"].iloc[0]


def test_only_embed_head_and_numbered_blocks_can_be_left_uncompressed():
    from pydantic import ValidationError

    CompressedDPWorkload(uncompressed=["embed", "head", "block.0", "block.11"])  # llama-130m: blocks 0 .. 11
    for bad in ("norm", "block.", "block.x", "blocks.1"):
        with pytest.raises(ValidationError, match="uncompressed"):
            CompressedDPWorkload(uncompressed=[bad])


def test_classifier_reads_the_last_position_which_sees_every_token():
    import torch

    from harness.workloads.compressed_training import TextClassificationTask, TinyClassifier

    task = TextClassificationTask(seq_len=8, vocab_size=10, d_model=16, d_ff=16, n_heads=2, n_layers=1)
    model = TinyClassifier(task, seed=0).eval()
    x = torch.tensor([[2, 3, 4, 5, 6, 7, 8, 9]])
    last, first = x.clone(), x.clone()
    last[0, -1], first[0, 0] = 0, 0
    with torch.no_grad():
        base, after_last, after_first = model(x), model(last), model(first)
    assert base.shape == (1, 2)
    assert not torch.allclose(base, after_last)  # causal attention: only the last position sees the last token
    assert not torch.allclose(base, after_first)


def test_classification_metrics_by_hand():
    import torch

    from harness.workloads.compressed_training import _classification_eval

    logits = torch.tensor([[0.0, 2.0], [1.0, 0.0], [3.0, 1.0], [0.0, 1.0]])  # predictions 1, 0, 0, 1
    y = torch.tensor([1, 0, 1, 1])
    out = _classification_eval(lambda x: logits, torch.zeros(4, 1), y, binary=True)
    # tp 2, tn 1, fp 0, fn 1: accuracy 3/4, f1 = 2 * 1 * (2/3) / (1 + 2/3) = 0.8, mcc = 2 / sqrt(2 * 3 * 1 * 2)
    assert out["accuracy"] == 0.75
    assert out["f1"] == pytest.approx(0.8, abs=1e-12)
    assert out["mcc"] == pytest.approx(2 / math.sqrt(12), abs=1e-12)
    nll = [math.log(1 + math.exp(-2.0)), math.log(1 + math.exp(-1.0)), math.log(1 + math.exp(2.0)),
           math.log(1 + math.exp(-1.0))]
    assert out["eval_loss"] == pytest.approx(sum(nll) / 4, rel=1e-6)
    assert set(_classification_eval(lambda x: logits, torch.zeros(4, 1), y, binary=False)) == {"eval_loss", "accuracy"}


def test_training_scenario_bounds():
    from pydantic import ValidationError

    from harness.workloads.compressed_training import CompressedTrainingScenario

    def scenario(task, **workload):
        return CompressedTrainingScenario.model_validate(dict(
            name="ct", technique=dict(name="topk", params={}), workload={"task": task, **workload}))

    scenario(dict(name="logistic", dim=40, rows=8, n_samples=400), n_workers=4)
    with pytest.raises(ValidationError, match="rows"):
        scenario(dict(name="logistic", dim=40, rows=7, n_samples=400), n_workers=4)
    gpt = dict(name="tiny_gpt", d_model=16, n_heads=4, d_ff=16, seq_len=8)
    scenario(gpt)
    with pytest.raises(ValidationError, match="d_model"):
        scenario({**gpt, "d_model": 18, "n_heads": 6})  # heads of 3: rotary embeddings need an even head size
    scenario(dict(name="robust_shifted", blocks=4, noise_blocks=3), n_workers=2)
    with pytest.raises(ValidationError, match="n_workers"):
        scenario(dict(name="robust_shifted", blocks=4, noise_blocks=3), n_workers=1)


def test_tiny_gpt_evaluates_every_whole_window_with_targets_shifted_by_one():
    from harness.workloads.compressed_training import Seeds, TinyGPTTask, _gpt_task
    from methods.data.corpus import CharTokenizer, make_corpus

    class Recorder:
        def loss(self, x, y):
            self.x, self.y = x, y
            return 0.0

    seeds = Seeds(data=5, model=1, compression=2, batches=3)
    seq_len, divisible = 4, 0
    for n in range(1, 13):
        task = TinyGPTTask(d_model=8, n_heads=2, d_ff=8, n_layers=1, seq_len=seq_len, batch_size=100,
                           n_sentences=2, eval_sentences=n, eval_batches=100)
        train, held_out = make_corpus(2, seeds.data), make_corpus(n, seeds.data + 1)
        length = len(CharTokenizer.from_text(train + held_out).encode(held_out))
        divisible += length % seq_len == 0
        rec = Recorder()
        _gpt_task(task, 2, seeds).eval_fn(rec)
        assert rec.x.shape == rec.y.shape == ((length - 1) // seq_len, seq_len), n
        assert (rec.x[:, 1:] == rec.y[:, :-1]).all() and (rec.x[1:, 0] == rec.y[:-1, -1]).all()
    assert divisible  # a held-out text of a whole number of windows: its last window has no next token
