"""Accuracy of every KV-cache press on the synthetic suite (`methods.kvcache.tasks`) per budget and context length,
through one generation path (Chelsea, arXiv 2506.11418, compares methods at equal cache ratios).

For each sample the press is active (``with press(model):``) while the context is prefilled (prefill presses
compress here), then the question tokens and the teacher-forced answer are fed one token at a time as decoding
(decode-time presses such as CaM compress at their first decode step; Chelsea's online trigger runs as in serving).
A sample is right when every answer token is the argmax. Every method sees the same samples (drawn from
``seed``, the context length and the task). ``full`` is evaluated once, at budget 1.

Chelsea's protected windows and chunk are scaled to the tiny contexts (`ChelseaSettings`; the paper's 16 / 64 /
256 are for 4k-128k prompts); StreamingLLM keeps kvpress's 4 sink tokens; SnapKV uses a window of
``snapkv_window`` tokens; CaM compresses to ``budget x context`` tokens at every decode step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from methods.kvcache.baselines import make_press
from methods.kvcache.tasks import Sample, Task, Vocab, make_sample


@dataclass(frozen=True)
class ChelseaSettings:
    sink_tokens: int = 4
    recent_tokens: int = 16
    chunk_size: int = 32
    buffer_tokens: int = 8
    outlier_heads: tuple[tuple[int, int], ...] = ()


def press_for(method: str, budget: float, context: int, chelsea: ChelseaSettings, snapkv_window: int = 16):
    """The press of ``method`` at ``budget`` for a ``context``-token prompt (None for the full cache)."""
    if method == "full":
        return None
    if method == "chelsea":
        return make_press("chelsea", budget, sink_tokens=chelsea.sink_tokens, recent_tokens=chelsea.recent_tokens,
                          chunk_size=chelsea.chunk_size, buffer_tokens=chelsea.buffer_tokens,
                          outlier_heads=chelsea.outlier_heads, max_decode_tokens=0)
    if method == "cam":
        return make_press("cam", budget, target_size=max(1, round(budget * context)), compression_interval=1)
    if method in ("snapkv", "merging"):
        press = make_press(method, budget)
        inner = press.press if method == "merging" else press
        inner.window_size = snapkv_window
        return press
    return make_press(method, budget)


def run_sample(model, sample: Sample, press) -> tuple[bool, int]:
    """Prefill the context under ``press``, decode question and answer; (all answer tokens right, cache length)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    feed = sample.question + sample.answer[:-1]
    first = len(sample.question) - 1
    predictions = []
    with torch.no_grad(), (press(model) if press is not None else nullcontext()):
        model(torch.tensor([sample.context]), past_key_values=cache)
        kept = cache.get_seq_length(0)
        for i, token in enumerate(feed):
            position = torch.tensor([[len(sample.context) + i]])
            logits = model(torch.tensor([[token]]), past_key_values=cache, position_ids=position).logits
            if i >= first:
                predictions.append(int(logits[0, -1].argmax()))
    return predictions == sample.answer, int(kept)


def samples_for(task: Task, vocab: Vocab, context: int, n: int, seed: int, **kw) -> list[Sample]:
    rng = np.random.default_rng([seed, context, ["recall", "copy", "variables"].index(task)])
    return [make_sample(task, rng, vocab, context, **kw) for _ in range(n)]


def evaluate(model, vocab: Vocab, *, methods: Sequence[str], budgets: Sequence[float], contexts: Iterable[int],
             tasks: Sequence[Task], samples: int, seed: int, chelsea: ChelseaSettings = ChelseaSettings(),
             snapkv_window: int = 16) -> pd.DataFrame:
    """One row per (method, budget, context, task): accuracy, samples, mean cache length after prefill."""
    rows = []
    for context in contexts:
        for task in tasks:
            batch = samples_for(task, vocab, context, samples, seed)
            for method in methods:
                for budget in ([1.0] if method == "full" else budgets):
                    results = [run_sample(model, s, press_for(method, budget, context, chelsea, snapkv_window))
                               for s in batch]
                    rows.append({"method": method, "budget": budget, "context_tokens": context, "task": task,
                                 "accuracy": float(np.mean([ok for ok, _ in results])), "samples": samples,
                                 "cache_tokens": float(np.mean([k for _, k in results]))})
    return pd.DataFrame(rows)


def needle_grid(model, vocab: Vocab, *, methods: Sequence[str], budget: float, contexts: Iterable[int],
                depths: Sequence[float], samples: int, seed: int, chelsea: ChelseaSettings = ChelseaSettings(),
                snapkv_window: int = 16) -> pd.DataFrame:
    """Needle-in-a-haystack: one needle at each depth (0 = start, 1 = end) per context length and method."""
    rows = []
    for context in contexts:
        for depth in depths:
            rng = np.random.default_rng([seed, context, int(round(depth * 1000))])
            batch = [make_sample("recall", rng, vocab, context, n_pairs=1, depth=depth) for _ in range(samples)]
            for method in methods:
                b = 1.0 if method == "full" else budget
                ok = [run_sample(model, s, press_for(method, b, context, chelsea, snapkv_window))[0] for s in batch]
                rows.append({"method": method, "budget": b, "context_tokens": context, "depth": depth,
                             "accuracy": float(np.mean(ok)), "samples": samples})
    return pd.DataFrame(rows)


def key_similarity(model, vocab: Vocab, *, context: int, samples: int, seed: int, max_distance: int) -> pd.DataFrame:
    """Mean cosine similarity of cached (post-RoPE) keys vs token distance, per layer (Chelsea's Observation 2)."""
    from transformers import DynamicCache

    from methods.kvcache.tasks import haystack

    rng = np.random.default_rng(seed)
    rows = []
    sums = np.zeros((len(model.model.layers), max_distance))
    for _ in range(samples):
        cache = DynamicCache()
        ids = torch.tensor([[vocab.BOS] + haystack(rng, vocab, context - 1)])
        with torch.no_grad():
            model(ids, past_key_values=cache)
        for layer in range(len(model.model.layers)):
            keys = torch.nn.functional.normalize(cache.layers[layer].keys[0], dim=-1)  # (heads, length, d)
            sim = keys @ keys.transpose(-1, -2)
            for d in range(1, max_distance + 1):
                sums[layer, d - 1] += float(torch.diagonal(sim, offset=d, dim1=-2, dim2=-1).mean())
    for layer in range(sums.shape[0]):
        for d in range(1, max_distance + 1):
            rows.append({"layer": layer, "distance": d, "cosine": sums[layer, d - 1] / samples})
    return pd.DataFrame(rows)
