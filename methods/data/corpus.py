"""A seeded synthetic text corpus (a small probabilistic grammar) for a tiny character-level GPT.

Stands in for C4 in the ARC-Top-K Fig. 4 / GreedyLore Fig. 1 reductions: no download, any size, learnable
structure at several scales (spelling inside words, agreement-free grammar between words, sentence ends).
Grammar (weights in brackets):
    S  -> NP VP "."                 NP -> Det [Adj] Noun (0.7) | Name (0.3)
    VP -> Verb NP (0.5) | Verb Adv (0.2) | Verb NP Prep NP (0.3)
Each worker trains on its own contiguous slice of the token stream (`CorpusShards`).

Example::

    >>> text = make_corpus(n_sentences=3, seed=0)
    >>> text.count(".")
    3
    >>> tok = CharTokenizer.from_text(text)
    >>> tok.decode(tok.encode(text)) == text
    True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_WORDS = {
    "Det": ["the", "a", "every", "some", "this"],
    "Adj": ["small", "quiet", "green", "rapid", "old", "bright", "heavy", "calm"],
    "Noun": ["node", "river", "engine", "garden", "signal", "tower", "packet", "forest", "cable", "window"],
    "Name": ["ada", "linus", "grace", "alan", "barbara", "edsger"],
    "Verb": ["sends", "finds", "builds", "watches", "moves", "sorts", "reads", "keeps"],
    "Adv": ["slowly", "twice", "again", "quietly", "early"],
    "Prep": ["near", "under", "beside", "behind", "across"],
}
#: the grammar's words by category (public name for probes and fine-tuning tasks built on the same grammar)
WORDS = _WORDS


def _pick(rng: np.random.Generator, cat: str) -> str:
    words = _WORDS[cat]
    return words[int(rng.integers(len(words)))]


def _noun_phrase(rng: np.random.Generator) -> list[str]:
    if rng.random() < 0.3:
        return [_pick(rng, "Name")]
    out = [_pick(rng, "Det")]
    if rng.random() < 0.5:
        out.append(_pick(rng, "Adj"))
    return out + [_pick(rng, "Noun")]


def make_sentence(rng: np.random.Generator) -> str:
    """One sentence from the grammar, e.g. ``"the quiet node sends a packet near ada."``."""
    words = _noun_phrase(rng) + [_pick(rng, "Verb")]
    u = rng.random()
    if u < 0.5:
        words += _noun_phrase(rng)
    elif u < 0.7:
        words.append(_pick(rng, "Adv"))
    else:
        words += _noun_phrase(rng) + [_pick(rng, "Prep")] + _noun_phrase(rng)
    return " ".join(words) + "."


def make_corpus(n_sentences: int, seed: int) -> str:
    """``n_sentences`` sentences separated by single spaces (seeded)."""
    if int(n_sentences) < 1:
        raise ValueError(f"n_sentences: expected >= 1, got {n_sentences}")
    rng = np.random.default_rng([int(seed), 0xC0])
    return " ".join(make_sentence(rng) for _ in range(int(n_sentences)))


@dataclass(frozen=True)
class CharTokenizer:
    """Characters <-> integer ids (vocabulary = sorted characters of the corpus)."""

    chars: tuple[str, ...]

    @classmethod
    def from_text(cls, text: str) -> "CharTokenizer":
        return cls(tuple(sorted(set(text))))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> torch.Tensor:
        index = {c: i for i, c in enumerate(self.chars)}
        try:
            return torch.tensor([index[c] for c in text], dtype=torch.int64)
        except KeyError as exc:
            raise ValueError(f"character {exc.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: torch.Tensor) -> str:
        return "".join(self.chars[int(i)] for i in ids)


class CorpusShards:
    """Per-worker contiguous slices of a token stream and deterministic (input, target) batches.

    Args:
        tokens: 1-D int64 token ids.
        n_workers: workers; worker w trains on the w-th of ``n_workers`` equal slices.
        seq_len: context length.
        batch_size: sequences per worker batch.
        seed: batch seed (a batch depends only on (seed, worker, step)).

    A batch's windows start uniformly in ``[0, len(slice) - seq_len - 1)``: the slice's very last window is never
    drawn (a one-window bias, kept so that every committed training run keeps drawing the same batches).
    """

    def __init__(self, tokens: torch.Tensor, n_workers: int, seq_len: int, batch_size: int, seed: int):
        per = len(tokens) // int(n_workers)
        if per <= seq_len + 1:
            raise ValueError(f"corpus too small: {len(tokens)} tokens for {n_workers} workers of seq_len {seq_len}")
        self.slices = [tokens[w * per : (w + 1) * per] for w in range(int(n_workers))]
        self.seq_len, self.batch_size, self.seed = int(seq_len), int(batch_size), int(seed)

    def batch(self, worker: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        data = self.slices[worker]
        rng = np.random.default_rng([self.seed, int(worker), int(step), 0x7E47])
        starts = rng.integers(0, len(data) - self.seq_len - 1, size=self.batch_size)
        x = torch.stack([data[s : s + self.seq_len] for s in starts])
        y = torch.stack([data[s + 1 : s + 1 + self.seq_len] for s in starts])
        return x, y
