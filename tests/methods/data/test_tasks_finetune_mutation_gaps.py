"""Gaps in the tests of `tasks_finetune` found by a mutation audit.

- `pretraining_text`: items are grammar sentences or runs of 3 to 5 consecutive numbers starting below 95, each
  ending in a full stop, joined by single spaces; the counting share (about 0.3 by default, none at 0, all at 1);
  the sentences drawn from the seeded generator, not a fixed one;
- `make_example`: every answer ends in a full stop; the options are shuffled (the right one at every position);
  the operands cover ``0 .. 10**digits - 1`` and the moduli 2 .. 9; every role is asked and the two wrong words
  come from two different other roles; ``larger``, ``even`` and ``next`` draw from their whole ranges and
  ``next`` offers n - 1, n + 1 and n + 2; an unknown task is refused;
- `encode_examples`: the tokens, targets and mask of a hand-built example, at and one past the length limit;
- `sample_batch`: every task drawn, ``digits`` passed on, ``tasks`` in the examples' order;
- `masked_loss`: the mean over the answer characters only (a hand value); `exact_match`: one wrong answer
  character fails an example, a wrong prompt or padding character does not.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from methods.data import tasks_finetune as tf

ALL_WORDS = {w for words in tf.WORDS.values() for w in words}
ROLE_OF = {w: role for role, words in tf.WORDS.items() for w in words}


def _items(text: str) -> list[list[str]]:
    """The text's items (split at the full stops that end them), each as its words."""
    assert text.endswith(".") and not text.startswith(" ")
    items = text[:-1].split(". ")
    return [item.split(" ") for item in items]


def _examples(task: str, n: int, digits: int = 2, seed: int = 0) -> list[tf.Example]:
    rng = np.random.default_rng(seed)
    return [tf.make_example(task, rng, digits) for _ in range(n)]


def _options(ex: tf.Example) -> list[str]:
    return ex.prompt.split("?")[1].removesuffix(":").split()


def test_pretraining_items_are_sentences_or_runs_of_consecutive_numbers_in_the_default_share():
    items = _items(tf.pretraining_text(400, seed=3))
    assert len(items) == 400
    counting = [item for item in items if item[0].isdigit()]
    for item in counting:
        numbers = [int(w) for w in item]
        assert 3 <= len(numbers) <= 5 and 0 <= numbers[0] <= 94
        assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert {len(item) for item in counting} == {3, 4, 5}
    assert max(int(item[0]) for item in counting) >= 80  # starts drawn from 0 .. 94, not a narrow range
    sentences = [item for item in items if not item[0].isdigit()]
    assert all(w in ALL_WORDS for item in sentences for w in item)
    assert len({" ".join(item) for item in sentences}) > 100  # drawn from the seeded generator, not repeated
    assert len(counting) / len(items) == pytest.approx(0.3, abs=0.08)  # 0.3 +- 3.5 standard deviations


def test_pretraining_counting_share_at_its_ends():
    assert not any(c.isdigit() for c in tf.pretraining_text(50, seed=1, counting_share=0.0))
    assert all(item[0].isdigit() for item in _items(tf.pretraining_text(50, seed=1, counting_share=1.0)))


@pytest.mark.parametrize("task", tf.TASKS)
def test_every_answer_ends_in_one_full_stop(task):
    for ex in _examples(task, 50):
        assert ex.answer.endswith(".") and ex.answer.count(".") == 1, ex


@pytest.mark.parametrize("task, n_options", [("category", 3), ("larger", 2), ("even", 2), ("next", 3)])
def test_the_right_option_appears_at_every_position(task, n_options):
    positions = set()
    for ex in _examples(task, 200):
        options = _options(ex)
        assert len(options) == n_options
        positions.add(options.index(ex.answer.removesuffix(".")))
    assert positions == set(range(n_options))


@pytest.mark.parametrize("digits", [1, 2])
def test_operands_cover_the_whole_digit_range_and_the_moduli_two_to_nine(digits):
    top = 10**digits
    a, b = zip(*(map(int, ex.prompt.removesuffix("=").split("+")) for ex in _examples("add", 600, digits)), strict=True)
    assert (min(a), max(a), min(b), max(b)) == (0, top - 1, 0, top - 1)
    moduli = set()
    for ex in _examples("mod", 600, digits):
        inner, m = ex.prompt.removesuffix("=").split("%")
        x, y = map(int, inner.strip("()").split("+"))
        assert max(x, y) < top
        moduli.add(int(m))
    assert moduli == set(range(2, 10))


def test_category_asks_every_role_with_wrong_words_from_two_different_other_roles():
    roles = {"verb": "Verb", "noun": "Noun", "adjective": "Adj", "name": "Name"}
    asked, wrong_roles = set(), set()
    for ex in _examples("category", 300):
        role = roles[ex.prompt.split("?")[0]]
        options = _options(ex)
        option_roles = [ROLE_OF[w] for w in options]
        assert len(set(option_roles)) == 3 and ROLE_OF[ex.answer.removesuffix(".")] == role
        assert role in option_roles and set(option_roles) <= set(roles.values())
        asked.add(role)
        wrong_roles.update((role, r) for r in option_roles if r != role)
    assert asked == set(roles.values())
    assert len(wrong_roles) == 12  # every other role appears as a wrong option of every role


def test_larger_even_and_next_draw_from_their_whole_ranges():
    pairs = [tuple(map(int, _options(ex))) for ex in _examples("larger", 400)]
    assert all(a != b for a, b in pairs)
    assert min(min(p) for p in pairs) <= 5 and max(max(p) for p in pairs) >= 95
    evens = [int(ex.prompt.split()[1]) for ex in _examples("even", 400)]
    assert min(evens) <= 3 and max(evens) >= 96 and max(evens) <= 99
    nexts = []
    for ex in _examples("next", 2000):
        n = int(ex.prompt.split("?")[0].split()[1])
        assert sorted(map(int, _options(ex))) == [n - 1, n + 1, n + 2] and ex.answer == f"{n + 1}."
        nexts.append(n)
    assert (min(nexts), max(nexts)) == (1, 97)


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task 'sum'; known: add, mod, category"):
        tf.make_example("sum", np.random.default_rng(0))


def test_encode_examples_by_hand_at_and_one_past_the_length_limit():
    ex = tf.Example("add", "1+2=", "3.")  # six characters: fits seq_len 5 exactly
    batch = tf.encode_examples([ex, tf.Example("even", "ab", "c.")], seq_len=5)
    assert batch.tokens[0].tolist() == [tf.VOCAB.index(c) for c in "1+2=3"]
    assert batch.targets[0].tolist() == [tf.VOCAB.index(c) for c in "+2=3."]
    assert batch.mask.tolist() == [[0.0, 0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 0.0, 0.0]]
    assert batch.targets[1].tolist()[2:] == [tf.VOCAB.index("."), 0, 0]  # space padded
    assert batch.tasks == ("add", "even")
    with pytest.raises(ValueError, match="longer than seq_len"):
        tf.encode_examples([ex], seq_len=4)


def test_sample_batch_draws_every_task_with_the_given_digits():
    batch = tf.sample_batch(("add", "even", "next"), 120, seq_len=30, rng=np.random.default_rng(5), digits=1)
    assert set(batch.tasks) == {"add", "even", "next"}
    for row, task in zip(batch.tokens, batch.tasks, strict=True):
        text = "".join(tf.VOCAB[int(i)] for i in row)
        if task == "add":
            a, b = text.split("=")[0].split("+")
            assert len(a) == 1 and len(b) == 1
        else:
            assert text.startswith("is" if task == "even" else "after")


def test_masked_loss_is_the_mean_over_the_answer_characters_only():
    batch = tf.encode_examples([tf.Example("add", "1+2=", "3.")], seq_len=5)
    logits = torch.zeros(1, 5, len(tf.VOCAB))
    for pos in range(3):  # the prompt positions are predicted with certainty: loss 0 there
        logits[0, pos, batch.targets[0, pos]] = 100.0
    # uniform logits on the two answer characters: each costs log(V)
    assert float(tf.masked_loss(logits, batch)) == pytest.approx(math.log(len(tf.VOCAB)), rel=1e-6)


def test_exact_match_counts_wrong_answer_characters_only():
    batch = tf.encode_examples([tf.Example("add", "1+2=", "3.")] * 3, seq_len=7)
    logits = torch.nn.functional.one_hot(batch.targets, len(tf.VOCAB)).float()
    logits[1, 4] = torch.roll(logits[1, 4], 1)  # the answer's full stop wrong
    logits[2, 0] = torch.roll(logits[2, 0], 1)  # a prompt character wrong ...
    logits[2, 6] = torch.roll(logits[2, 6], 1)  # ... and a padding character wrong: not scored
    assert tf.exact_match(logits, batch).tolist() == [1.0, 0.0, 1.0]
