"""Gaps in the tests of the offline data (`methods.data.sharding`, `digits`, `corpus`, `synthetic`) found by a
mutation audit, closed here.

Survivors the existing tests let through: as many workers as samples refused, i.i.d. shards unsorted, a zero
Dirichlet alpha accepted or alpha ignored, a class cut at the wrong cumulative proportions, batches drawn with
replacement when they fit or not seeded by the worker; digits not standardised per feature with train statistics,
the test set left raw, a split that is not stratified, an image view transposed; the grammar's probabilities
(names, adjectives, the three verb phrases), sentence ends and separators, every word reachable, the vocabulary
order, a batch start past the end of a slice, the corpus-size edge, batches not seeded by the worker; the
synthetic objectives' group signs, worker slices and batch sampling. Expected values are worked out by hand or
tested statistically with stated seeds and tolerances.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from methods.data.corpus import WORDS, CharTokenizer, CorpusShards, make_corpus
from methods.data.sharding import batch_indices, shard_indices

# --------------------------------------------------------------------------------------------- sharding


def test_one_sample_per_worker_and_sorted_iid_shards():
    shards = shard_indices(np.zeros(5), 5, seed=0)
    assert sorted(s.tolist() for s in shards) == [[0], [1], [2], [3], [4]]
    for shard in shard_indices(np.zeros(100), 3, seed=1):
        assert shard.tolist() == sorted(shard.tolist())
    with pytest.raises(ValueError, match="dirichlet_alpha"):
        shard_indices(np.zeros(10), 2, 0, dirichlet_alpha=0.0)
    with pytest.raises(ValueError, match="n_workers: expected 1..3"):
        shard_indices(np.zeros(3), 0, seed=0)


def _spread(labels: np.ndarray, shards: list[np.ndarray]) -> float:
    """Mean total-variation distance of the workers' label histograms to the uniform one (10 classes)."""
    hists = [np.bincount(labels[s], minlength=10) / len(s) for s in shards]
    return float(np.mean([0.5 * np.abs(h - 0.1).sum() for h in hists]))


def test_dirichlet_alpha_sets_the_label_skew():
    """10 classes x 100 samples, 4 workers (seed 0): alpha 100 gives nearly the global mix on every worker, alpha
    0.01 nearly one class per worker."""
    labels = np.repeat(np.arange(10), 100)
    assert _spread(labels, shard_indices(labels, 4, 0, dirichlet_alpha=100.0)) < 0.1
    assert _spread(labels, shard_indices(labels, 4, 0, dirichlet_alpha=0.01)) > 0.5


def test_a_huge_alpha_splits_every_class_evenly_among_the_workers():
    """Dirichlet(1e6) proportions are 1/4 each to within about 0.001, so each worker holds 25 +- 1 of every class's
    100 samples (a split at the wrong cumulative proportions gives one worker 50 and another none)."""
    labels = np.repeat(np.arange(10), 100)
    shards = shard_indices(labels, 4, seed=2, dirichlet_alpha=1e6)
    counts = np.array([np.bincount(labels[s], minlength=10) for s in shards])
    assert counts.min() >= 24 and counts.max() <= 26
    assert sorted(np.concatenate(shards).tolist()) == list(range(1000))


def test_a_batch_as_large_as_the_shard_is_a_permutation_and_workers_draw_differently():
    shard = np.arange(100, 150)
    full = batch_indices(shard, 0, 0, 50, seed=0)
    assert sorted(full.tolist()) == shard.tolist()
    assert len(batch_indices(shard, 0, 0, 60, seed=0)) == 60  # more than it holds: with replacement
    assert not np.array_equal(batch_indices(shard, 0, 7, 8, seed=3), batch_indices(shard, 1, 7, 8, seed=3))


# --------------------------------------------------------------------------------------------- digits


@pytest.fixture(scope="module")
def digits():
    from methods.data.digits import load_digits_split

    return load_digits_split(test_fraction=0.25, seed=0)


def test_digits_are_standardised_per_feature_with_train_statistics(digits):
    x = digits.x_train
    std = x.std(dim=0, unbiased=False)
    varying = std > 0.5  # features constant in the train set (e.g. the corner pixels) stay 0
    assert varying.sum() >= 55
    torch.testing.assert_close(x.mean(dim=0), torch.zeros(64), atol=1e-5, rtol=0)
    torch.testing.assert_close(std[varying], torch.ones(int(varying.sum())), atol=1e-3, rtol=0)
    assert digits.x_test.mean().abs() < 0.1 and 0.8 < digits.x_test.std() < 1.2  # the same transform


def test_a_pixel_constant_in_the_train_split_is_only_centred(digits):
    """Seed 0: pixels 0, 24, 32 and 39 are 0 in every train image; pixel 24 is lit (1 of 16) in two test images.
    Dividing by the 1e-6 guard made those test values 1,000,000 (test cross-entropy of a trained MLP 560 instead of
    0.17); they stay raw pixel values (0..16), and train values stay 0."""
    constant = (digits.x_train.std(dim=0) == 0).nonzero().flatten().tolist()
    assert constant == [0, 24, 32, 39]
    assert digits.x_train[:, constant].abs().max() == 0
    lit = digits.x_test[:, 24]
    assert sorted(lit[lit != 0].tolist()) == [1.0, 1.0]
    assert digits.x_test.abs().max() < 100


def test_digits_split_is_stratified(digits):
    """Each class's test count is within 1 of a quarter of its total (a random split misses by several)."""
    train = torch.bincount(digits.y_train, minlength=10)
    test = torch.bincount(digits.y_test, minlength=10)
    assert ((test - 0.25 * (train + test)).abs() <= 1).all(), test.tolist()


def test_digit_images_are_row_major_and_shards_own_their_batches(digits):
    from methods.data.digits import DigitsShards, load_digits_split

    images = digits.images(digits.x_train[:2])
    assert torch.equal(images[1, 0, 2, 5], digits.x_train[1, 2 * 8 + 5])
    assert torch.equal(images[0, 0, 7, 0], digits.x_train[0, 56])
    shards = DigitsShards(digits, n_workers=3, batch_size=16, seed=1)
    for worker in range(3):
        x, _ = shards.batch(worker, 4)
        rows = {tuple(r.tolist()) for r in digits.x_train[torch.from_numpy(shards.shards[worker])]}
        assert all(tuple(r.tolist()) in rows for r in x)
        # the same rows `batch_indices` picks for this worker (seeded by seed, worker, step), in the same order
        own = batch_indices(shards.shards[worker], worker, 4, 16, seed=1)
        assert torch.equal(x, digits.x_train[torch.from_numpy(own)])
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits_split(test_fraction=0.0)


# --------------------------------------------------------------------------------------------- corpus
CATEGORY = {word: cat for cat, words in WORDS.items() for word in words}


def _parse(sentence: str) -> tuple[bool, list[bool], str]:
    """(subject is a name, per noun phrase: has an adjective, verb phrase kind) of one grammar sentence."""
    cats = [CATEGORY[w] for w in sentence.split()]
    adjs, i, phrases = [], 0, []

    def noun_phrase() -> None:
        nonlocal i
        if cats[i] == "Name":
            phrases.append("Name")
            i += 1
            return
        assert cats[i] == "Det"
        has_adj = cats[i + 1] == "Adj"
        adjs.append(has_adj)
        assert cats[i + 1 + has_adj] == "Noun"
        phrases.append("Det")
        i += 2 + has_adj

    noun_phrase()
    assert cats[i] == "Verb"
    i += 1
    if cats[i] == "Adv":
        kind, i = "adv", i + 1
    else:
        noun_phrase()
        kind = "np"
        if i < len(cats):
            assert cats[i] == "Prep"
            i += 1
            noun_phrase()
            kind = "np_prep_np"
    assert i == len(cats)
    return phrases[0] == "Name", adjs, kind


def test_grammar_probabilities():
    """4,000 sentences (seed 5) parsed back into the grammar: a name subject 0.3, an adjective in a determiner
    phrase 0.5, verb phrases NP / Adv / NP Prep NP 0.5 / 0.2 / 0.3, each within 5 binomial standard errors."""
    n = 4000
    text = make_corpus(n, seed=5)
    assert text.endswith(".") and text.count(".") == n
    sentences = text[:-1].split(". ")
    assert len(sentences) == n
    parsed = [_parse(s) for s in sentences]

    def close(successes: int, trials: int, p: float) -> bool:
        return abs(successes / trials - p) <= 5 * math.sqrt(p * (1 - p) / trials)

    assert close(sum(name for name, _, _ in parsed), n, 0.3)
    adjs = [a for _, per_np, _ in parsed for a in per_np]
    assert close(sum(adjs), len(adjs), 0.5)
    kinds = [kind for _, _, kind in parsed]
    for kind, p in (("np", 0.5), ("adv", 0.2), ("np_prep_np", 0.3)):
        assert close(kinds.count(kind), n, p), kind
    used = set(text[:-1].replace(".", "").split())
    assert used == set(CATEGORY)  # every word of every category is drawn, the last ones too
    with pytest.raises(ValueError, match="n_sentences"):
        make_corpus(0, seed=0)


def test_tokenizer_ids_follow_sorted_characters():
    tok = CharTokenizer.from_text("cab. a")
    assert tok.chars == (" ", ".", "a", "b", "c")
    assert tok.encode("abc").tolist() == [2, 3, 4]


def test_corpus_shards_slices_and_batch_edges():
    tokens = torch.arange(20)
    shards = CorpusShards(tokens, n_workers=2, seq_len=7, batch_size=64, seed=0)  # slices of 10 = seq_len + 3
    assert [s.tolist() for s in shards.slices] == [list(range(10)), list(range(10, 20))]
    for step in range(5):
        x, y = shards.batch(1, step)
        assert x.shape == y.shape == (64, 7) and torch.equal(y, x + 1) and int(y.max()) <= 19
    with pytest.raises(ValueError, match="corpus too small"):
        CorpusShards(torch.arange(16), n_workers=2, seq_len=7, batch_size=1, seed=0)  # slices of 8 = seq_len + 1


def test_corpus_batches_depend_on_the_worker():
    """Two workers with identical slices still draw different batches at the same step."""
    shards = CorpusShards(torch.arange(100).repeat(2), n_workers=2, seq_len=8, batch_size=4, seed=0)
    assert not torch.equal(shards.batch(0, 3)[0], shards.batch(1, 3)[0])


# --------------------------------------------------------------------------------------------- synthetic


def test_robust_shifted_groups_have_opposite_signs_and_a_signal_block():
    """4 workers: workers 0-1 shift +100 with coupling +5, workers 2-3 -100 and -5. At x = 0 worker 0's gradient on
    a noise block is (0 - 100) / C and on the signal block -1 + 5 x 100 = 499 per coordinate."""
    from methods.data.synthetic import RobustShiftedObjective

    obj = RobustShiftedObjective(n_workers=4, blocks=20, block_size=3, noise_blocks=12, noise_std=0.0)
    assert obj.signal_block == 12
    x = torch.zeros(obj.shape, dtype=torch.float64)
    g0, g3 = obj.gradient(0, x, 0), obj.gradient(3, x, 0)
    torch.testing.assert_close(g0[:12], torch.full((12, 3), -100 / 12, dtype=torch.float64))
    torch.testing.assert_close(g0[12], torch.full((3,), 499.0, dtype=torch.float64))
    torch.testing.assert_close(g3[:12], torch.full((12, 3), 100 / 12, dtype=torch.float64))
    assert g0[13:].abs().max() == 0
    with pytest.raises(ValueError, match="noise_blocks"):
        RobustShiftedObjective(blocks=20, noise_blocks=20)


def test_heterogeneous_logistic_batches_come_from_the_workers_own_slice():
    from methods.data.synthetic import HeterogeneousLogistic

    prob = HeterogeneousLogistic(n_samples=1200, n_workers=4, batch_size=300, seed=0)
    x = torch.zeros(prob.shape, dtype=torch.float64)
    # at w = 0 the logistic gradient is -mean(h y) / 2 over the batch; a batch of the whole slice (300 of 300,
    # without replacement) gives the slice's mean exactly
    for worker in range(4):
        rows = slice(300 * worker, 300 * (worker + 1))
        expected = -(prob.features[rows] * prob.labels[rows, None]).mean(0) / 2
        torch.testing.assert_close(prob.gradient(worker, x, 0).reshape(-1), expected)
