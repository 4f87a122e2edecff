"""The synthetic long-context suite (methods/kvcache/tasks.py) and the evaluation path (methods/kvcache/evaluate.py):
exact context lengths, answers present in the context, needle depth, training labels, the weight cache, and
every press run through one generation path on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("kvpress", reason="the kv extra is not installed")

from methods.kvcache.evaluate import ChelseaSettings, evaluate, key_similarity, needle_grid, run_sample  # noqa: E402
from methods.kvcache.tasks import (  # noqa: E402
    IGNORE,
    TASKS,
    TinyModelConfig,
    Vocab,
    build_model,
    make_sample,
    trained_model,
    training_batch,
)

VOCAB = Vocab()
TINY = TinyModelConfig(layers=2, train_steps=3, batch_size=2, train_context=48)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("context", [64, 257])
def test_samples_have_the_exact_context_length_and_their_answer_inside(task, context):
    s = make_sample(task, np.random.default_rng(0), VOCAB, context)
    assert len(s.context) == context and s.context[0] == VOCAB.BOS
    if task == "recall":
        key = s.question[1]
        i = s.context.index(key)
        assert s.context[i - 1] == VOCAB.NEEDLE and s.context[i + 1] == s.answer[0]
    elif task == "copy":
        start = s.context.index(s.question[1])
        assert s.context[start + 1] == s.question[2] and s.context[start + 2:start + 2 + len(s.answer)] == s.answer
    else:
        alias = s.context.index(s.question[1])
        source = s.context[alias + 1]
        assert s.context[s.context.index(source) + 1] == s.answer[0] and s.context.index(source) < alias


@pytest.mark.parametrize("depth", [0.0, 0.5, 1.0])
def test_needle_depth_places_the_single_needle(depth):
    s = make_sample("recall", np.random.default_rng(1), VOCAB, 200, n_pairs=1, depth=depth)
    where = s.context.index(VOCAB.NEEDLE) / 200
    assert abs(where - depth) < 0.03


def test_context_too_short_is_refused():
    with pytest.raises(ValueError, match="too short"):
        make_sample("recall", np.random.default_rng(0), VOCAB, 10, n_pairs=6)


def test_training_labels_are_answers_and_text_only():
    ids, labels = training_batch(np.random.default_rng(2), TINY)
    assert ids.shape == labels.shape
    shifted = labels[labels != IGNORE]
    assert ((shifted >= VOCAB.value0) | (shifted >= VOCAB.key0)).all()
    for row, lab in zip(ids.tolist(), labels.tolist()):
        for i, target in enumerate(lab):
            if target != IGNORE:
                assert row[i + 1] == target  # the label is the next token


def test_model_is_a_gqa_llama_and_the_weight_cache_round_trips(tmp_path):
    model = build_model(TINY)
    assert model.config.num_key_value_heads == 2 and model.config.num_attention_heads == 4
    first, info = trained_model(TINY, seed=3, cache_dir=tmp_path, store=tmp_path / "store")
    again, info2 = trained_model(TINY, seed=3, cache_dir=tmp_path, store=tmp_path / "store")
    assert info["cached"] == 0.0 and info2["cached"] == 1.0
    assert "trained here" in info["weights"] and "from the cache" in info2["weights"]
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert TINY.key(3) != TINY.key(4)


def test_length_curriculum_grows_the_longest_context():
    cfg = TinyModelConfig(train_steps=100, train_context=192, curriculum=0.5)
    lengths = [cfg.longest_context(step) for step in (0, 25, 50, 99)]
    assert lengths == [48, 120, 192, 192]
    assert TinyModelConfig(curriculum=0.0).longest_context(0) == TinyModelConfig().train_context
    ids, _ = training_batch(np.random.default_rng(0), TINY, longest=40)
    assert ids.shape[1] <= 40 + 2 * 10  # context plus the recall questions and answers
    with pytest.raises(ValueError, match="curriculum"):
        TinyModelConfig(curriculum=1.5)


@pytest.mark.parametrize("max_pairs, most", [(2, 2), (0, 192 // 6)])
def test_training_recall_needles_are_capped_by_max_pairs(max_pairs, most):
    cfg = TinyModelConfig(batch_size=64, train_context=192, max_pairs=max_pairs)
    ids, _ = training_batch(np.random.default_rng(1), cfg)
    needles = (ids == VOCAB.NEEDLE).sum(dim=1)
    assert int(needles.max()) <= most and int(needles.max()) > (1 if max_pairs else 8)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(TINY).eval()


def test_every_press_runs_through_one_path_and_keeps_its_budget(model):
    methods = ["full", "streaming_llm", "snapkv", "h2o", "cam", "chelsea", "merging"]
    data = evaluate(model, VOCAB, methods=methods, budgets=[0.25], contexts=[128], tasks=["recall"], samples=2,
                    seed=0)
    kept = data.set_index("method")["cache_tokens"]
    assert kept["full"] == 128
    for name in ("streaming_llm", "snapkv", "h2o", "merging"):
        assert kept[name] == 32
    assert kept["chelsea"] <= 32 + ChelseaSettings().buffer_tokens
    assert kept["cam"] == 128  # CaM compresses at its first decode step, not at prefill
    assert data["accuracy"].between(0, 1).all() and (data.loc[data["method"] == "full", "budget"] == 1.0).all()


def test_full_cache_path_equals_one_forward_pass(model):
    s = make_sample("copy", np.random.default_rng(4), VOCAB, 64)
    ok, kept = run_sample(model, s, None)
    ids = torch.tensor([s.context + s.question + s.answer])
    with torch.no_grad():
        logits = model(ids).logits[0]
    start = len(s.context) + len(s.question) - 1
    expected = logits[start:start + len(s.answer)].argmax(-1).tolist() == s.answer
    assert ok == expected and kept == 64


def test_needle_grid_and_key_similarity_shapes(model):
    grid = needle_grid(model, VOCAB, methods=["full", "chelsea"], budget=0.5, contexts=[64], depths=[0.0, 1.0],
                       samples=1, seed=0)
    assert len(grid) == 4
    sim = key_similarity(model, VOCAB, context=64, samples=1, seed=0, max_distance=8)
    assert len(sim) == 2 * 8 and sim["cosine"].between(-1, 1).all()
