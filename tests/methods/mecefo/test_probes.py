"""The synthetic downstream probes (methods/mecefo/probes.py): items are built as described (the wrong choice
differs from the right one in the stated way, labels match the grammar's structure, everything fits the context),
likelihood scoring with padding equals scoring each text alone, and fine-tuning is deterministic and learns."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from methods.data.corpus import CharTokenizer, make_corpus
from methods.mecefo import probes as p
from methods.models.gpt import TinyLlama

TOKENIZER = CharTokenizer.from_text(make_corpus(2000, 0))


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("task", p.ZERO_SHOT_TASKS)
def test_zero_shot_items_fit_and_differ_as_stated(task):
    items = p.zero_shot_items(task, 50, 33, _rng())
    assert len(items) == 50
    for item in items:
        assert item.context.startswith(p.BOUNDARY) and item.right != item.wrong
        assert len(item.context) + max(len(item.right), len(item.wrong)) <= 33
        if task in ("word_order", "spelling"):
            assert Counter(item.right) == Counter(item.wrong)  # a permutation: same length, same characters
        if task == "spelling":
            diff = [i for i, (a, b) in enumerate(zip(item.right, item.wrong, strict=True)) if a != b]
            assert len(diff) == 2 and diff[1] == diff[0] + 1
        if task == "word_order":
            assert sorted(item.right.rstrip(".").split()) == sorted(item.wrong.rstrip(".").split())
        if task == "verb_slot":
            assert p.CATEGORY[item.right] == "Verb" and p.CATEGORY[item.wrong] == "Noun"
        if task == "one_adjective":
            assert p.CATEGORY[item.right] == "Noun" and p.CATEGORY[item.wrong] == "Adj"


def test_structure_labels():
    assert p.subject_length("ada sends the node.".split()) == 1
    assert p.subject_length("the old river keeps ada.".split()) == 3
    assert p.verb_phrase("ada sends the node.".split()) == 0
    assert p.verb_phrase("a node moves slowly.".split()) == 1
    assert p.verb_phrase("ada sends grace near the tower.".split()) == 2
    texts, labels = p.classification_items("verb_phrase", 80, 32, _rng(1))
    assert len(texts) == 80 and max(len(t) for t in texts) <= 32 and set(labels) == {0, 1}
    last_word = [p.CATEGORY[t.split()[-1].rstrip(".")] for t in texts]
    assert all((label == 1) == (cat == "Adv") for cat, label in zip(last_word, labels, strict=True))
    texts, labels = p.classification_items("subject", 80, 32, _rng(1))
    assert set(labels) == {0, 1, 2}
    assert all(p.subject_length(t.split()[1:]) == label + 1 for t, label in zip(texts, labels, strict=True))


def test_padded_scoring_equals_scoring_each_text_alone():
    model = TinyLlama(TOKENIZER.vocab_size, 16, 1, 2, 24, 32, seed=0)
    items = p.zero_shot_items("verb_slot", 6, 33, _rng(2))
    scores = p.choice_scores(model, TOKENIZER, [i.context for i in items], [i.wrong for i in items])
    for item, score in zip(items, scores, strict=True):
        ids = TOKENIZER.encode(item.context + item.wrong)
        with torch.no_grad():
            logp = model(ids[None, :-1]).log_softmax(-1)[0]
        start = len(item.context) - 1
        alone = logp[torch.arange(start, len(ids) - 1), ids[start + 1:]].mean()
        torch.testing.assert_close(score, alone, rtol=1e-5, atol=1e-6)


def test_finetuning_is_deterministic_and_learns_an_easy_probe():
    model = TinyLlama(TOKENIZER.vocab_size, 16, 1, 2, 24, 32, seed=0)
    settings = p.FinetuneSettings(train_items=128, test_items=128, steps=40, batch_size=16, lr=1e-2)
    first = p.finetune_accuracy(model, TOKENIZER, "subject", settings, 32, seed=4)
    assert first == p.finetune_accuracy(model, TOKENIZER, "subject", settings, 32, seed=4)
    accuracy, chance = first
    assert accuracy > chance + 0.1  # the subject's length is visible in its first characters


def test_evaluate_probes_reports_every_probe_and_leaves_the_model_untouched():
    model = TinyLlama(TOKENIZER.vocab_size, 16, 1, 2, 24, 32, seed=0)
    before = [q.clone() for q in model.parameters()]
    out = p.evaluate_probes(model, TOKENIZER, zero_shot_items_per_task=10,
                            finetune=p.FinetuneSettings(train_items=32, test_items=16, steps=2), seed=0)
    assert set(out["zero_shot"]) == set(p.ZERO_SHOT_TASKS) and set(out["finetune"]) == set(p.FINETUNE_TASKS)
    assert all(0 <= v <= 1 for part in out.values() for v in part.values())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
