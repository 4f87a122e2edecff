"""Scenario kind ``compressed_training``: a real in-process run of N simulated data-parallel workers with compression.
Follows the training experiments (loss and accuracy vs step) of ARC-Top-K (arXiv 2510.26709) and GreedyLore
(arXiv 2507.08784) at reduced, offline scale.

Statistical behaviour (loss vs step) comes from real small runs (DESIGN.md): every worker computes its own
gradient on its own data, the `methods.compress` pipelines (compressor + error feedback + dense warm-up)
aggregate them through `methods.compress.simulated.SimulatedWorkers` (the same code the DDP hooks run over
gloo/NCCL), and a torch optimizer applies the aggregated direction. Deterministic for a seed: every random
draw (data, model init, sketches, batches) derives from the scenario seed.

Tasks (``workload.task.name``), all offline:

- ``logistic``: ARC-Top-K's logistic regression with the non-convex regulariser on group-shifted data
  (`methods.data.synthetic.HeterogeneousLogistic`, x viewed as ``rows`` x ``dim/rows``); metrics at recorded
  steps: ``loss`` (full objective) and ``grad_norm`` (full-gradient norm).
- ``robust_shifted``: ARC-Top-K's adversarial "robust shifted objective" (`RobustShiftedObjective`); metrics
  ``loss`` and ``dist`` (distance to the exact optimum).
- ``digits``: scikit-learn's bundled 8x8 digits with an ``mlp``, ``cnn`` or ``logreg`` model; ``loss`` (mean
  worker batch loss), and every ``eval_every`` steps ``eval_loss`` and ``accuracy`` on the test split.
- ``tiny_gpt``: `methods.models.gpt.TinyLlama` on the generated grammar corpus (`methods.data.corpus`); ``loss``
  and ``eval_loss`` on a held-out corpus drawn with another seed.
- ``text_classification``: synthetic sequence classification (defined here, GLUE stand-in): tokens from a small
  vocabulary, label by a planted rule (``planted``: does the marker token occur; ``majority``: which of two
  tokens occurs more often; ``order``: does token A occur before token B), a tiny causal transformer classifier
  reading the last position; ``eval_loss``, ``accuracy``, ``f1`` and ``mcc`` on a test set.

Every row also carries the step's communication, measured from the collectives the run really issued:
``payload_bytes_per_worker``, ``ring_sent_bytes_per_worker``, ``n_collectives`` and their cumulative sums
``cum_payload_bytes_per_worker`` / ``cum_ring_sent_bytes_per_worker``, plus ``dense`` (a dense warm-up step).
Rows are kept every ``record_every`` steps and at the last step; cumulative columns count every step.

``workload.dense_parameters`` (fnmatch patterns on parameter names) are always averaged with one dense
all-reduce, outside the compressor and error feedback (`methods.compress.pipeline`); the ARC-Top-K and
GreedyLore authors' hooks keep ``embed_tokens`` and ``lm_head`` dense, so their choice for LLaMA-style models
(the ``tiny_gpt`` task's `TinyLlama` uses those names) is ``["embed_tokens*", "lm_head*"]``. run.json's info
records ``dense_parameters`` (the names sent dense by choice), ``compressed_parameter_share`` (share of
parameter elements whose steady-state payload is smaller than the tensor, i.e. really compressed),
``dense_fallbacks`` (per tensor: the compressor's own dense fallbacks: calls, dense, reason) and their total
``dense_fallback_calls``.

Optimizers: ``sgd``, ``momentum`` (heavy ball, optional Nesterov), ``adam``, ``adamw``; learning rate constant or
cosine to zero (``optimizer.schedule``). The ARC synthetic script's "EF21-MSGD" (v = beta v + g, compress v - e)
is error feedback ``ef21m`` with eta = 1 - beta and lr / eta under plain ``sgd`` (`methods.compress.error_feedback`).

Example scenario: ``scenarios/compression/training_digits.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict, TechniqueSpec
from harness.config.plugins import compressor_problem, error_feedback_problem
from harness.errors import ScenarioError
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import RunContext, RunOutput, corpus_shards, register_workload, torch_sandbox


# ------------------------------------------------------------------------------------------------------ config
class LogisticTask(Strict):
    name: Literal["logistic"] = "logistic"
    dim: PositiveInt = Field(40, le=100_000, description="features d (authors: 40)")
    rows: PositiveInt = Field(10, le=100_000, description="matrix view rows of x (authors: 10)")
    n_samples: PositiveInt = Field(144_000, le=10_000_000, description="total samples (authors: 1.44M; reduced)")
    groups: PositiveInt = Field(3, le=1_000, description="feature-shifted groups (authors: 3)")
    rho: NonNegativeFloat = Field(1e-2, description="non-convex regulariser weight")
    batch_size: PositiveInt = Field(200, le=100_000, description="per-worker batch")


class RobustShiftedTask(Strict):
    name: Literal["robust_shifted"] = "robust_shifted"
    blocks: PositiveInt = Field(200, le=100_000, description="blocks (rows) of x")
    block_size: PositiveInt = Field(10, le=10_000, description="entries per block")
    noise_blocks: PositiveInt = Field(150, le=100_000, description="blocks with opposite per-group shifts")
    noise_scale: PositiveFloat = Field(100.0, description="shift magnitude of the noise blocks")
    gamma: float = Field(5.0, description="coupling of noise blocks to the signal block")
    noise_std: NonNegativeFloat = Field(1e-3, description="gradient noise std")


class DigitsTask(Strict):
    name: Literal["digits"] = "digits"
    model: Literal["mlp", "cnn", "logreg"] = "mlp"
    hidden: PositiveInt = Field(64, le=65_536, description="MLP hidden width")
    channels: tuple[PositiveInt, PositiveInt] = Field((16, 32), description="CNN channels")
    rho: NonNegativeFloat = Field(1e-2, description="logreg non-convex regulariser")
    batch_size: PositiveInt = Field(32, le=100_000, description="per-worker batch")
    test_fraction: float = Field(0.25, gt=0, lt=1)
    dirichlet_alpha: PositiveFloat | None = Field(None, description="None: i.i.d. shards; else label-skewed")


class TinyGPTTask(Strict):
    name: Literal["tiny_gpt"] = "tiny_gpt"
    d_model: PositiveInt = Field(64, le=8192)
    n_layers: PositiveInt = Field(2, le=128)
    n_heads: PositiveInt = Field(4, le=256)
    d_ff: PositiveInt = Field(172, le=32768)
    seq_len: PositiveInt = Field(64, le=8192)
    batch_size: PositiveInt = Field(8, le=100_000, description="sequences per worker batch")
    n_sentences: PositiveInt = Field(4000, le=10_000_000, description="training corpus size")
    eval_sentences: PositiveInt = Field(300, le=1_000_000, description="held-out corpus size (another seed)")
    eval_batches: PositiveInt = Field(4, le=10_000, description="held-out batches per evaluation")


class TextClassificationTask(Strict):
    name: Literal["text_classification"] = "text_classification"
    rule: Literal["planted", "majority", "order"] = "planted"
    vocab_size: PositiveInt = Field(16, ge=6, le=100_000)
    seq_len: PositiveInt = Field(16, ge=4, le=8192)
    n_train: PositiveInt = Field(4000, le=10_000_000)
    n_test: PositiveInt = Field(1000, le=10_000_000)
    d_model: PositiveInt = Field(32, le=8192)
    n_layers: PositiveInt = Field(2, le=128)
    n_heads: PositiveInt = Field(4, le=256)
    d_ff: PositiveInt = Field(64, le=32768)
    batch_size: PositiveInt = Field(16, le=100_000, description="per-worker batch")


Task = Annotated[
    LogisticTask | RobustShiftedTask | DigitsTask | TinyGPTTask | TextClassificationTask, Field(discriminator="name")
]


#: An Adam beta: torch's Adam / AdamW refuse one outside [0, 1) only when the optimizer is built.
Beta = Annotated[float, Field(ge=0, lt=1)]


class OptimizerSpec(Strict):
    name: Literal["sgd", "momentum", "adam", "adamw"] = "sgd"
    lr: PositiveFloat = 0.1
    momentum: float = Field(0.9, ge=0, lt=1, description="heavy-ball momentum (optimizer momentum)")
    nesterov: bool = False
    betas: tuple[Beta, Beta] = Field((0.9, 0.999), description="Adam betas, each in [0, 1)")
    weight_decay: NonNegativeFloat = 0.0
    schedule: Literal["constant", "cosine"] = Field("constant", description="cosine: lr decays to 0 at the last step")

    @model_validator(mode="after")
    def _nesterov_needs_momentum(self) -> OptimizerSpec:
        if self.name == "momentum" and self.nesterov and self.momentum == 0:  # torch's SGD refuses it when built
            raise ValueError("nesterov: Nesterov momentum needs momentum > 0, got momentum 0")
        return self


class ErrorFeedbackSpec(Strict):
    name: Literal["none", "ef14", "ef21", "ef21m", "ef21_sgd2m"] | None = Field(
        None, description="None: the compressor's usual pairing (EF14 for compressors, none for dense)"
    )
    params: dict[str, Any] = Field(default_factory=dict, description="e.g. {eta: 0.1} for ef21m")


class CompressedTrainingWorkload(Strict):
    task: Task = Field(default_factory=LogisticTask)
    n_workers: PositiveInt = Field(4, le=1_024, description="simulated workers, all in this process (at most 1,024)")
    steps: PositiveInt = Field(200, le=100_000, description="optimizer steps (at most 100,000)")
    warmup_steps: NonNegativeInt = Field(0, le=100_000, description="dense all-reduce steps before compression starts")
    error_feedback: ErrorFeedbackSpec = Field(default_factory=ErrorFeedbackSpec)
    optimizer: OptimizerSpec = Field(default_factory=OptimizerSpec)
    eval_every: PositiveInt = Field(
        10, le=1_000_000, description="evaluate every this many steps (and after the last)"
    )
    record_every: PositiveInt = Field(
        1, le=1_000_000, description="keep a metrics row every this many steps (and the last)"
    )
    torch_threads: PositiveInt = Field(
        1, le=256, description="torch intra-op threads during the run (1: fastest for these tiny models, no "
        "oversubscription when sweep points run in parallel; the previous setting is restored afterwards)"
    )
    dense_parameters: list[str] = Field(
        default_factory=list, max_length=1_000,
        description="fnmatch patterns of parameter names always sent with one dense all-reduce (matched against "
        "the name and every tail after a dot; each must match a parameter). The ARC-Top-K and GreedyLore authors' "
        "choice for LLaMA-style models (and the tiny_gpt task): ['embed_tokens*', 'lm_head*']; the synthetic "
        "tasks have one tensor, 'x'",
    )


class CompressedTrainingScenario(ScenarioBase):
    """N simulated workers training with ``technique`` (a `methods.compress` compressor) on ``workload.task``."""

    kind: Literal["compressed_training"] = "compressed_training"
    workload: CompressedTrainingWorkload = Field(default_factory=CompressedTrainingWorkload)
    technique: TechniqueSpec = Field(default_factory=TechniqueSpec,
                                     description="the compressor: a methods.compress registry key and its parameters")

    @model_validator(mode="after")
    def _check(self) -> CompressedTrainingScenario:
        problem = compressor_problem(self.technique.name, self.technique.params)
        ef = self.workload.error_feedback
        if problem is None and ef.name is not None:
            problem = error_feedback_problem(ef.name, ef.params, "workload.error_feedback")
        if problem:
            raise ValueError(problem)
        if self.technique.name != "none" and self.workload.warmup_steps >= self.workload.steps:
            raise ValueError(f"workload.warmup_steps: {self.workload.warmup_steps} dense warm-up steps of "
                             f"{self.workload.steps} leave no step compressed by '{self.technique.name}'; use "
                             "fewer than workload.steps (or technique.name: none for a dense run)")
        task = self.workload.task
        if isinstance(task, RobustShiftedTask) and self.workload.n_workers < 2:
            raise ValueError("workload.n_workers: the robust shifted objective needs >= 2 workers (two groups)")
        if isinstance(task, RobustShiftedTask) and task.noise_blocks >= task.blocks:
            raise ValueError(f"workload.task.noise_blocks: expected fewer than blocks={task.blocks} (one more block "
                             f"holds the signal), got {task.noise_blocks}")
        if isinstance(task, LogisticTask):
            if task.dim % task.rows:
                raise ValueError(f"workload.task.rows: must divide dim={task.dim}, got {task.rows}")
            if task.n_samples % self.workload.n_workers:
                raise ValueError(f"workload.task.n_samples: must be divisible by n_workers={self.workload.n_workers}")
        if isinstance(task, DigitsTask):
            problem = _digits_split_problem(task.test_fraction, self.workload.n_workers)
            if problem:
                raise ValueError(problem)
        if isinstance(task, TextClassificationTask) and task.n_train < self.workload.n_workers:
            raise ValueError(f"workload.n_workers: {self.workload.n_workers} workers for n_train={task.n_train} "
                             f"training sequences; every worker needs at least one")
        if isinstance(task, TinyGPTTask | TextClassificationTask):
            if task.d_model % task.n_heads or (task.d_model // task.n_heads) % 2:
                raise ValueError(f"workload.task: d_model={task.d_model} must split into n_heads={task.n_heads} "
                                 "even heads")
        if isinstance(task, LogisticTask | RobustShiftedTask):  # one tensor, known before any run
            problem = _unmatched_problem(self.workload, ["x"])
            if problem:
                raise ValueError(problem)
        return self


#: Samples of scikit-learn's digits data set (`methods.data.digits.load_digits_split`), 10 classes.
DIGITS_SAMPLES, DIGITS_CLASSES = 1797, 10


def _digits_split_problem(test_fraction: float, n_workers: int) -> str | None:
    """The line for a digits split that scikit-learn's stratified split or the sharding would refuse, or None."""
    n_test = math.ceil(test_fraction * DIGITS_SAMPLES)  # scikit-learn's train_test_split rounds the test side up
    n_train = DIGITS_SAMPLES - n_test
    if min(n_test, n_train) < DIGITS_CLASSES:
        return (f"workload.task.test_fraction: {test_fraction:g} of the {DIGITS_SAMPLES} digits gives {n_train} "
                f"training and {n_test} test samples; each side needs at least one per class ({DIGITS_CLASSES})")
    if n_train < n_workers:
        return (f"workload.n_workers: {n_workers} workers for {n_train} digits training samples (test_fraction "
                f"{test_fraction:g}); every worker needs at least one")
    return None


def _unmatched_problem(w: CompressedTrainingWorkload, names: list[str]) -> str | None:
    """The line for ``workload.dense_parameters`` patterns that match none of ``names``, or None."""
    from methods.compress.pipeline import unmatched_patterns

    missing = unmatched_patterns(w.dense_parameters, names)
    if not missing:
        return None
    return (f"workload.dense_parameters: {', '.join(map(repr, missing))} match no parameter of the {w.task.name} "
            f"model (its parameters: {', '.join(names)})")


# ----------------------------------------------------------------------------------------------- seeds, optimizers
@dataclass(frozen=True)
class Seeds:
    """Independent integer seeds for data, model init, compression randomness and batches."""

    data: int
    model: int
    compression: int
    batches: int

    @classmethod
    def from_sequence(cls, seed_seq: np.random.SeedSequence) -> Seeds:
        children = seed_seq.spawn(4)
        return cls(*(int(c.generate_state(1, dtype=np.uint32)[0]) for c in children))


def make_optimizer(spec: OptimizerSpec, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    """The torch optimizer of ``spec`` over ``params``."""
    if spec.name == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, weight_decay=spec.weight_decay)
    if spec.name == "momentum":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, nesterov=spec.nesterov,
                               weight_decay=spec.weight_decay)
    cls = torch.optim.Adam if spec.name == "adam" else torch.optim.AdamW
    return cls(params, lr=spec.lr, betas=tuple(spec.betas), weight_decay=spec.weight_decay)


def make_schedule(spec: OptimizerSpec, optimizer: torch.optim.Optimizer, steps: int) -> Callable[[int], None]:
    """A callback ``(step) -> None`` that sets the learning rate for the next step."""
    if spec.schedule == "constant":
        return lambda step: None

    def cosine(step: int) -> None:
        lr = spec.lr * 0.5 * (1.0 + math.cos(math.pi * min(step + 1, steps) / steps))
        for group in optimizer.param_groups:
            group["lr"] = lr

    return cosine


# --------------------------------------------------------------------------------------------- synthetic text task
def make_text_classification(task: TextClassificationTask, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` sequences [n, seq_len] (int64) and binary labels, by ``task.rule`` (module docstring).

    Tokens 0 and 1 are the rule's special tokens, 2.. the filler; every rule gives balanced labels.
    """
    rng = np.random.default_rng([int(seed), 0x7E57])
    L, V = task.seq_len, task.vocab_size
    x = rng.integers(2, V, size=(n, L))
    y = rng.integers(0, 2, size=n)
    if task.rule == "planted":  # label 1 iff token 0 occurs (once, anywhere)
        pos = rng.integers(0, L, size=n)
        x[y == 1, pos[y == 1]] = 0
    elif task.rule == "majority":  # tokens 0/1 fill an odd number of positions; label = 0 outnumbers 1
        for i in range(n):
            count = int(rng.integers(1, L // 2)) * 2 + 1
            pos = rng.choice(L, size=count, replace=False)
            major = count // 2 + 1 + int(rng.integers(0, count - count // 2))
            tokens = np.array([0] * major + [1] * (count - major))
            if y[i] == 0:
                tokens = 1 - tokens
            x[i, pos] = rng.permutation(tokens)
    else:  # order: tokens 0 and 1 both occur once; label 1 iff 0 comes first
        for i in range(n):
            a, b = sorted(rng.choice(L, size=2, replace=False))
            x[i, a], x[i, b] = (0, 1) if y[i] == 1 else (1, 0)
    return torch.from_numpy(x.astype(np.int64)), torch.from_numpy(y.astype(np.int64))


class TinyClassifier(torch.nn.Module):
    """Token embedding -> causal LLaMA blocks (`methods.models.gpt.Block`) -> RMSNorm -> head on the last position."""

    def __init__(self, task: TextClassificationTask, n_classes: int = 2, seed: int = 0):
        from methods.models.gpt import Block, rope_tables
        from methods.models.init import embedding, init_parameters, linear

        super().__init__()
        self.embed = embedding(task.vocab_size, task.d_model)
        self.layers = torch.nn.ModuleList(Block(task.d_model, task.n_heads, task.d_ff) for _ in range(task.n_layers))
        self.norm = torch.nn.RMSNorm(task.d_model)
        self.head = linear(task.d_model, n_classes)
        cos, sin = rope_tables(task.seq_len, task.d_model // task.n_heads)
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        init_parameters(self, seed, normal_std=0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, self.rope_cos, self.rope_sin)
        return self.head(self.norm(x)[:, -1])


# ---------------------------------------------------------------------------------------------------- task runs
@dataclass
class NetworkTask:
    """What `train_simulated` needs: model, loss, per-(worker, step) batches, evaluation."""

    model: torch.nn.Module
    loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor]
    worker_batch: Callable[[int, int], Any]
    eval_fn: Callable[[torch.nn.Module], dict[str, float]]


def _classification_eval(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, binary: bool) -> dict[str, float]:
    logits = model(x)
    pred = logits.argmax(dim=1)
    out = {"eval_loss": float(torch.nn.functional.cross_entropy(logits, y)),
           "accuracy": float((pred == y).double().mean())}
    if binary:
        from sklearn.metrics import f1_score, matthews_corrcoef

        out["f1"] = float(f1_score(y.numpy(), pred.numpy(), zero_division=0))
        out["mcc"] = float(matthews_corrcoef(y.numpy(), pred.numpy()))
    return out


def _digits_task(task: DigitsTask, n_workers: int, seeds: Seeds) -> NetworkTask:
    from methods.data.digits import DigitsShards, load_digits_split
    from methods.models.cnn import SmallCNN
    from methods.models.mlp import MLP, LogisticRegression

    data = load_digits_split(test_fraction=task.test_fraction, seed=seeds.data % (2**31))
    shards = DigitsShards(data, n_workers, task.batch_size, seeds.batches, dirichlet_alpha=task.dirichlet_alpha)
    if task.model == "mlp":
        model: torch.nn.Module = MLP(64, task.hidden, 10, seed=seeds.model)
    elif task.model == "cnn":
        model = SmallCNN(tuple(task.channels), 10, seed=seeds.model)
    else:
        model = LogisticRegression(64, 10, rho=task.rho, seed=seeds.model)

    def loss_fn(m: torch.nn.Module, batch: Any) -> torch.Tensor:
        x, y = batch
        loss = torch.nn.functional.cross_entropy(m(x), y)
        return loss + m.regulariser() if isinstance(m, LogisticRegression) else loss

    return NetworkTask(model, loss_fn, shards.batch, lambda m: _classification_eval(m, data.x_test, data.y_test, False))


def _gpt_task(task: TinyGPTTask, n_workers: int, seeds: Seeds) -> NetworkTask:
    from methods.data.corpus import CharTokenizer, make_corpus
    from methods.models.gpt import TinyLlama

    train_text = make_corpus(task.n_sentences, seeds.data)
    eval_text = make_corpus(task.eval_sentences, seeds.data + 1)
    tokenizer = CharTokenizer.from_text(train_text + eval_text)
    shards = corpus_shards(tokenizer.encode(train_text), n_workers, task.seq_len, task.batch_size, seeds.batches,
                           "workload.task.n_sentences", task.n_sentences)
    eval_tokens = tokenizer.encode(eval_text)
    n_windows = min(task.eval_batches * task.batch_size, (len(eval_tokens) - 1) // task.seq_len)
    if n_windows < 1:
        raise ScenarioError([f"workload.task.eval_sentences: {task.eval_sentences} sentences give "
                             f"{len(eval_tokens)} tokens, no eval window of seq_len {task.seq_len}"])
    starts = torch.arange(n_windows) * task.seq_len
    eval_x = torch.stack([eval_tokens[s : s + task.seq_len] for s in starts])
    eval_y = torch.stack([eval_tokens[s + 1 : s + 1 + task.seq_len] for s in starts])
    model = TinyLlama(tokenizer.vocab_size, task.d_model, task.n_layers, task.n_heads, task.d_ff, task.seq_len,
                      seed=seeds.model)
    return NetworkTask(model, lambda m, b: m.loss(*b), shards.batch,
                       lambda m: {"eval_loss": float(m.loss(eval_x, eval_y))})


def _text_task(task: TextClassificationTask, n_workers: int, seeds: Seeds) -> NetworkTask:
    from methods.data.sharding import batch_indices, shard_indices

    x_train, y_train = make_text_classification(task, task.n_train, seeds.data)
    x_test, y_test = make_text_classification(task, task.n_test, seeds.data + 1)
    shards = shard_indices(y_train.numpy(), n_workers, seeds.batches)

    def worker_batch(worker: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(batch_indices(shards[worker], worker, step, task.batch_size, seeds.batches))
        return x_train[idx], y_train[idx]

    model = TinyClassifier(task, seed=seeds.model)
    return NetworkTask(model, lambda m, b: torch.nn.functional.cross_entropy(m(b[0]), b[1]), worker_batch,
                       lambda m: _classification_eval(m, x_test, y_test, True))


NETWORK_TASKS = {"digits": _digits_task, "tiny_gpt": _gpt_task, "text_classification": _text_task}
#: the network tasks' evaluation columns: NaN on the rows between evaluations (`harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("eval_loss", "accuracy", "f1", "mcc")


def _objective(task: LogisticTask | RobustShiftedTask, n_workers: int, seeds: Seeds):
    """(objective, x0, grad_fn, metrics_fn) for the synthetic tasks."""
    from methods.data.synthetic import HeterogeneousLogistic, RobustShiftedObjective

    if isinstance(task, LogisticTask):
        obj = HeterogeneousLogistic(dim=task.dim, rows=task.rows, n_samples=task.n_samples, n_workers=n_workers,
                                    groups=task.groups, rho=task.rho, batch_size=task.batch_size, seed=seeds.data)
        x0 = torch.zeros(obj.shape, dtype=torch.float64)
        return x0, obj.gradient, lambda x: {"loss": obj.loss(x), "grad_norm": float(obj.full_gradient(x).norm())}
    obj = RobustShiftedObjective(n_workers=n_workers, blocks=task.blocks, block_size=task.block_size,
                                 noise_blocks=task.noise_blocks, noise_scale=task.noise_scale, gamma=task.gamma,
                                 noise_std=task.noise_std, seed=seeds.data)
    x0 = torch.zeros(obj.shape, dtype=torch.float64)
    return x0, obj.gradient, lambda x: {"loss": obj.loss(x), "dist": obj.distance(x)}


def _dense_info(w: CompressedTrainingWorkload, workers: Any, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Check ``workload.dense_parameters`` against the model's tensor names (ScenarioError naming the key if a
    pattern matches none) and describe what is sent dense by choice and what is really compressed."""
    problem = _unmatched_problem(w, list(tensors))
    if problem:
        raise ScenarioError([problem])
    pipeline = workers.pipelines[0]
    chosen = [name for name in tensors if pipeline.is_dense(name)]
    total = sum(t.numel() for t in tensors.values())
    compressed = 0
    for name, t in tensors.items():
        if name in chosen or t.numel() == 0:
            continue
        payload = sum(p.size_bytes for p in pipeline.compressor.payloads(tuple(t.shape), dtype=t.dtype))
        if payload < t.numel() * t.element_size():
            compressed += t.numel()
    return {"dense_parameters": chosen, "compressed_parameter_share": compressed / total if total else 0.0}


def _run_objective(w: CompressedTrainingWorkload, workers: Any, seeds: Seeds,
                   progress: Callable[[int, int], None]) -> tuple[list[dict[str, Any]], dict]:
    from methods.compress.simulated import optimize_objective

    x0, grad_fn, metrics = _objective(w.task, w.n_workers, seeds)
    dense = _dense_info(w, workers, {"x": x0})
    steps = w.steps
    schedule: list[Callable[[int], None]] = []

    def make(params: list[torch.Tensor]) -> torch.optim.Optimizer:
        opt = make_optimizer(w.optimizer, params)
        schedule.append(make_schedule(w.optimizer, opt, steps))
        return opt

    calls = {"n": 0}

    def metrics_at_recorded_steps(x: torch.Tensor) -> dict[str, float]:
        step = calls["n"]
        calls["n"] += 1
        schedule[0](step)
        progress(step + 1, steps)
        if _recorded(step, w.record_every, steps):
            return metrics(x)
        return {}

    rows = optimize_objective(x0, grad_fn, workers, make, steps, metrics_fn=metrics_at_recorded_steps, name="x")
    return rows, dense


def _recorded(step: int, every: int, steps: int) -> bool:
    return (step + 1) % every == 0 or step == steps - 1 or step == 0


def _run_network(w: CompressedTrainingWorkload, workers: Any, seeds: Seeds,
                 progress: Callable[[int, int], None]) -> tuple[list[dict[str, Any]], dict]:
    from methods.compress.simulated import train_simulated

    task = NETWORK_TASKS[w.task.name](w.task, w.n_workers, seeds)
    named = {n: p.detach() for n, p in task.model.named_parameters() if p.requires_grad}
    dense = _dense_info(w, workers, named)
    params = [p for p in task.model.parameters() if p.requires_grad]
    optimizer = make_optimizer(w.optimizer, params)
    schedule = make_schedule(w.optimizer, optimizer, w.steps)

    def on_step(step: int, _model: torch.nn.Module) -> None:
        schedule(step)
        progress(step + 1, w.steps)

    rows = train_simulated(task.model, task.loss_fn, task.worker_batch, workers, optimizer, w.steps,
                           eval_fn=task.eval_fn, eval_every=w.eval_every, on_step=on_step)
    return rows, dense


@register_workload("compressed_training", CompressedTrainingScenario)
def run(scenario: CompressedTrainingScenario, ctx: RunContext) -> RunOutput:
    """Train; one row per recorded step (columns in the module docstring)."""
    from methods.compress.pipeline import CompressionPipeline
    from methods.compress.simulated import SimulatedWorkers

    w = scenario.workload
    seeds = Seeds.from_sequence(ctx.seed_seq)
    workers = SimulatedWorkers([
        CompressionPipeline.build(
            scenario.technique.name, w.error_feedback.name, compressor_params=scenario.technique.params,
            error_feedback_params=w.error_feedback.params, seed=seeds.compression, start_iter=w.warmup_steps,
            dense_parameters=w.dense_parameters,
        )
        for _ in range(w.n_workers)
    ])
    with torch_sandbox(threads=w.torch_threads):  # nothing here may touch the caller's global RNG state
        torch.manual_seed(seeds.model)
        if w.task.name in NETWORK_TASKS:
            rows, dense = _run_network(w, workers, seeds, ctx.progress)
        else:
            rows, dense = _run_objective(w, workers, seeds, ctx.progress)
    frame = pd.DataFrame(rows)
    frame["dense"] = frame["step"] < w.warmup_steps
    keep = [_recorded(int(s), w.record_every, w.steps) for s in frame["step"]]
    frame = frame[keep].reset_index(drop=True)
    info = {
        "task": w.task.model_dump(),
        "n_workers": w.n_workers,
        "compressor": {"name": scenario.technique.name, "params": dict(scenario.technique.params)},
        "error_feedback": workers.pipelines[0].error_feedback.name,
        "seeds": {"data": seeds.data, "model": seeds.model, "compression": seeds.compression, "batches": seeds.batches},
        **dense,
        **fallback_info(workers),
        NOT_APPLICABLE_KEY: [name for name in NAN_MEANS_NOT_APPLICABLE if name in frame.columns],
    }
    return RunOutput(metrics=frame, info=info)


def fallback_info(workers: Any) -> dict[str, Any]:
    """run.json's ``dense_fallbacks`` (per tensor: calls, dense, reason; `SimulatedWorkers.dense_fallbacks`) and
    their total ``dense_fallback_calls`` (calls the compressor sent dense although asked to compress)."""
    fallbacks = {name: dict(entry) for name, entry in workers.dense_fallbacks().items()}
    return {"dense_fallbacks": fallbacks,
            "dense_fallback_calls": int(sum(int(entry.get("dense", 0)) for entry in fallbacks.values()))}
