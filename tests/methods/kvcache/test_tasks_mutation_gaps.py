"""Gaps in the tests of `methods.kvcache.tasks` found by a mutation audit.

- the token id ranges of `Vocab` (hand-counted) and the `TinyModelConfig` checks at their limits;
- the length curriculum rounds to the nearest token;
- the haystack's first token is drawn, the recall question asks for any needle, not always the first;
- training rows reach the longest context, cap needles at a sixth of the context and variables at six pairs,
  and are padded with PAD and IGNORE;
- the model ties its input and output embeddings;
- `train_model` reports progress every 100 steps and the mean loss of the last 20 steps, and leaves the model in
  eager attention; the weight cache folder follows ``HARNESS_KV_MODELS``;
- the haystack chain is the fixed one the committed weights were trained on, left with probability 0.05.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("transformers", reason="the kv extra is not installed")

from methods.kvcache import tasks  # noqa: E402
from methods.kvcache.tasks import IGNORE, TinyModelConfig, Vocab, build_model, make_sample, training_batch  # noqa: E402

VOCAB = Vocab()


def test_vocab_ranges_are_specials_then_keys_values_and_text():
    assert (VOCAB.key0, VOCAB.value0, VOCAB.text0, VOCAB.size) == (6, 70, 102, 166)
    small = Vocab(keys=3, values=2, text=5)
    assert (small.key0, small.value0, small.text0, small.size) == (6, 9, 11, 16)


@pytest.mark.parametrize("kwargs, match", [
    ({"heads": 4, "kv_heads": 3}, "kv_heads"),
    ({"hidden_size": 66, "heads": 4}, "hidden_size"),
    ({"train_context": 31}, "train_context"),
    ({"curriculum": -0.1}, "curriculum"),
])
def test_config_refuses_inconsistent_shapes_and_a_too_short_context(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TinyModelConfig(**kwargs)


def test_config_accepts_the_limits():
    low = TinyModelConfig(train_context=32, curriculum=0.0)  # constructing raises if a limit were exclusive
    high = TinyModelConfig(curriculum=1.0, heads=4, kv_heads=4)
    assert (low.train_context, low.curriculum) == (32, 0.0)
    assert (high.curriculum, high.heads, high.kv_heads) == (1.0, 4, 4)


def test_curriculum_rounds_to_the_nearest_length():
    cfg = TinyModelConfig(train_steps=10, train_context=192, curriculum=0.5)
    # step 1 of 5 growing steps: 48 + 0.2 * 144 = 76.8 -> 77; step 3: 48 + 0.6 * 144 = 134.4 -> 134
    assert [cfg.longest_context(s) for s in (1, 3)] == [77, 134]


def test_haystack_starts_anywhere():
    first = {tasks.haystack(np.random.default_rng(seed), VOCAB, 5)[0] for seed in range(20)}
    assert len(first) > 3 and all(VOCAB.text0 <= t < VOCAB.size for t in first)


def test_recall_questions_ask_for_each_needle_not_only_the_first():
    ranks = set()
    for seed in range(40):
        s = make_sample("recall", np.random.default_rng(seed), VOCAB, 80, n_pairs=4)
        keys = [s.context[i + 1] for i, t in enumerate(s.context) if t == VOCAB.NEEDLE]
        ranks.add(keys.index(s.question[1]))
    assert ranks == {0, 1, 2, 3}


def test_the_shortest_accepted_context_has_one_filler_token_per_piece():
    s = make_sample("copy", np.random.default_rng(0), VOCAB, 1 + 6 + 1, span=6)  # bos, the span, one text token
    assert len(s.context) == 8 and sum(t >= VOCAB.text0 for t in s.context) == 1
    with pytest.raises(ValueError, match="too short"):
        make_sample("copy", np.random.default_rng(0), VOCAB, 1 + 6, span=6)


def _contexts(ids: torch.Tensor) -> list[list[int]]:
    """Each row's context: its tokens before the first question token, padding dropped."""
    out = []
    for row in ids.tolist():
        row = [t for t in row if t != VOCAB.PAD]
        cut = [i for i, t in enumerate(row) if t in (VOCAB.QUERY, VOCAB.COPY)]
        out.append(row[: cut[0]] if cut else row)
    return out


def test_training_rows_reach_the_longest_context():
    cfg = TinyModelConfig(batch_size=8, train_context=64)
    ids, _ = training_batch(np.random.default_rng(0), cfg, longest=32)  # lengths drawn from [32, 32]
    assert [len(c) for c in _contexts(ids)] == [32] * 8


def test_training_needles_are_capped_at_a_sixth_of_the_context():
    cfg = TinyModelConfig(batch_size=64, train_context=192, max_pairs=0)
    seen = 0
    for seed in range(3):
        ids, _ = training_batch(np.random.default_rng(seed), cfg)
        for context in _contexts(ids):
            needles = context.count(VOCAB.NEEDLE)
            if needles:
                seen += 1
                assert needles <= max(7, len(context) // 6)
    assert seen > 30


def test_training_variables_use_up_to_six_pairs():
    cfg = TinyModelConfig(batch_size=64, train_context=192)
    counts = set()
    for seed in range(3):
        ids, _ = training_batch(np.random.default_rng(seed), cfg)
        counts |= {c.count(VOCAB.VAR) for c in _contexts(ids) if VOCAB.VAR in c}
    assert max(counts) == 7  # six assignments and the alias


def test_training_rows_are_padded_with_pad_and_ignored():
    ids, labels = training_batch(np.random.default_rng(3), TinyModelConfig(batch_size=8, train_context=96))
    lengths = [(row != VOCAB.PAD).sum().item() for row in ids]
    assert min(lengths) < ids.shape[1]
    for row, lab, n in zip(ids, labels, lengths):
        assert (row[n:] == VOCAB.PAD).all() and (lab[n:] == IGNORE).all() and (row[:n] != VOCAB.PAD).all()


def test_model_ties_input_and_output_embeddings():
    model = build_model(TinyModelConfig(hidden_size=8, heads=2, kv_heads=1, intermediate_size=8, layers=1))
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()


def test_train_model_reports_every_hundred_steps_and_the_last_twenty_steps_mean(monkeypatch):
    step = iter(range(1, 1000))
    monkeypatch.setattr(tasks, "_loss", lambda logits, labels, vocab: logits.sum() * 0 + next(step))
    cfg = TinyModelConfig(hidden_size=8, heads=2, kv_heads=1, intermediate_size=8, layers=1, train_steps=200,
                          batch_size=1, train_context=32)
    calls = []
    model, info = tasks.train_model(cfg, seed=0, progress=lambda s, loss: calls.append((s, loss)))
    assert calls == [(100, 50.5), (200, 150.5)]  # mean of 1..100 and of 101..200
    assert info["train_loss"] == 190.5  # mean of 181..200
    assert not model.training and model.config._attn_implementation == "eager"


def test_the_weight_cache_folder_follows_its_environment_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_KV_MODELS", str(tmp_path / "kv"))
    assert tasks.default_cache_dir() == tmp_path / "kv"
    monkeypatch.delenv("HARNESS_KV_MODELS")
    assert tasks.default_cache_dir().parts[-3:] == (".cache", "effml_harness", "kv_models")


def test_the_committed_model_predicts_the_fixed_haystack_chain():
    from methods.kvcache import model_store

    cfg = TinyModelConfig()
    saved, why = model_store.load_committed(cfg, 0)
    if saved is None:
        pytest.skip(why)
    model = build_model(cfg)
    model.load_state_dict(saved["state"])
    loss = tasks.text_loss(model.eval(), np.random.default_rng(0), VOCAB, 96, 4)
    # three likely successors per token and rare jumps: about 1.45 nats, far below ln 64 = 4.16 for a chain
    # the model was not trained on
    assert loss < 2.0


def test_haystack_jumps_off_the_chain_about_five_percent_of_the_time():
    hay = [t - VOCAB.text0 for t in tasks.haystack(np.random.default_rng(0), VOCAB, 20001)]
    succ = tasks._successors(VOCAB)
    off = np.mean([b not in succ[a] for a, b in zip(hay, hay[1:])])
    # a jump lands off the chain with probability 61/64: 0.05 * 61 / 64 = 0.048 (standard error 0.0015)
    assert 0.040 < off < 0.056
