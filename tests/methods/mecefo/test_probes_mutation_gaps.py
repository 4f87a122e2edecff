"""Mutation-audit gaps in MeCeFO's synthetic downstream probes (methods/mecefo/probes.py, Tables 4-5 stand-ins).

- likelihood scoring by hand with a fake model that predicts "the same character again": a choice's score is its
  mean log-probability per character, accuracy counts right > wrong (ties and reversed items count as wrong);
- `last_hidden` reads each padded sequence's last real character (the head on it gives the model's own logits of
  that text alone);
- the fine-tuning chance level is the majority class's share of the test items;
- item construction: a word swap may hit the last pair, a misspelling never moves a word's first or last letter,
  the verb-phrase label is 1 exactly for an adverb (prepositional phrases included in the items);
- progress units of `evaluate_probes`.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import torch
from torch import nn

from methods.data.corpus import CharTokenizer, make_corpus
from methods.mecefo import probes as p
from methods.models.gpt import TinyLlama

TOKENIZER = CharTokenizer.from_text(make_corpus(2000, 0))
HIT = 10.0  # the fake model's logit for "the same character again"; 0 for every other character


class _Repeat(nn.Module):
    """Logits HIT at the input character's own id, 0 elsewhere."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return HIT * nn.functional.one_hot(tokens, TOKENIZER.vocab_size).float()


def test_choice_scores_and_zero_shot_accuracy_by_hand():
    v = TOKENIZER.vocab_size
    hit, miss = HIT - math.log(math.exp(HIT) + v - 1), -math.log(math.exp(HIT) + v - 1)
    scores = p.choice_scores(_Repeat(), TOKENIZER, [". a", ". a", ". bb"], ["aa", "ab", "b"])
    torch.testing.assert_close(scores, torch.tensor([hit, (hit + miss) / 2, hit]))
    items = [p.Choice(". a", "aa", "ab"), p.Choice(". b", "bb", "ba"), p.Choice(". a", "ab", "aa"),
             p.Choice(". a", "ab", "ab")]  # right, right, reversed, tie
    assert p.zero_shot_accuracy(_Repeat(), TOKENIZER, items) == 0.5


def test_last_hidden_is_the_last_real_character_of_each_padded_text():
    model = TinyLlama(TOKENIZER.vocab_size, 16, 1, 2, 24, 32, seed=0)
    texts = [". ada sends the node.", ". a node moves.", ". grace keeps ada twice."]
    tokens, lengths = p._padded(TOKENIZER, texts)
    with torch.no_grad():
        logits = model.lm_head(p.last_hidden(model, tokens, lengths))
        for row, text in enumerate(texts):
            alone = model(TOKENIZER.encode(text)[None])[0, -1]
            torch.testing.assert_close(logits[row], alone, rtol=1e-5, atol=1e-6)


def test_finetune_chance_is_the_majority_share_of_the_test_items():
    model = TinyLlama(TOKENIZER.vocab_size, 16, 1, 2, 24, 32, seed=0)
    settings = p.FinetuneSettings(train_items=8, test_items=40, steps=1, batch_size=4)
    accuracy, chance = p.finetune_accuracy(model, TOKENIZER, "subject", settings, 32, seed=3)
    rng = np.random.default_rng([3, 0xF17E])  # the items finetune_accuracy draws: train first, then test
    p.classification_items("subject", 8, 32, rng)
    _, test_labels = p.classification_items("subject", 40, 32, rng)
    counts = Counter(test_labels)
    assert len(counts) == 3 and len(set(counts.values())) > 1  # 3 classes, not equally frequent
    assert chance == max(counts.values()) / 40
    assert abs(accuracy * 40 - round(accuracy * 40)) < 1e-4  # a share of the 40 test items


def test_word_swaps_reach_the_last_pair_and_misspellings_keep_first_and_last_letters():
    swaps = {" ".join(p.swap_words("ada sends grace.".split(), np.random.default_rng(s))) for s in range(20)}
    assert swaps == {"sends ada grace.", "ada grace sends."}
    for s in range(20):
        assert p.misspell(["abcd."], np.random.default_rng(s)) == ["acbd."]
        word = p.misspell(["abcdef."], np.random.default_rng(s))[0]
        assert word[0] == "a" and word[5:] == "f." and sorted(word) == sorted("abcdef.")


def test_verb_phrase_label_is_one_for_adverbs_only():
    texts, labels = p.classification_items("verb_phrase", 120, 60, np.random.default_rng(1))
    kinds = [p.verb_phrase(t.split()[1:]) for t in texts]
    assert set(kinds) == {0, 1, 2}  # objects, adverbs and prepositional phrases all occur
    last = [p.CATEGORY[t.split()[-1].rstrip(".")] for t in texts]
    assert all((label == 1) == (cat == "Adv") for label, cat in zip(labels, last, strict=True))


def test_probe_units():
    assert p.probe_units(10, p.FinetuneSettings(steps=3)) == 4 + 4 * 3
    assert p.probe_units(0, p.FinetuneSettings(steps=3)) == 12 and p.probe_units(5, None) == 4
