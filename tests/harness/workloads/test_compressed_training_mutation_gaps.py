"""Gaps in the tests of `compressed_training` found by a mutation audit.

- the scenario validators at their exact boundaries (warm-up one step short of the run, ``n_train`` equal to the
  workers, heads that do not divide ``d_model`` for both transformer tasks, the robust objective's tensor name), a
  compressor problem kept when an error feedback is named too, their messages naming the key;
- `_digits_split_problem` at and around each threshold (scikit-learn's split sizes as the reference) and
  `_unmatched_problem`'s whole line;
- `Seeds` (the seed sequence's four children in order, 32-bit) and run.json's ``info`` (seeds, task, workers,
  the not-applicable columns of each task family);
- `make_optimizer`'s learning rate and Adam weight decay; Nesterov without momentum allowed for plain SGD;
- `make_text_classification`: dtype, token range, determinism per seed, the marker anywhere in the sequence;
- `TinyClassifier`: class count, seeded GPT-style init, the final RMSNorm;
- the task builders: per-worker splits of the text task, its held-out test set, the digits model, loss,
  test split and label skew;
- `_objective` values worked by hand (robust shifted) or by finite differences (logistic), its data seed;
- `_run_objective` / `_run_network`: the learning rate set after every step (also with ``record_every`` > 1),
  progress per step, ``record_every`` not changing the values, the thread count during the run, error-feedback
  parameters reaching the workers, independence from the caller's global torch RNG;
- (a fault the audit found, fixed) a robust objective with no block beyond its noise blocks is refused by
  validation (it was accepted, and the run ended in a traceback).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads import compressed_training as ct
from harness.workloads.base import RunContext
from harness.workloads.compressed_training import (
    CompressedTrainingScenario,
    DigitsTask,
    LogisticTask,
    OptimizerSpec,
    RobustShiftedTask,
    Seeds,
    TextClassificationTask,
    TinyClassifier,
    make_optimizer,
    make_text_classification,
)

LOGISTIC = dict(name="logistic", dim=8, rows=2, n_samples=240, batch_size=20)
TEXT = dict(name="text_classification", vocab_size=8, seq_len=6, n_train=40, n_test=10, d_model=8, n_layers=1,
            n_heads=2, d_ff=8, batch_size=4)
SEEDS = Seeds(data=11, model=12, compression=13, batches=14)


def _scenario(task, method="topk", params=None, seed=0, **workload):
    params = {"ratio": 0.5} if params is None else params
    return CompressedTrainingScenario.model_validate(dict(
        name="ct", seed=seed, technique=dict(name=method, params=params),
        workload={"n_workers": 2, "steps": 4, "eval_every": 2, **workload, "task": task}))


def _run(scenario, progress=None):
    ctx = RunContext(seed_seq=np.random.SeedSequence(scenario.seed))
    if progress is not None:
        ctx.progress = progress
    return ct.run(scenario, ctx)


# ------------------------------------------------------------------------------------------------ validators
def test_a_compressor_problem_is_kept_when_an_error_feedback_is_named_too():
    with pytest.raises(ValidationError, match="technique"):
        _scenario(LOGISTIC, params={"rank": 3}, error_feedback=dict(name="ef14"))


def test_warmup_one_step_short_of_the_run_is_allowed():
    assert _scenario(LOGISTIC, steps=3, warmup_steps=2).workload.warmup_steps == 2
    with pytest.raises(ValidationError, match="workload.warmup_steps: 3 dense warm-up steps of 3"):
        _scenario(LOGISTIC, steps=3, warmup_steps=3)


def test_text_classification_needs_one_training_sequence_per_worker():
    _scenario({**TEXT, "n_train": 3}, n_workers=3)
    with pytest.raises(ValidationError) as err:
        _scenario({**TEXT, "n_train": 2}, n_workers=3)
    assert ("workload.n_workers: 3 workers for n_train=2 training sequences; every worker needs at least one"
            in str(err.value))


@pytest.mark.parametrize("task", [TEXT, dict(name="tiny_gpt", d_model=16, n_heads=2, d_ff=16, seq_len=8)])
def test_heads_must_divide_d_model_in_both_transformer_tasks(task):
    _scenario({**task, "d_model": 16, "n_heads": 4})
    # 18 // 4 = 4 is even, but 4 heads do not split 18
    with pytest.raises(ValidationError) as err:
        _scenario({**task, "d_model": 18, "n_heads": 4})
    assert "workload.task: d_model=18 must split into n_heads=4 even heads" in str(err.value)


def test_a_dense_pattern_is_checked_before_the_run_for_the_robust_objective_too():
    task = dict(name="robust_shifted", blocks=4, noise_blocks=2)
    _scenario(task, dense_parameters=["x"])
    with pytest.raises(ValidationError, match=r"workload\.dense_parameters: 'w' match no parameter of the "
                                              r"robust_shifted model \(its parameters: x\)"):
        _scenario(task, dense_parameters=["w"])


def test_unmatched_problem_lists_every_missing_pattern_and_the_parameters():
    w = ct.CompressedTrainingWorkload(task=LogisticTask(), dense_parameters=["a*", "x", "b"])
    assert ct._unmatched_problem(w, ["x", "y.z"]) == (
        "workload.dense_parameters: 'a*', 'b' match no parameter of the logistic model (its parameters: x, y.z)")
    assert ct._unmatched_problem(w.model_copy(update={"dense_parameters": ["x", "y*"]}), ["x", "y.z"]) is None


def test_nesterov_without_momentum_is_only_refused_for_the_momentum_optimizer():
    assert OptimizerSpec(name="sgd", nesterov=True, momentum=0).nesterov
    with pytest.raises(ValidationError, match="nesterov"):
        OptimizerSpec(name="momentum", nesterov=True, momentum=0)


# 1797 digits, 10 classes; scikit-learn rounds the test side up: 0.00525 * 1797 = 9.43 -> 10 test samples,
# 0.005 -> 8.985 -> 9; 0.9944 * 1797 = 1786.9 -> 1787 test, 10 train; 0.9949 -> 1787.8 -> 1788 test, 9 train
@pytest.mark.parametrize("fraction,n_workers,problem", [
    (0.00525, 1, None),
    (0.005, 1, "workload.task.test_fraction: 0.005 of the 1797 digits gives 1788 training and 9 test samples"),
    (0.9944, 10, None),
    (0.9949, 1, "workload.task.test_fraction: 0.9949 of the 1797 digits gives 9 training and 1788 test samples"),
    (0.9944, 11, "workload.n_workers: 11 workers for 10 digits training samples (test_fraction 0.9944)"),
    (0.5, 898, None),
    (0.5, 899, "workload.n_workers: 899 workers for 898 digits training samples"),
])
def test_digits_split_problem_at_each_threshold(fraction, n_workers, problem):
    found = ct._digits_split_problem(fraction, n_workers)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


@pytest.mark.parametrize("fraction,n_train,n_test", [(0.00525, 1787, 10), (0.9944, 10, 1787)])
def test_the_accepted_boundary_splits_are_what_scikit_learn_gives(fraction, n_train, n_test):
    from methods.data.digits import load_digits_split

    data = load_digits_split(test_fraction=fraction, seed=0)
    assert (len(data.y_train), len(data.y_test)) == (n_train, n_test)
    assert len(set(data.y_train.tolist())) == len(set(data.y_test.tolist())) == 10


# ------------------------------------------------------------------------------------------------ seeds, optimizers
def test_seeds_are_the_sequences_four_children_in_order_as_32_bit_integers():
    seeds = Seeds.from_sequence(np.random.SeedSequence(12345))
    children = np.random.SeedSequence(12345).spawn(4)
    expected = [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]
    assert [seeds.data, seeds.model, seeds.compression, seeds.batches] == expected
    assert len(set(expected)) == 4 and all(0 <= s < 2**32 for s in expected)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw"])
def test_every_optimizer_gets_the_learning_rate_and_weight_decay(name):
    opt = make_optimizer(OptimizerSpec(name=name, lr=0.37, weight_decay=0.05), [torch.nn.Parameter(torch.zeros(2))])
    assert opt.defaults["lr"] == 0.37
    assert opt.defaults["weight_decay"] == 0.05


# ------------------------------------------------------------------------------------------------ text data, model
def test_text_data_is_int64_in_the_vocabulary_and_deterministic_per_seed():
    task = TextClassificationTask(rule="planted", vocab_size=7, seq_len=5)
    x, y = make_text_classification(task, 400, seed=4)
    assert x.dtype == y.dtype == torch.int64
    assert x.shape == (400, 5) and y.shape == (400,)
    assert set(x.unique().tolist()) == set(range(7)) - {1}  # fillers 2 .. 6 and the marker 0; no token 1
    again_x, again_y = make_text_classification(task, 400, seed=4)
    assert torch.equal(x, again_x) and torch.equal(y, again_y)
    other_x, _ = make_text_classification(task, 400, seed=5)
    assert not torch.equal(x, other_x)


def test_the_planted_marker_occurs_at_every_position():
    task = TextClassificationTask(rule="planted", vocab_size=8, seq_len=6)
    x, y = make_text_classification(task, 300, seed=1)
    rows, cols = (x == 0).nonzero(as_tuple=True)
    assert torch.equal(rows, torch.nonzero(y).flatten())  # exactly once in every positive sequence
    assert set(cols.tolist()) == set(range(6))


def test_majority_rule_holds_at_the_shortest_sequence():
    task = TextClassificationTask(rule="majority", vocab_size=6, seq_len=4)
    x, y = make_text_classification(task, 200, seed=2)
    count0, count1 = (x == 0).sum(1), (x == 1).sum(1)
    assert torch.equal((count0 > count1).long(), y)
    assert ((count0 + count1) == 3).all()  # the only odd count in 3 .. seq_len - 1


def _tiny_text_task(**kw):
    return TextClassificationTask(**{**dict(vocab_size=8, seq_len=6, d_model=8, n_layers=1, n_heads=2, d_ff=8), **kw})


def test_classifier_has_one_logit_per_class_and_its_layers():
    model = TinyClassifier(_tiny_text_task(n_layers=3), n_classes=3, seed=0)
    assert len(model.layers) == 3
    with torch.no_grad():
        assert model(torch.zeros(5, 6, dtype=torch.int64)).shape == (5, 3)


def test_classifier_init_is_seeded_gpt_style():
    a, b, c = (TinyClassifier(_tiny_text_task(vocab_size=64, d_model=32), seed=s) for s in (3, 3, 4))
    assert torch.equal(a.embed.weight, b.embed.weight) and torch.equal(a.head.weight, b.head.weight)
    assert not torch.equal(a.embed.weight, c.embed.weight)
    assert 0.017 < float(a.embed.weight.detach().std()) < 0.023  # N(0, 0.02) over 64 x 32 values
    assert float(a.head.weight.detach().std()) < 0.04 and torch.count_nonzero(a.head.bias) == 0


def test_classifier_normalises_before_the_head():
    model = TinyClassifier(_tiny_text_task(), seed=0)
    model.layers = torch.nn.ModuleList()  # logits = head(RMSNorm(embedding of the last token))
    tokens = torch.tensor([[2, 3, 4, 5, 6, 7]])
    with torch.no_grad():
        before = model(tokens)
        model.embed.weight.mul_(10.0)
        after = model(tokens)
    assert torch.allclose(before, after, rtol=1e-4, atol=1e-7)  # RMSNorm does not see the scale


@pytest.mark.filterwarnings("ignore:A single label was found")
def test_classification_eval_multi_class_and_an_all_negative_binary_set():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 3.0], [0.0, 1.0, 0.0]])  # predictions 0, 2, 1
    y = torch.tensor([0, 1, 1])
    out = ct._classification_eval(lambda x: logits, torch.zeros(3, 1), y, binary=False)
    assert out["accuracy"] == pytest.approx(2 / 3)
    nll = [2 - math.log(math.exp(2) + 2), 0 - math.log(2 + math.exp(3)), 1 - math.log(2 + math.e)]
    assert out["eval_loss"] == pytest.approx(-sum(nll) / 3, rel=1e-6)
    # no positive label and none predicted: F1 is 0 by convention (zero_division), MCC 0
    negatives = ct._classification_eval(lambda x: torch.tensor([[1.0, 0.0]] * 3), torch.zeros(3, 1),
                                        torch.zeros(3, dtype=torch.int64), binary=True)
    assert (negatives["accuracy"], negatives["f1"], negatives["mcc"]) == (1.0, 0.0, 0.0)


# ------------------------------------------------------------------------------------------------ task builders
class _Recorder(torch.nn.Module):
    def __init__(self, n_classes: int):
        super().__init__()
        self.n_classes = n_classes

    def forward(self, x):
        self.x = x
        return torch.zeros(len(x), self.n_classes)


def test_text_task_workers_draw_from_disjoint_shards_covering_the_training_set():
    task = TextClassificationTask(**{**TEXT, "n_train": 8, "batch_size": 4})
    built = ct._text_task(task, 2, SEEDS)
    x_train, y_train = make_text_classification(task, 8, SEEDS.data)
    row_of = {tuple(r.tolist()): i for i, r in enumerate(x_train)}
    assert len(row_of) == 8
    seen = []
    for worker in (0, 1):
        rows = set()
        for step in range(3):
            xb, yb = built.worker_batch(worker, step)
            idx = [row_of[tuple(r.tolist())] for r in xb]
            assert sorted(idx) == sorted(set(idx))  # a batch of the shard's size: its 4 rows, no repeat
            assert torch.equal(yb, y_train[idx])
            rows |= set(idx)
        seen.append(rows)
    assert len(seen[0]) == len(seen[1]) == 4 and seen[0] | seen[1] == set(range(8))


def test_text_task_evaluates_on_a_held_out_set():
    task = TextClassificationTask(**TEXT)
    rec = _Recorder(2)
    out = ct._text_task(task, 2, SEEDS).eval_fn(rec)
    assert set(out) == {"eval_loss", "accuracy", "f1", "mcc"}
    assert rec.x.shape == (10, 6)
    train, _ = make_text_classification(task, 40, SEEDS.data)
    train_rows = {tuple(r.tolist()) for r in train}
    assert not {tuple(r.tolist()) for r in rec.x} & train_rows  # no test sequence is a training sequence


def test_digits_builds_the_asked_model_with_its_settings():
    from methods.models.cnn import SmallCNN
    from methods.models.mlp import MLP, LogisticRegression

    mlp = ct._digits_task(DigitsTask(model="mlp", hidden=7), 2, SEEDS).model
    assert type(mlp) is MLP and mlp.hidden.out_features == 7
    assert type(ct._digits_task(DigitsTask(model="cnn", channels=(2, 3)), 2, SEEDS).model) is SmallCNN
    logreg = ct._digits_task(DigitsTask(model="logreg", rho=0.5), 2, SEEDS).model
    assert type(logreg) is LogisticRegression and logreg.rho == 0.5


def test_digits_loss_adds_the_regulariser_only_for_logreg():
    batch = (torch.randn(5, 64, generator=torch.Generator().manual_seed(0)), torch.tensor([0, 1, 2, 3, 4]))
    task = ct._digits_task(DigitsTask(model="logreg", rho=0.5), 2, SEEDS)
    w = task.model.linear.weight.detach().double().numpy()
    reg = 0.5 * float(np.sum(w * w / (1 + w * w)))
    assert reg > 0
    mlp = ct._digits_task(DigitsTask(model="mlp", hidden=4), 2, SEEDS)
    with torch.no_grad():
        ce = float(torch.nn.functional.cross_entropy(task.model(batch[0]), batch[1]))
        assert float(task.loss_fn(task.model, batch)) == pytest.approx(ce + reg, rel=1e-5)
        ce = float(torch.nn.functional.cross_entropy(mlp.model(batch[0]), batch[1]))
        assert float(mlp.loss_fn(mlp.model, batch)) == pytest.approx(ce, rel=1e-6)


def test_digits_evaluates_on_the_test_split_of_its_fraction_and_data_seed():
    # 0.5 * 1797 = 898.5: 899 test samples, 898 training
    task = DigitsTask(model="logreg", test_fraction=0.5)
    rec = _Recorder(10)
    assert set(ct._digits_task(task, 2, SEEDS).eval_fn(rec)) == {"eval_loss", "accuracy"}
    assert rec.x.shape == (899, 64)
    other = _Recorder(10)
    ct._digits_task(task, 2, Seeds(data=99, model=12, compression=13, batches=14)).eval_fn(other)
    assert other.x.shape == (899, 64) and not torch.equal(rec.x, other.x)


def _label_gap(task):
    """Total-variation distance between the two workers' label histograms over 20 batches."""
    built = ct._digits_task(task, 2, SEEDS)
    hist = [np.bincount(np.concatenate([built.worker_batch(w, s)[1].numpy() for s in range(20)]), minlength=10)
            for w in (0, 1)]
    return 0.5 * np.abs(hist[0] / hist[0].sum() - hist[1] / hist[1].sum()).sum()


def test_digits_dirichlet_alpha_skews_the_workers_labels():
    assert _label_gap(DigitsTask(model="logreg", batch_size=32)) < 0.2
    assert _label_gap(DigitsTask(model="logreg", batch_size=32, dirichlet_alpha=0.05)) > 0.6


# ------------------------------------------------------------------------------------------------ objectives
def test_robust_objective_starts_at_zero_with_loss_and_distance_by_hand():
    """3 workers: signs (+, -, -), xi = 4 s, gamma = 0.5 s. Optimum: signal block xs = (1 - E[g xi]) / (1 + E[g^2])
    = (1 - 2) / 1.25 = -0.8; noise blocks E[xi] + E[g] xs = -4/3 + 0.8/6 = -1.2. At 0: distance
    sqrt(2 * 3 * 1.44 + 3 * 0.64); loss 0.5 * 3 (signal) + 0.5 * 3 * 16 (noise, every worker's xi^2 = 16)."""
    task = RobustShiftedTask(blocks=3, block_size=3, noise_blocks=2, noise_scale=4.0, gamma=0.5, noise_std=0.0)
    x0, grad_fn, metrics = ct._objective(task, 3, SEEDS)
    assert x0.dtype == torch.float64 and torch.equal(x0, torch.zeros(3, 3, dtype=torch.float64))
    out = metrics(x0)
    assert out["dist"] == pytest.approx(math.sqrt(6 * 1.44 + 3 * 0.64), rel=1e-12)
    assert out["loss"] == pytest.approx(1.5 + 24.0, rel=1e-12)
    # worker 2 is in the negative group: its gradient on a noise block at 0 is (0 - xi) / C = 4 / 2
    assert float(grad_fn(2, x0, 0)[0, 0]) == pytest.approx(2.0)


def test_robust_objective_needs_a_block_beyond_the_noise_blocks():
    """Fault: ``noise_blocks >= blocks`` validated, then the objective's ValueError ended the run as a traceback."""
    for noise_blocks in (4, 150):  # 150: the default
        with pytest.raises(ValidationError) as err:
            _scenario(dict(name="robust_shifted", blocks=4, noise_blocks=noise_blocks))
        assert (f"workload.task.noise_blocks: expected fewer than blocks=4 (one more block holds the signal), got "
                f"{noise_blocks}") in str(err.value)
    _scenario(dict(name="robust_shifted", blocks=4, noise_blocks=3))
    x0, _, _ = ct._objective(RobustShiftedTask(blocks=4, noise_blocks=3), 2, SEEDS)
    assert x0.shape == (4, 10)


def test_logistic_grad_norm_is_the_full_gradient_of_the_loss():
    task = LogisticTask(dim=6, rows=2, n_samples=60, groups=3, rho=0.3, batch_size=5)
    x0, _, metrics = ct._objective(task, 2, SEEDS)
    assert x0.shape == (2, 3) and not x0.any()
    x = torch.tensor([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]], dtype=torch.float64)
    h = 1e-6
    numeric = []
    for i in range(6):
        e = torch.zeros(6, dtype=torch.float64)
        e[i] = h
        e = e.reshape(2, 3)
        numeric.append((metrics(x + e)["loss"] - metrics(x - e)["loss"]) / (2 * h))
    assert metrics(x)["grad_norm"] == pytest.approx(float(np.linalg.norm(numeric)), rel=1e-6)
    # the regulariser is the task's: rho * sum w^2 / (1 + w^2) over the 6 entries
    _, _, plain = ct._objective(task.model_copy(update={"rho": 0.0}), 2, SEEDS)
    w = x.flatten().numpy()
    assert metrics(x)["loss"] - plain(x)["loss"] == pytest.approx(0.3 * float(np.sum(w * w / (1 + w * w))), rel=1e-9)


def test_logistic_data_follows_the_data_seed_only():
    task = LogisticTask(dim=6, rows=2, n_samples=60, batch_size=5)

    def grad_norm_at_zero(seeds):
        x0, _, metrics = ct._objective(task, 2, seeds)
        return metrics(x0)["grad_norm"]

    base = grad_norm_at_zero(SEEDS)
    assert grad_norm_at_zero(Seeds(data=11, model=0, compression=0, batches=0)) == base
    assert grad_norm_at_zero(Seeds(data=5, model=12, compression=13, batches=14)) != base


# ------------------------------------------------------------------------------------------------ runs
def _lr_seen(monkeypatch, scenario):
    made, seen = [], []
    real = ct.make_optimizer
    monkeypatch.setattr(ct, "make_optimizer", lambda spec, params: made.append(real(spec, params)) or made[-1])
    calls = []

    def progress(done, total):
        calls.append((done, total))
        seen.append(made[0].param_groups[0]["lr"])

    _run(scenario, progress)
    return seen, calls


@pytest.mark.parametrize("task,record_every", [(LOGISTIC, 1), (LOGISTIC, 3), (TEXT, 1), (TEXT, 3)])
def test_the_cosine_rate_is_set_after_every_step_and_progress_counts_steps(monkeypatch, task, record_every):
    scenario = _scenario(task, steps=4, record_every=record_every, optimizer=dict(name="sgd", lr=1.0,
                                                                                 schedule="cosine"))
    seen, calls = _lr_seen(monkeypatch, scenario)
    c = math.sqrt(0.5)
    assert seen == pytest.approx([(1 + c) / 2, 0.5, (1 - c) / 2, 0.0], abs=1e-12)
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]


@pytest.mark.parametrize("task", [LOGISTIC, TEXT])
def test_record_every_keeps_rows_without_changing_their_values(task):
    every = _run(_scenario(task, steps=7, record_every=1, eval_every=3)).metrics
    some = _run(_scenario(task, steps=7, record_every=3, eval_every=3)).metrics
    assert some["step"].tolist() == [0, 2, 5, 6]
    expected = every.set_index("step").loc[[0, 2, 5, 6]].reset_index()
    assert some[["step", "loss"]].equals(expected[["step", "loss"]])
    assert np.isfinite(some["loss"]).all()


def test_the_run_uses_the_asked_thread_count():
    threads = []
    _run(_scenario(TEXT, torch_threads=2), lambda done, total: threads.append(torch.get_num_threads()))
    assert threads == [2, 2, 2, 2]


def test_error_feedback_parameters_reach_the_workers():
    # EF21M with eta = 1 is EF21; its default eta (0.1) is not
    ef21 = _run(_scenario(LOGISTIC, error_feedback=dict(name="ef21"))).metrics
    eta1 = _run(_scenario(LOGISTIC, error_feedback=dict(name="ef21m", params={"eta": 1.0}))).metrics
    default = _run(_scenario(LOGISTIC, error_feedback=dict(name="ef21m"))).metrics
    assert eta1["loss"].tolist() == ef21["loss"].tolist()
    assert default["loss"].tolist() != ef21["loss"].tolist()


def test_the_callers_global_torch_rng_does_not_change_the_run():
    scenario = _scenario(TEXT, steps=3)
    torch.manual_seed(1)
    a = _run(scenario).metrics
    torch.manual_seed(2)
    state = torch.get_rng_state()
    b = _run(scenario).metrics
    assert torch.equal(torch.get_rng_state(), state)
    assert a.equals(b)


@pytest.mark.parametrize("task,not_applicable", [
    (LOGISTIC, []),
    (TEXT, ["eval_loss", "accuracy", "f1", "mcc"]),
    (dict(name="digits", model="logreg", batch_size=4), ["eval_loss", "accuracy"]),
])
def test_run_info_describes_the_run(task, not_applicable):
    scenario = _scenario(task, steps=2, n_workers=3, seed=5)
    info = _run(scenario).info
    seeds = Seeds.from_sequence(np.random.SeedSequence(5))
    assert info["seeds"] == {"data": seeds.data, "model": seeds.model, "compression": seeds.compression,
                             "batches": seeds.batches}
    assert info["n_workers"] == 3
    assert info["task"] == scenario.workload.task.model_dump() and info["task"]["name"] == task["name"]
    assert info["compressor"] == {"name": "topk", "params": {"ratio": 0.5}}
    assert info[NOT_APPLICABLE_KEY] == not_applicable
