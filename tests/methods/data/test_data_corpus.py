"""Synthetic grammar corpus: seeded, tokeniser round trip, per-worker batches shifted by one."""

from __future__ import annotations

import pytest
import torch

from methods.data.corpus import CharTokenizer, CorpusShards, make_corpus


def test_corpus_is_seeded_and_batches_are_next_token_pairs():
    text = make_corpus(300, seed=2)
    assert text == make_corpus(300, seed=2) and text != make_corpus(300, seed=3)
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    assert tok.decode(ids) == text and tok.vocab_size < 40
    shards = CorpusShards(ids, n_workers=2, seq_len=16, batch_size=4, seed=0)
    x, y = shards.batch(1, 3)
    assert x.shape == y.shape == (4, 16) and torch.equal(x[:, 1:], y[:, :-1])
    x2, _ = shards.batch(1, 3)
    assert torch.equal(x, x2)
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.encode("Z")
    with pytest.raises(ValueError, match="corpus too small"):
        CorpusShards(ids[:20], n_workers=2, seq_len=16, batch_size=1, seed=0)
