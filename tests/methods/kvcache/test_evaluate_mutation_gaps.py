"""Gaps found by a mutation audit of methods/kvcache/evaluate.py, tasks.py and baselines.py: the teacher-forced
decoding path (tokens fed, positions, which predictions are scored), the key-similarity profile against a
pair-by-pair reference, the needle grid's depths and budgets, the loss weights, the haystack's Markov chain and
the baseline presses' kvpress classes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("kvpress", reason="the kv extra is not installed")

from methods.kvcache import evaluate as ev  # noqa: E402
from methods.kvcache.tasks import (  # noqa: E402
    TEXT_WEIGHT,
    Sample,
    TinyModelConfig,
    _loss,
    _successors,
    build_model,
    haystack,
    make_sample,
    text_loss,
)
from tests.methods.kvcache.test_tasks import TINY, VOCAB  # noqa: E402  (the same tiny model and vocabulary)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(TINY).eval()


def _greedy_answer(model, prefix: list[int], n: int) -> list[int]:
    """The model's own argmax continuation of ``prefix``, one full forward pass (no cache) per token."""
    ids = list(prefix)
    with torch.no_grad():
        for _ in range(n):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    return ids[len(prefix):]


def test_run_sample_scores_every_answer_token_and_only_those(model):
    base = make_sample("copy", np.random.default_rng(7), VOCAB, 48)
    answer = _greedy_answer(model, base.context + base.question, 4)
    right = Sample("copy", base.context, base.question, answer)
    assert ev.run_sample(model, right, None) == (True, 48)
    for i in range(len(answer)):  # a wrong token anywhere in the answer makes the sample wrong
        fed = answer[:i] + [(answer[i] + 1) % VOCAB.size]
        # teacher forcing: the tokens before i are the right ones, so only token i can be wrong
        assert ev.run_sample(model, Sample("copy", base.context, base.question, fed), None)[0] is False


def test_run_sample_feeds_question_then_answer_at_the_positions_after_the_context(model):
    s = Sample("recall", make_sample("recall", np.random.default_rng(3), VOCAB, 40).context, [3, 10, 11], [12, 13])
    seen = []

    def record(_module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        positions = kwargs.get("position_ids")
        seen.append((ids[0].tolist(), None if positions is None else positions[0].tolist()))

    handle = model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        ev.run_sample(model, s, None)
    finally:
        handle.remove()
    assert seen[0][0] == s.context
    fed = [ids[0] for ids, _ in seen[1:]]
    assert fed == [3, 10, 11, 12]  # question, then every answer token but the last (teacher forcing)
    assert [pos for _, pos in seen[1:]] == [[40], [41], [42], [43]]


def test_key_similarity_equals_a_pair_by_pair_reference(model):
    from transformers import DynamicCache

    context, samples, dmax = 24, 2, 3
    got = ev.key_similarity(model, VOCAB, context=context, samples=samples, seed=5, max_distance=dmax)
    rng = np.random.default_rng(5)
    want = np.zeros((2, dmax))
    for _ in range(samples):
        cache = DynamicCache()
        with torch.no_grad():
            model(torch.tensor([[VOCAB.BOS] + haystack(rng, VOCAB, context - 1)]), past_key_values=cache)
        for layer in range(2):
            keys = cache.layers[layer].keys[0].double()  # (heads, length, d)
            for d in range(1, dmax + 1):
                pairs = [float(torch.cosine_similarity(keys[h, i], keys[h, i + d], dim=0))
                         for h in range(keys.shape[0]) for i in range(context - d)]
                want[layer, d - 1] += sum(pairs) / len(pairs) / samples
    table = got.set_index(["layer", "distance"])["cosine"]
    for layer in range(2):
        for d in range(1, dmax + 1):
            assert table[(layer, d)] == pytest.approx(want[layer, d - 1], abs=1e-5)


def test_needle_grid_places_the_needle_at_each_depth_and_full_runs_at_budget_one(monkeypatch):
    calls = []

    def fake_run_sample(_model, sample, press):
        calls.append((sample, press))
        return True, 0

    monkeypatch.setattr(ev, "run_sample", fake_run_sample)
    grid = ev.needle_grid(None, VOCAB, methods=["full", "chelsea"], budget=0.5, contexts=[100],
                          depths=[0.0, 1.0], samples=1, seed=0)
    assert grid.set_index(["method", "depth"])["budget"].to_dict() == {
        ("full", 0.0): 1.0, ("chelsea", 0.0): 0.5, ("full", 1.0): 1.0, ("chelsea", 1.0): 0.5}
    for sample, press in calls:
        assert sample.context.count(VOCAB.NEEDLE) == 1
    needles = [s.context.index(VOCAB.NEEDLE) for s, _ in calls]
    assert needles[0] == 1 and needles[2] == 100 - 3  # depth 0: right after BOS; depth 1: the last three tokens
    assert calls[0][1] is None and calls[1][1].budget == 0.5


def test_press_for_maps_the_budget_and_settings_onto_each_press():
    settings = ev.ChelseaSettings(sink_tokens=3, recent_tokens=5, chunk_size=8, buffer_tokens=2,
                                  outlier_heads=((1, 0),))
    chelsea = ev.press_for("chelsea", 0.3, 128, settings)
    assert (chelsea.budget, chelsea.sink_tokens, chelsea.recent_tokens, chelsea.chunk_size,
            chelsea.buffer_tokens, chelsea.outlier_heads) == (0.3, 3, 5, 8, 2, ((1, 0),))
    cam = ev.press_for("cam", 0.25, 128, settings)
    assert (cam.target_size, cam.compression_interval) == (32, 1)
    assert ev.press_for("snapkv", 0.25, 128, settings, snapkv_window=7).window_size == 7
    assert ev.press_for("merging", 0.25, 128, settings, snapkv_window=7).press.window_size == 7
    assert ev.press_for("full", 0.25, 128, settings) is None


def test_baselines_are_the_named_kvpress_methods_removing_one_minus_budget():
    from kvpress import (CAMPress, MergingPress, ObservedAttentionPress, SnapKVPress, StreamingLLMPress,
                         TOVAPress)

    from methods.kvcache.baselines import make_press

    expected = {"streaming_llm": StreamingLLMPress, "snapkv": SnapKVPress, "h2o": ObservedAttentionPress}
    for name, cls in expected.items():
        press = make_press(name, 0.25)
        assert type(press) is cls and press.compression_ratio == pytest.approx(0.75)
    merging = make_press("merging", 0.25)
    assert type(merging) is MergingPress and type(merging.press) is SnapKVPress
    assert merging.press.compression_ratio == pytest.approx(0.75)
    cam = make_press("cam", 0.25, target_size=10, compression_interval=3)
    assert type(cam) is CAMPress and type(cam.base_press) is TOVAPress and cam.compression_interval == 3
    with pytest.raises(ValueError, match="budget"):
        make_press("cam", 0.0, target_size=10)


def test_loss_weights_text_by_a_tenth_and_counts_text_only_once():
    v = VOCAB.size
    labels = torch.tensor([[VOCAB.value0, VOCAB.text0, -100, VOCAB.text0 + 2]])  # text0: the first text token
    logits = torch.zeros(1, 4, v)
    high = 3.0
    logits[0, 0, VOCAB.value0] = high  # the answer token is favoured, text tokens are uniform
    answer_ce = -high + math.log(math.exp(high) + v - 1)
    expected = answer_ce + TEXT_WEIGHT * math.log(v)
    assert float(_loss(logits, labels, VOCAB)) == pytest.approx(expected, rel=1e-6)


def test_text_loss_scores_the_next_token_after_bos():
    class Oracle:
        """Logits that put (almost) all mass on the true next token."""

        def __call__(self, ids):
            nxt = torch.roll(ids, -1, dims=1)
            return type("Out", (), {"logits": torch.nn.functional.one_hot(nxt, VOCAB.size).float() * 50.0})()

    assert text_loss(Oracle(), np.random.default_rng(0), VOCAB, 32, 2) < 1e-6
    shapes = []

    class Recorder(Oracle):
        def __call__(self, ids):
            text = bool((ids[:, 1:] >= VOCAB.text0).all())
            shapes.append((tuple(ids.shape), bool((ids[:, 0] == VOCAB.BOS).all()), text))
            return super().__call__(ids)

    text_loss(Recorder(), np.random.default_rng(0), VOCAB, 32, 2)
    assert shapes == [((2, 32), True, True)]  # ``context`` tokens: bos, then text


def test_haystack_follows_the_markov_chain_except_for_rare_jumps():
    succ = _successors(VOCAB)
    steady = [t - VOCAB.text0 for t in haystack(np.random.default_rng(1), VOCAB, 500, jump=0.0)]
    assert all(b in succ[a] for a, b in zip(steady, steady[1:]))
    jumpy = [t - VOCAB.text0 for t in haystack(np.random.default_rng(1), VOCAB, 4000, jump=0.05)]
    off_chain = sum(b not in succ[a] for a, b in zip(jumpy, jumpy[1:])) / (len(jumpy) - 1)
    assert 0.01 < off_chain < 0.1  # about jump x (1 - branching / text) = 0.048


def test_evaluate_averages_every_sample_and_runs_full_once_at_budget_one(monkeypatch):
    outcomes = iter([(True, 10), (False, 20)] * 10)
    budgets_seen = []

    def fake_run_sample(_model, _sample, press):
        budgets_seen.append(None if press is None else press.budget)
        return next(outcomes)

    monkeypatch.setattr(ev, "run_sample", fake_run_sample)
    data = ev.evaluate(None, VOCAB, methods=["full", "chelsea"], budgets=[0.25, 0.5], contexts=[64],
                       tasks=["recall"], samples=2, seed=0)
    assert list(zip(data["method"], data["budget"])) == [("full", 1.0), ("chelsea", 0.25), ("chelsea", 0.5)]
    assert (data["accuracy"] == 0.5).all() and (data["cache_tokens"] == 15.0).all()
    assert budgets_seen == [None, None, 0.25, 0.25, 0.5, 0.5]


def test_copy_asks_for_the_whole_span_after_its_first_two_tokens():
    for seed in range(5):
        s = make_sample("copy", np.random.default_rng(seed), VOCAB, 64, span=7)
        start = s.context.index(s.question[1])
        assert s.question[1:] + s.answer == s.context[start:start + 7] and len(s.answer) == 5
        assert start + 7 == len(s.context) or s.context[start + 7] >= VOCAB.text0  # the span ends there


def test_needle_keys_and_variable_names_are_distinct():
    for seed in range(30):
        recall = make_sample("recall", np.random.default_rng(seed), VOCAB, 120, n_pairs=8)
        keys = [recall.context[i + 1] for i, t in enumerate(recall.context) if t == VOCAB.NEEDLE]
        assert len(set(keys)) == 8
        var = make_sample("variables", np.random.default_rng(seed), VOCAB, 120, n_pairs=6)
        names = [var.context[i + 1] for i, t in enumerate(var.context) if t == VOCAB.VAR]
        assert len(set(names)) == 7  # six assignments and the alias


def test_a_context_with_less_filler_than_pieces_is_refused_by_name():
    with pytest.raises(ValueError, match="too short"):
        make_sample("recall", np.random.default_rng(0), VOCAB, 1 + 4 * 3 + 2, n_pairs=4)
    tight = make_sample("recall", np.random.default_rng(0), VOCAB, 1 + 4 * 3 + 4, n_pairs=4)  # one filler each
    assert len(tight.context) == 17 and tight.context.count(VOCAB.NEEDLE) == 4


def test_training_text_labels_follow_text_and_recall_rows_ask_for_every_needle():
    from methods.kvcache.tasks import IGNORE, training_batch

    cfg = TinyModelConfig(batch_size=24, train_context=96)
    ids, labels = training_batch(np.random.default_rng(6), cfg)
    recall_rows = 0
    for row, lab in zip(ids.tolist(), labels.tolist()):
        for i, target in enumerate(lab):
            if target != IGNORE and target >= VOCAB.text0:
                assert row[i] >= VOCAB.text0  # text is predicted from text only
        for i in range(1, len(row)):
            if row[i - 1] >= VOCAB.text0 and row[i] >= VOCAB.text0:
                assert lab[i - 1] == row[i]  # ... and every text-to-text step is in the loss
        if VOCAB.NEEDLE in row:
            recall_rows += 1
            assert row.count(VOCAB.QUERY) == row.count(VOCAB.NEEDLE)
            needles = {(row[i + 1], row[i + 2]) for i, t in enumerate(row) if t == VOCAB.NEEDLE}
            asked = {(row[i + 1], lab[i + 1]) for i, t in enumerate(row) if t == VOCAB.QUERY}
            assert asked == needles  # each query names a needle's key, its label is that needle's value
    assert recall_rows > 0
