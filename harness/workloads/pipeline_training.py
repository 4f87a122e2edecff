"""Scenario kind ``pipeline_training``: real pipeline-parallel training of a tiny GPT in one process, with the
activations compressed forward and the activation gradients compressed backward at every stage boundary.
Follows TAH-Quant's convergence experiments (He et al., arXiv 2506.01352, Figure 4 / Table 1; research card
``moc_tahquant.md`` B3, B8) at reduced, offline scale.

Model and data: `methods.models.gpt.TinyLlama` (character level) on the generated grammar corpus
(`methods.data.corpus`). The training set is a fixed list of ``n_train`` windows of ``seq_len + 1`` tokens cut
from one corpus (``corpus_seed``, the same for every run: the paper trains every method on the same WikiText-2);
each epoch visits every window once in a seeded order, ``batch_size`` windows per step, split into
``n_micro_batches`` micro-batches whose gradients are accumulated (GPipe's arithmetic). The held-out set is
``eval_windows`` windows of a corpus drawn with another seed. The scenario seed changes the model init and the
data order.

Pipeline: `methods.pipeline.training.PipelinedLM`: ``n_stages`` stages, blocks split evenly; every boundary
sends activations through ``forward`` and gradients through ``backward`` (`CodecSpec` of the ``pipeline_step``
kind: ``none``, ``uniform_tensor``, ``uniform_tile``, ``fixpoint``, ``tahquant``, or ``aqsgd`` forward: AQ-SGD
with a per-sample cache on both sides, the first visit of a sample uncompressed, then ``bits``-bit fixpoint
deltas). Payloads are the codecs' exact wire bytes, decoded from the bytes on the receiving side.

Metrics, one row per recorded step: ``step``, ``epoch``, ``loss`` (the training loss the pipeline computed,
through the compressed boundaries, mean over micro-batches), ``eval_loss`` (held-out, the model run without
compression; every ``eval_every`` steps and at the last), ``fwd_bytes`` / ``bwd_bytes`` (this step, all
boundaries and micro-batches), ``fwd_bits_per_element`` / ``bwd_bits_per_element`` (this step),
``fwd_rel_error`` / ``bwd_rel_error`` (this step's ||received - sent|| / ||sent|| over all boundaries),
``cache_bytes`` (AQ-SGD caches, both sides, all boundaries) and ``method`` (forward/backward codec label).

Example scenario: ``scenarios/tahquant/convergence.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, NonNegativeInt, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.models.llama import check_rotary_heads
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_sandbox
from harness.workloads.compressed_training import OptimizerSpec, Seeds, make_optimizer, make_schedule
from harness.workloads.pipeline_step import CodecSpec, build_codec, method_label


class TinyModel(Strict):
    d_model: PositiveInt = Field(64, le=4096)
    n_layers: PositiveInt = Field(4, le=64)
    n_heads: PositiveInt = Field(4, le=256)
    d_ff: PositiveInt = Field(172, le=16384)


class PipelineTrainingWorkload(Strict):
    model: TinyModel = Field(default_factory=TinyModel)
    n_stages: PositiveInt = Field(2, le=64, description="pipeline stages (blocks split evenly)")
    seq_len: PositiveInt = Field(32, le=4096, description="tokens per sequence")
    batch_size: PositiveInt = Field(8, le=4096, description="sequences per optimizer step")
    n_micro_batches: PositiveInt = Field(2, le=4096, description="micro-batches per step (must divide batch_size)")
    n_train: PositiveInt = Field(256, le=1_000_000, description="training windows (samples AQ-SGD caches)")
    eval_windows: PositiveInt = Field(64, le=100_000, description="held-out windows")
    corpus_seed: NonNegativeInt = Field(0, description="seed of the training corpus (the same for every run)")
    steps: PositiveInt = Field(200, le=1_000_000, description="optimizer steps")
    optimizer: OptimizerSpec = Field(default_factory=lambda: OptimizerSpec(name="adamw", lr=3e-3, schedule="cosine"))
    eval_every: PositiveInt = Field(25, le=1_000_000, description="evaluate every this many steps (and the last)")
    record_every: PositiveInt = Field(1, le=1_000_000, description="keep a row every this many steps (and the last)")
    torch_threads: PositiveInt = Field(1, le=256, description="torch intra-op threads during the run")
    forward: CodecSpec = Field(default_factory=CodecSpec, description="codec of activations sent forward")
    backward: CodecSpec = Field(default_factory=CodecSpec, description="codec of gradients sent backward")

    @model_validator(mode="after")
    def _consistent(self) -> PipelineTrainingWorkload:
        m = self.model
        try:
            check_rotary_heads(m.d_model, m.n_heads)
        except ValueError as err:
            raise ValueError(f"model: {err}") from None
        if self.n_stages > m.n_layers:
            raise ValueError(f"n_stages: {self.n_stages} stages for {m.n_layers} blocks")
        coded = [side for side in ("forward", "backward") if getattr(self, side).name != "none"]
        if self.n_stages == 1 and coded:
            raise ValueError(f"n_stages: one stage sends nothing between stages, so {coded[0]}: "
                             f"{getattr(self, coded[0]).name} would compress nothing; use n_stages >= 2 (or "
                             "codec none)")
        if self.batch_size % self.n_micro_batches:
            raise ValueError(f"n_micro_batches: must divide batch_size={self.batch_size}, got {self.n_micro_batches}")
        if self.batch_size > self.n_train:
            raise ValueError(f"batch_size: {self.batch_size} is more than n_train={self.n_train} windows")
        if self.backward.name == "aqsgd":
            raise ValueError("backward.name: aqsgd caches forward activations; use fixpoint for gradients")
        for side in ("forward", "backward"):
            tile = getattr(self, side).params.get("tile_size")
            if getattr(self, side).name in ("tahquant", "uniform_tile") and m.d_model % int(tile or 64):
                raise ValueError(f"{side}.params.tile_size: must divide d_model={m.d_model}, got {tile or 64}")
        return self


class PipelineTrainingScenario(ScenarioBase):
    """A tiny GPT trained as a compressed pipeline (``workload.forward`` / ``workload.backward`` per boundary)."""

    kind: Literal["pipeline_training"] = "pipeline_training"
    workload: PipelineTrainingWorkload = Field(default_factory=PipelineTrainingWorkload)


def make_link(spec: CodecSpec) -> Any:
    """The `methods.pipeline.training` link of ``spec`` (``aqsgd``: an AQ-SGD pair with its delta codec)."""
    from methods.pipeline.training import AQSGDLink, CodecLink

    if spec.name == "aqsgd":
        return AQSGDLink(build_codec(spec), cache_dtype=spec.params.get("cache_dtype", "float16"))
    return CodecLink(build_codec(spec))


def _windows(tokens: torch.Tensor, n: int, seq_len: int, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    have = (len(tokens) - 1) // seq_len
    if have < n:
        raise ValueError(f"{what}: the corpus gives {have} windows of {seq_len} tokens, {n} asked")
    starts = torch.arange(n) * seq_len
    x = torch.stack([tokens[s:s + seq_len] for s in starts])
    y = torch.stack([tokens[s + 1:s + 1 + seq_len] for s in starts])
    return x, y


def corpus_windows(w: PipelineTrainingWorkload) -> tuple[Any, tuple[torch.Tensor, torch.Tensor],
                                                         tuple[torch.Tensor, torch.Tensor]]:
    """(tokenizer, train windows, held-out windows); sentences drawn until both sets fill (about 30 characters
    per sentence)."""
    from methods.data.corpus import CharTokenizer, make_corpus

    per_sentence = 30
    train = make_corpus(math.ceil(1.2 * w.n_train * w.seq_len / per_sentence) + 10, w.corpus_seed)
    held = make_corpus(math.ceil(1.2 * w.eval_windows * w.seq_len / per_sentence) + 10, w.corpus_seed + 7919)
    tok = CharTokenizer.from_text(train + held)
    return (tok, _windows(tok.encode(train), w.n_train, w.seq_len, "workload.n_train"),
            _windows(tok.encode(held), w.eval_windows, w.seq_len, "workload.eval_windows"))


def _recorded(step: int, every: int, steps: int) -> bool:
    return (step + 1) % every == 0 or step == steps - 1 or step == 0


#: ``eval_loss`` is NaN on the recorded steps between evaluations (`harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("eval_loss",)


def _train(w: PipelineTrainingWorkload, seeds: Seeds,
           progress: Callable[[int, int], None]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from methods.models.gpt import TinyLlama
    from methods.pipeline.training import Boundary, PipelinedLM

    tok, (train_x, train_y), (eval_x, eval_y) = corpus_windows(w)
    m = w.model
    model = TinyLlama(tok.vocab_size, m.d_model, m.n_layers, m.n_heads, m.d_ff, w.seq_len, seed=seeds.model)
    pipe = PipelinedLM(model, w.n_stages, lambda: Boundary(make_link(w.forward), make_link(w.backward)))
    optimizer = make_optimizer(w.optimizer, list(model.parameters()))
    schedule = make_schedule(w.optimizer, optimizer, w.steps)
    rng = np.random.default_rng([seeds.batches, 0x9A7])
    order: list[int] = []
    epoch, rows, previous = -1, [], pipe.totals()
    micro = w.batch_size // w.n_micro_batches
    for step in range(w.steps):
        if len(order) < w.batch_size:  # a new epoch (a remainder smaller than a batch is dropped)
            order, epoch = [int(i) for i in rng.permutation(w.n_train)], epoch + 1
        ids, order = order[:w.batch_size], order[w.batch_size:]
        losses = []
        for k in range(w.n_micro_batches):
            mb = ids[k * micro:(k + 1) * micro]
            loss = pipe.loss(train_x[mb], train_y[mb], mb)
            (loss / w.n_micro_batches).backward()
            losses.append(loss.item())
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        schedule(step)
        totals = pipe.totals()
        d = {k: totals[k] - previous[k] for k in totals}
        previous = totals
        progress(step + 1, w.steps)
        if not _recorded(step, w.record_every, w.steps):
            continue
        row = {"step": step, "epoch": epoch, "loss": float(np.mean(losses)), "eval_loss": math.nan,
               "fwd_bytes": d["forward_bytes"], "bwd_bytes": d["backward_bytes"],
               "fwd_bits_per_element": 8 * d["forward_bytes"] / max(d["forward_elements"], 1),
               "bwd_bits_per_element": 8 * d["backward_bytes"] / max(d["backward_elements"], 1),
               "fwd_rel_error": _rel_error(d["forward_sq_error"], d["forward_sq_norm"]),
               "bwd_rel_error": _rel_error(d["backward_sq_error"], d["backward_sq_norm"]),
               "cache_bytes": pipe.cache_bytes()}
        if (step + 1) % w.eval_every == 0 or step == w.steps - 1:
            with torch.no_grad():
                row["eval_loss"] = float(model.loss(eval_x, eval_y))
        rows.append(row)
    info = {"vocab_size": tok.vocab_size, "n_parameters": sum(p.numel() for p in model.parameters()),
            "stage_blocks": [list(r) for r in pipe.stages], "boundary_shape": [micro, w.seq_len, m.d_model],
            "epochs": epoch + 1, "tokens_per_step": w.batch_size * w.seq_len,
            **{f"total_{k}": v for k, v in pipe.totals().items() if k.endswith("bytes")}}
    return rows, info


def _rel_error(sq_error: float, sq_norm: float) -> float:
    """sqrt(sum of squared errors / sum of squared values); 0 for an all-zero signal."""
    return math.sqrt(sq_error / sq_norm) if sq_norm else 0.0


@register_workload("pipeline_training", PipelineTrainingScenario)
def run(scenario: PipelineTrainingScenario, ctx: RunContext) -> RunOutput:
    """Train; one row per recorded step (columns in the module docstring)."""
    w = scenario.workload
    seeds = Seeds.from_sequence(ctx.seed_seq)
    with torch_sandbox(threads=w.torch_threads):  # nothing here may touch the caller's global RNG state
        torch.manual_seed(seeds.model)
        rows, info = _train(w, seeds, ctx.progress)
    frame = pd.DataFrame(rows)
    frame["method"] = method_label(w.forward, w.backward)
    info.update(method=method_label(w.forward, w.backward), forward=w.forward.model_dump(),
                backward=w.backward.model_dump(),
                seeds={"model": seeds.model, "batches": seeds.batches})
    info[NOT_APPLICABLE_KEY] = list(NAN_MEANS_NOT_APPLICABLE)
    return RunOutput(metrics=frame, info=info)
