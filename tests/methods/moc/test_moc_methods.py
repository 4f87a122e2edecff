"""methods/moc: the CPU decode path equals the kernels' reference and dense SwiGLU at K = d_ff, the selection-score
ablation modules select what they claim, the training loop's schedule and rows, the activation measurement equals
the analytic model, the throughput rows, and every module's docstring example."""

from __future__ import annotations

import doctest
import importlib
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kernels.moc import dense_swiglu, moc_decode_ref
from methods.memory.analytic import Shape, Technique, activation_bytes_per_token
from methods.models.llama_family import DenseMLP, LlamaFamily, LlamaFamilyConfig
from methods.moc.decode import (attention_decode, decode_sweep, dense_decode, ffn_weight_bytes, make_layer,
                                moc_decode_cpu)
from methods.moc.selection import ScoredChannelMLP, use_selection
from methods.moc.throughput import measure_throughput
from methods.moc.training import TrainSettings, held_out_loss, lr_at, measure_activations, train


@settings(max_examples=25, deadline=None)
@given(d=st.integers(2, 12), E=st.integers(2, 40), seed=st.integers(0, 2**31 - 1), data=st.data())
def test_cpu_decode_equals_kernel_reference(d, E, seed, data):
    k = data.draw(st.integers(1, E))
    w = make_layer(d_model=d, d_ff=E, n_heads=1, context=3, dtype=torch.float64, seed=seed)
    x = torch.randn(d, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    ours = moc_decode_cpu(x, w.w_gate, w.w_up, w.w_down_t, k)
    reference = moc_decode_ref(x.unsqueeze(0), w.w_gate, w.w_up, w.w_down_t, k)[0]
    torch.testing.assert_close(ours, reference, atol=1e-12, rtol=1e-12)
    dense = dense_swiglu(x, w.w_gate, w.w_up, w.w_down)
    torch.testing.assert_close(dense_decode(x, w.w_gate, w.w_up, w.w_down), dense, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(moc_decode_cpu(x, w.w_gate, w.w_up, w.w_down_t, E), dense, atol=1e-12, rtol=1e-12)


def test_decode_rejects_bad_k_and_heads():
    w = make_layer(d_model=8, d_ff=10, n_heads=2, context=4, dtype=torch.float32, seed=0)
    with pytest.raises(ValueError, match="k must be in 1..d_ff=10"):
        moc_decode_cpu(torch.zeros(8), w.w_gate, w.w_up, w.w_down_t, 11)
    with pytest.raises(ValueError, match="n_heads"):
        make_layer(d_model=8, d_ff=10, n_heads=3, context=4, dtype=torch.float32, seed=0)


def test_attention_decode_is_softmax_attention_over_the_cache():
    w = make_layer(d_model=8, d_ff=10, n_heads=2, context=5, dtype=torch.float64, seed=1)
    x = torch.randn(8, dtype=torch.float64)
    q = (w.w_qkv @ x)[:8].view(2, 4)
    expected = torch.cat([torch.softmax(w.k_cache[h] @ q[h] / 2.0, 0) @ w.v_cache[h] for h in range(2)])
    torch.testing.assert_close(attention_decode(x, w), w.w_o @ expected)


def test_weight_bytes_ratio_is_one_third_plus_two_thirds_k_over_e():
    for d, E, k in ((2048, 5461, 683), (16, 48, 6), (16, 48, 48)):
        ratio = ffn_weight_bytes(d, E, k, 2) / ffn_weight_bytes(d, E, None, 2)
        assert math.isclose(ratio, 1 / 3 + 2 * k / (3 * E))


def test_decode_sweep_rows_and_bytes():
    w = make_layer(d_model=32, d_ff=64, n_heads=4, context=8, dtype=torch.float32, seed=0)
    rows = decode_sweep(w, [4, 16], repeats=3, warmup=1)
    assert [(r["part"], r["impl"], r["k"]) for r in rows] == [("attention", "dense", 0), ("ffn", "dense", 0),
                                                             ("ffn", "moc", 4), ("ffn", "moc", 16)]
    assert all(r["n_reps"] == 3 and 0 < r["time_ms_p10"] <= r["time_ms_median"] <= r["time_ms_p90"] for r in rows)
    assert rows[2]["weight_bytes"] == (64 + 8) * 32 * 4 < rows[3]["weight_bytes"] < rows[1]["weight_bytes"]


def _dense_mlp(d=6, E=12, seed=0):
    torch.manual_seed(seed)
    mlp = DenseMLP(d, E).double()
    for p in mlp.parameters():
        torch.nn.init.normal_(p)
    return mlp


@pytest.mark.parametrize("score", ["abs_up", "random"])
def test_scored_selection_with_all_channels_equals_dense(score):
    dense = _dense_mlp()
    scored = ScoredChannelMLP.from_dense(dense, k=12, score=score)
    h = torch.randn(3, 5, 6, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(scored(h), dense(h))
    (g_scored,) = torch.autograd.grad(scored(h).sum(), h)
    (g_dense,) = torch.autograd.grad(dense(h).sum(), h)
    torch.testing.assert_close(g_scored, g_dense)


def test_abs_up_keeps_the_largest_up_magnitudes_and_random_redraws():
    dense = _dense_mlp()
    scored = ScoredChannelMLP.from_dense(dense, k=3, score="abs_up")
    h = torch.randn(4, 6, dtype=torch.float64)
    u = dense.up_proj(h)
    mask = scored._mask(u)
    assert torch.equal(mask.sum(-1), torch.full((4,), 3.0, dtype=torch.float64))
    kept, dropped = u.abs().masked_fill(mask == 0, float("inf")), u.abs().masked_fill(mask == 1, -float("inf"))
    assert bool((kept.min(-1).values >= dropped.max(-1).values).all())
    expected = (mask * torch.nn.functional.silu(dense.gate_proj(h)) * u) @ dense.down_proj.weight.T
    torch.testing.assert_close(scored(h), expected)
    rand = ScoredChannelMLP.from_dense(dense, k=3, score="random", seed=5)
    assert not torch.equal(rand._mask(u), rand._mask(u))


def test_use_selection_needs_dense_and_rejects_bad_scores():
    cfg = LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=2, vocab_size=10)
    assert use_selection(LlamaFamily(cfg, seed=0), k=4, score="random") == 2
    moc = LlamaFamily(LlamaFamilyConfig(**{**cfg.__dict__, "ffn": "moc", "moc_k": 4}), seed=0)
    with pytest.raises(ValueError, match="dense model"):
        use_selection(moc, k=4, score="abs_up")
    with pytest.raises(ValueError, match="score must be one of"):
        ScoredChannelMLP(8, 16, 4, score="gate")


def test_lr_schedule_warmup_then_cosine_to_floor():
    s = TrainSettings(steps=100, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(5, s) == pytest.approx(0.5)
    assert lr_at(10, s) == pytest.approx(1.0)
    assert lr_at(55, s) == pytest.approx(0.55)
    assert lr_at(100, s) == pytest.approx(0.1)
    values = [lr_at(i, s) for i in range(10, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_train_lowers_held_out_loss_and_records_eval_steps():
    cfg = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=1, vocab_size=5, ffn="moc", moc_k=8)
    model = LlamaFamily(cfg, seed=0)
    data = torch.arange(40).remainder(5).view(4, 10)  # a periodic sequence: learnable in a few steps
    batch = lambda step: (data[:, :-1], data[:, 1:])  # noqa: E731
    before = held_out_loss(model, [batch(0)])
    result = train(model, batch, lambda m: held_out_loss(m, [batch(0)]),
                   TrainSettings(steps=30, lr=1e-2, warmup_steps=3, eval_every=10, record_every=5))
    assert [r["step"] for r in result.rows] == [5, 10, 15, 20, 25, 30]
    evals = [r["eval_loss"] for r in result.rows]
    assert all(math.isnan(v) for v in evals[::2]) and not any(math.isnan(v) for v in evals[1::2])
    assert evals[-1] < 0.5 * before
    assert result.rows[-1]["tokens"] == 30 * 36 and len(result.step_seconds) == 30


@pytest.mark.parametrize(("ffn", "ckpt"),
                         [("dense", "none"), ("moc", "none"), ("moc", "block"), ("dense", "attention")])
def test_measured_activations_equal_the_analytic_model(ffn, ckpt):
    cfg = LlamaFamilyConfig(d_model=16, d_ff=40, n_heads=2, n_layers=2, vocab_size=11, ffn=ffn,
                            moc_k=5 if ffn == "moc" else None, checkpointing=ckpt)
    model = LlamaFamily(cfg, seed=0)
    x, y = torch.randint(0, 11, (2, 7)), torch.randint(0, 11, (2, 7))
    measured = measure_activations(model, x, y, peak=False)
    analytic = activation_bytes_per_token(Shape(16, 40, 2, 2, 11), Technique(ffn, cfg.moc_k, ckpt), "float32")
    assert measured["saved_bytes_per_token"] == sum(analytic.values())
    assert all(p.grad is None for p in model.parameters())


def test_throughput_variants_share_weights_and_checkpointing_keeps_less():
    cfg = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=2, vocab_size=11)
    rows = measure_throughput(cfg, k=4, batch_size=2, seq_len=8, rounds=2, warmup=0, seed=3)
    by = {r["variant"]: r for r in rows}
    assert by["moc"]["k"] == 4 and by["dense"]["k"] == 32
    assert by["dense+ckpt"]["saved_bytes_per_token"] < by["moc"]["saved_bytes_per_token"] < \
        by["dense"]["saved_bytes_per_token"]
    assert all(r["tokens_per_s"] > 0 and r["n_reps"] == 2 for r in rows)


def test_throughput_activation_bytes_equal_the_analytic_model():
    """The measured token ids are the input's own: slices of one (batch, seq_len + 1) tensor would count its
    extra column, 8 / seq_len bytes per token more than the model (1 byte at seq_len 8)."""
    cfg = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=2, vocab_size=11)
    rows = measure_throughput(cfg, k=4, batch_size=2, seq_len=8, rounds=1, warmup=0, seed=3)
    for row in rows:
        technique = Technique(row["ffn"], row["k"] if row["ffn"] == "moc" else None, row["checkpointing"])
        analytic = activation_bytes_per_token(Shape(16, 32, 2, 2, 11), technique, "float32")
        assert row["saved_bytes_per_token"] == sum(analytic.values()), row["variant"]


@pytest.mark.parametrize("name", ["methods.moc.decode", "methods.moc.selection", "methods.moc.training",
                                  "methods.moc.throughput", "methods.moc.timing"])
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
