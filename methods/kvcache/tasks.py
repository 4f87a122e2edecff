"""A synthetic long-context suite and the tiny `LlamaForCausalLM` (RoPE, GQA) trained on it, for Chelsea's quality
comparisons at a scale this CPU can run (arXiv 2506.11418 uses LongBench and Needle-in-a-Haystack on 7-8B models;
this is our stand-in, the research card's plan: retrieval, copy / induction and variable tracking in the style of
RULER, plus next-token loss on held-out text).

Token layout (`Vocab`): specials, ``keys`` tokens (needle keys, variable names, copy spans), ``values`` tokens
(needle values) and ``text`` tokens. The haystack is text drawn from one fixed random first-order Markov chain
(each text token has ``branching`` likely successors), so keys of nearby positions are similar, as in text.

A `Sample` is ``context`` ids (compressed by a press), ``question`` ids (fed after compression, one by one, as
decoding) and ``answer`` ids (scored with teacher forcing: the answer is right when every answer token is the
argmax). Tasks:

- ``recall``: ``n_pairs`` needles ``[NEEDLE] k v`` at random depths (or one needle at ``depth``); question
  ``[QUERY] k``, answer ``v``;
- ``copy``: a span of ``span`` key tokens inside the haystack; question ``[COPY]`` + its first two tokens, answer
  the rest of the span (induction);
- ``variables``: ``n_pairs`` assignments ``[VAR] x v``, then later ``[VAR] y x`` for one of them (y takes x's
  value, one hop); question ``[QUERY] y``, answer ``v``;
- ``text``: held-out haystack text, scored by next-token loss (not a press metric).

`train_model` trains the model from a `TinyModelConfig` and a seed (AdamW with a one-cycle schedule, answer tokens
and text tokens in the loss, a length curriculum); `trained_model` takes the committed weights of
`methods.kvcache.model_store` when they match (config, seed), else trains and caches the weights on disk.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from kernels.files import write_atomic

Task = Literal["recall", "copy", "variables"]
TASKS: tuple[Task, ...] = ("recall", "copy", "variables")
IGNORE = -100
TEXT_WEIGHT = 0.1


@dataclass(frozen=True)
class Vocab:
    """Token id ranges: 0 pad, 1 bos, 2 needle, 3 query, 4 copy, 5 var, then keys, values, text."""

    keys: int = 64
    values: int = 32
    text: int = 64
    branching: int = 3

    PAD, BOS, NEEDLE, QUERY, COPY, VAR = range(6)
    SPECIALS = 6

    @property
    def key0(self) -> int:
        return self.SPECIALS

    @property
    def value0(self) -> int:
        return self.SPECIALS + self.keys

    @property
    def text0(self) -> int:
        return self.SPECIALS + self.keys + self.values

    @property
    def size(self) -> int:
        return self.text0 + self.text


@dataclass(frozen=True)
class TinyModelConfig:
    """The tiny Llama (RoPE, GQA) and its training recipe (the defaults: 2500 steps, about 10 minutes per seed with
    three seeds in parallel on two shared cores; their weights are committed, `methods.kvcache.model_store`)."""

    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate_size: int = 128
    train_steps: int = 2500
    batch_size: int = 16
    train_context: int = 192
    learning_rate: float = 1e-3
    #: share of the steps over which the longest training context grows linearly from 48 tokens to
    #: ``train_context`` (a length curriculum; 0 = every step samples lengths up to ``train_context``)
    curriculum: float = 0.5
    #: most needles of a training recall sample (0 = up to one per six tokens)
    max_pairs: int = 8
    vocab: Vocab = Vocab()

    def __post_init__(self) -> None:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        if self.hidden_size % self.heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of heads ({self.heads})")
        if self.train_context < 32:
            raise ValueError(f"train_context must be at least 32 tokens, got {self.train_context}")
        if not 0 <= self.curriculum <= 1:
            raise ValueError(f"curriculum must lie in [0, 1], got {self.curriculum}")

    def longest_context(self, step: int) -> int:
        """The longest training context at ``step`` (the length curriculum)."""
        if self.curriculum <= 0:
            return self.train_context
        start = min(48, self.train_context)
        grown = min(1.0, step / (self.curriculum * self.train_steps))
        return int(round(start + grown * (self.train_context - start)))

    def key(self, seed: int) -> str:
        blob = json.dumps({**asdict(self), "seed": seed, "format": 2}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Sample:
    task: str
    context: list[int]
    question: list[int]
    answer: list[int]


@functools.lru_cache(maxsize=8)
def _successors(vocab: Vocab) -> list[list[int]]:
    """The haystack's fixed Markov chain (the same for every seed): ``branching`` successors per text token."""
    rng = np.random.default_rng(20250613)
    return [rng.choice(vocab.text, vocab.branching, replace=False).tolist() for _ in range(vocab.text)]


def haystack(rng: np.random.Generator, vocab: Vocab, length: int, jump: float = 0.05) -> list[int]:
    """``length`` text tokens: a uniform successor of the previous token, or any text token with prob. ``jump``."""
    succ = _successors(vocab)
    picks = rng.integers(vocab.branching, size=length).tolist()
    jumps = (rng.random(length) < jump).tolist()
    anywhere = rng.integers(vocab.text, size=length).tolist()
    token, out = anywhere[0], []
    for i in range(length):
        out.append(vocab.text0 + token)
        token = anywhere[i] if jumps[i] else succ[token][picks[i]]
    return out


def _insert(hay: list[int], pieces: list[list[int]], positions: list[int]) -> list[int]:
    out, last = [], 0
    for pos, piece in sorted(zip(positions, pieces), key=lambda item: item[0]):
        out += hay[last:pos] + piece
        last = pos
    return out + hay[last:]


def make_sample(task: Task, rng: np.random.Generator, vocab: Vocab, context: int, *, n_pairs: int = 4,
                span: int = 6, depth: float | None = None) -> Sample:
    """One sample of ``task`` whose context holds exactly ``context`` tokens (bos included)."""
    keys = [vocab.key0 + int(k) for k in rng.choice(vocab.keys, size=max(n_pairs, span) + 2, replace=False)]
    if task == "recall":
        vals = [vocab.value0 + int(v) for v in rng.integers(vocab.values, size=n_pairs)]
        pieces = [[vocab.NEEDLE, k, v] for k, v in zip(keys, vals)]
        target = int(rng.integers(n_pairs))
        question, answer = [vocab.QUERY, keys[target]], [vals[target]]
    elif task == "copy":
        pieces = [keys[:span]]
        question, answer = [vocab.COPY, *keys[:2]], keys[2:span]
    elif task == "variables":
        vals = [vocab.value0 + int(v) for v in rng.integers(vocab.values, size=n_pairs)]
        target = int(rng.integers(n_pairs))
        alias = keys[n_pairs]
        pieces = [[vocab.VAR, k, v] for k, v in zip(keys, vals)] + [[vocab.VAR, alias, keys[target]]]
        question, answer = [vocab.QUERY, alias], [vals[target]]
    else:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    filler = context - 1 - sum(len(p) for p in pieces)
    if filler < len(pieces):
        raise ValueError(f"context of {context} tokens is too short for task {task!r}")
    if depth is not None and len(pieces) == 1:
        positions = [min(filler, int(round(depth * filler)))]
    else:
        # sorted: pieces keep their order (the alias of ``variables`` comes after every assignment)
        positions = sorted(int(p) for p in rng.choice(filler + 1, size=len(pieces), replace=False))
    ids = [vocab.BOS] + _insert(haystack(rng, vocab, filler), pieces, positions)
    return Sample(task, ids, question, answer)


def training_batch(rng: np.random.Generator, cfg: TinyModelConfig,
                   longest: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixed tasks at random lengths up to ``longest`` (default ``train_context``), padded; loss on answers and on
    text. Recall samples ask for every needle (multi-query associative recall: one answer per needle, so the
    retrieval signal is dense)."""
    rows, labels = [], []
    vocab = cfg.vocab
    top = longest or cfg.train_context
    for _ in range(cfg.batch_size):
        task = TASKS[int(rng.integers(len(TASKS)))]
        length = int(rng.integers(min(32, top), top + 1))
        most = max(7, length // 6)  # dense recall: up to a sixth of the context, at most ``max_pairs``
        pairs = int(rng.integers(1, (min(most, cfg.max_pairs) if cfg.max_pairs else most) + 1))
        s = make_sample(task, rng, vocab, length, n_pairs=pairs if task == "recall" else min(pairs, 6))
        ids, lab = list(s.context), [IGNORE] * len(s.context)
        for i in range(1, len(ids)):  # next-token loss on haystack text
            if ids[i] >= vocab.text0 and ids[i - 1] >= vocab.text0:
                lab[i - 1] = ids[i]
        queries = [(s.question, s.answer)]
        if task == "recall":
            needles = [i for i, t in enumerate(s.context) if t == vocab.NEEDLE]
            order = rng.permutation(len(needles))
            queries = [([vocab.QUERY, s.context[needles[j] + 1]], [s.context[needles[j] + 2]]) for j in order]
        for question, answer in queries:
            ids += question + answer
            lab += [IGNORE] * (len(question) - 1) + answer + [IGNORE]
        rows.append(ids)
        labels.append(lab[: len(ids)])
    longest = max(len(r) for r in rows)
    return (torch.tensor([r + [vocab.PAD] * (longest - len(r)) for r in rows]),
            torch.tensor([lab + [IGNORE] * (longest - len(lab)) for lab in labels]))


def build_model(cfg: TinyModelConfig, max_positions: int = 8192) -> Any:
    """A randomly initialised `LlamaForCausalLM` from a config (no download)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=cfg.vocab.size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
        max_position_embeddings=max_positions, bos_token_id=Vocab.BOS, eos_token_id=None,
        pad_token_id=Vocab.PAD, tie_word_embeddings=True, attn_implementation="eager",
    )
    return LlamaForCausalLM(config)


def train_model(cfg: TinyModelConfig, seed: int,
                progress: Callable[[int, float], None] | None = None) -> tuple[Any, dict[str, float]]:
    """Train from scratch; returns the model (eval mode) and the final training loss and wall time. ``progress``
    is called every 100 steps with the step and the mean loss of the last 100 steps."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = build_model(cfg)
    model.config._attn_implementation = "sdpa"
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.learning_rate, total_steps=cfg.train_steps,
                                                   pct_start=0.1)
    start, losses = time.perf_counter(), []
    model.train()
    for step in range(cfg.train_steps):
        ids, labels = training_batch(rng, cfg, cfg.longest_context(step))
        logits = model(ids).logits
        loss = _loss(logits, labels, cfg.vocab)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if progress is not None and (step + 1) % 100 == 0:
            progress(step + 1, float(np.mean(losses[-100:])))
    model.eval()
    model.config._attn_implementation = "eager"
    return model, {"train_loss": float(np.mean(losses[-20:])), "train_seconds": time.perf_counter() - start}


def _loss(logits: torch.Tensor, labels: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """Answer tokens' cross-entropy plus ``TEXT_WEIGHT`` x the haystack's (answers are rare; text is not)."""
    flat, lab = logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)
    text = lab >= vocab.text0
    answer = (lab != IGNORE) & ~text
    ce = torch.nn.functional.cross_entropy(flat, lab.clamp(min=0), reduction="none")
    return ce[answer].mean() + TEXT_WEIGHT * ce[text].mean()


def default_cache_dir() -> Path:
    """``$HARNESS_KV_MODELS``, else ``~/.cache/effml_harness/kv_models`` (weights are a cache, not results)."""
    return Path(os.environ.get("HARNESS_KV_MODELS", Path.home() / ".cache" / "effml_harness" / "kv_models"))


def trained_model(cfg: TinyModelConfig, seed: int, cache_dir: Path | None = None,
                  store: Path | None = None) -> tuple[Any, dict[str, Any]]:
    """The model of (config, seed): the committed weights (`methods.kvcache.model_store`, ``store``) when the key
    is in their manifest and the sha256 checks out, else `train_model` cached on disk as
    ``<cache_dir>/<config+seed hash>.pt`` (written atomically). ``info["weights"]`` says which, in words."""
    from methods.kvcache import model_store

    model = build_model(cfg)
    saved, why = model_store.load_committed(cfg, seed, store or model_store.STORE)
    if saved is not None:
        model.load_state_dict(saved["state"])
        return model.eval(), {k: float(v) for k, v in saved["info"].items()} | {"cached": 1.0, "weights": why}
    folder = cache_dir or default_cache_dir()
    path = folder / f"tiny-llama-{cfg.key(seed)}.pt"
    if path.exists():
        saved = torch.load(path, weights_only=True)
        model.load_state_dict(saved["state"])
        return model.eval(), ({k: float(v) for k, v in saved["info"].items()}
                              | {"cached": 1.0, "weights": f"{why}; locally trained weights from the cache"})
    model, info = train_model(cfg, seed)
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(path, lambda tmp: torch.save({"state": model.state_dict(), "info": info}, tmp))
    return model, info | {"cached": 0.0, "weights": f"{why}; trained here"}


def text_loss(model: Any, rng: np.random.Generator, vocab: Vocab, context: int, samples: int) -> float:
    """Mean next-token loss on held-out haystack text (nats per token)."""
    ids = torch.tensor([[vocab.BOS] + haystack(rng, vocab, context - 1) for _ in range(samples)])
    with torch.no_grad():
        logits = model(ids).logits[:, 1:-1]
    return float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 2:].reshape(-1)))
