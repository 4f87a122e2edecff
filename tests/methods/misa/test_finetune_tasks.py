"""Synthetic fine-tuning tasks (methods/data/tasks_finetune.py): answers are right, the loss mask covers exactly
the answer, and the one-pass exact match equals greedy decoding."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.data import tasks_finetune as tf
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig


def _answer_is_right(ex: tf.Example) -> bool:
    value = ex.answer.removesuffix(".")
    p = ex.prompt
    if ex.task == "add":
        a, b = p.removesuffix("=").split("+")
        return int(value) == int(a) + int(b)
    if ex.task == "mod":
        inner, m = p.removesuffix("=").split("%")
        a, b = inner.strip("()").split("+")
        return int(value) == (int(a) + int(b)) % int(m)
    options = p.split("?")[1].removesuffix(":").split()
    if value not in options:
        return False
    if ex.task == "category":
        role = {"verb": "Verb", "noun": "Noun", "adjective": "Adj", "name": "Name"}[p.split("?")[0]]
        return value in tf.WORDS[role] and all(o not in tf.WORDS[role] for o in options if o != value)
    if ex.task == "larger":
        return int(value) == max(int(o) for o in options)
    if ex.task == "even":
        n = int(p.split()[1])
        return value == ("yes" if n % 2 == 0 else "no")
    if ex.task == "next":
        return int(value) == int(p.split("?")[0].split()[1]) + 1
    return False


@given(task=st.sampled_from(tf.TASKS), seed=st.integers(0, 2**32 - 1), digits=st.integers(1, 3))
@settings(max_examples=300, deadline=None)
def test_every_answer_is_right_and_encodable(task, seed, digits):
    ex = tf.make_example(task, np.random.default_rng(seed), digits)
    assert _answer_is_right(ex), ex
    assert len(tf.encode(ex.prompt + ex.answer)) <= 41  # the scenarios' seq_len 40 + 1


def test_wrong_answers_are_caught():
    """The checker above can fail."""
    assert not _answer_is_right(tf.Example("add", "3+4=", "8."))
    assert not _answer_is_right(tf.Example("larger", "larger? 12 40:", "12."))


def test_mask_covers_the_answer_characters_only():
    ex = tf.Example("add", "12+30=", "42.")
    batch = tf.encode_examples([ex], seq_len=12)
    chosen = batch.targets[0][batch.mask[0] > 0]
    assert "".join(tf.VOCAB[int(i)] for i in chosen) == "42."
    with pytest.raises(ValueError, match="longer than seq_len"):
        tf.encode_examples([ex], seq_len=5)
    with pytest.raises(ValueError, match="not in the task vocabulary"):
        tf.encode("A")


def _greedy(model: torch.nn.Module, prompt: str, n: int) -> str:
    ids = tf.encode(prompt)
    for _ in range(n):
        with torch.no_grad():
            ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return "".join(tf.VOCAB[i] for i in ids[len(prompt):])


def test_exact_match_equals_greedy_decoding():
    cfg = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=1, vocab_size=len(tf.VOCAB), max_seq_len=48)
    rng = np.random.default_rng(0)
    examples = [tf.make_example(t, rng, 1) for t in tf.TASKS for _ in range(4)]
    for seed in range(3):
        model = LlamaFamily(cfg, seed=seed)
        batch = tf.encode_examples(examples, seq_len=40)
        with torch.no_grad():
            scores = tf.exact_match(model(batch.tokens), batch)
        for ex, score in zip(examples, scores, strict=True):
            assert bool(score) == (_greedy(model, ex.prompt, len(ex.answer)) == ex.answer)
    # and on a model that copies the targets (logits one-hot on the right characters) everything matches
    batch = tf.encode_examples(examples, seq_len=40)
    perfect = torch.nn.functional.one_hot(batch.targets, len(tf.VOCAB)).float()
    assert tf.exact_match(perfect, batch).min() == 1.0
    wrong = perfect.clone()
    pos = int(batch.mask[0].nonzero()[0])
    wrong[0, pos] = torch.roll(wrong[0, pos], 1)
    assert tf.exact_match(wrong, batch)[0] == 0.0


def test_masked_loss_ignores_the_prompt():
    batch = tf.encode_examples([tf.Example("add", "1+1=", "2.")], seq_len=8)
    logits = torch.zeros(1, 8, len(tf.VOCAB))
    logits[0, :, 0] = 50.0  # confident and wrong everywhere ...
    for pos in batch.mask[0].nonzero().flatten():
        logits[0, pos, batch.targets[0, pos]] = 100.0  # ... except on the answer
    assert float(tf.masked_loss(logits, batch)) < 1e-6


def test_pretraining_text_has_sentences_and_counting():
    text = tf.pretraining_text(200, seed=0)
    assert any(c.isdigit() for c in text)
    assert any(word in text for word in tf.WORDS["Verb"])
    tf.encode(text)  # every character is in the vocabulary
    assert tf.pretraining_text(200, seed=0) == text != tf.pretraining_text(200, seed=1)
