"""Mutation-audit gaps in methods/moc (Mixture-of-Channels, arXiv 2511.09323): decode sweep, timing, selection
ablation, training loop and training throughput (each test fails on a mutant the older tests let through).

- `decode_sweep` calls every MoC row with its own K, each round on another token, ``warmup + repeats`` rounds,
  and counts weight bytes with the layer's element size (bf16: 2);
- `time_interleaved` reports milliseconds (fake nanosecond clock); `summary` is median and linear-interpolated
  10th / 90th percentiles (hand numbers);
- the random selection score is seeded (same seed, same masks; another seed or block, other masks);
- `train` against a reference AdamW loop with hand-computed learning rates (warm-up, cosine to the floor),
  clipping on and off (0), weight decay, one zeroed gradient per step, the step's own batch; rows' lr and loss;
  the final evaluation when the last step is no multiple of ``eval_every``; `held_out_loss` is a mean;
  `measure_activations` divides by tokens (fake profile);
- `measure_throughput`: tokens/s from each variant's own median (fake times), the warm-up passed on, the
  checkpointing label, variants sharing weights, K reaching the model (saved bytes = analytic MoC model), and a
  sequence longer than the config's ``max_seq_len``.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from methods.memory.analytic import Shape, Technique, activation_bytes_per_token
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
from methods.moc import decode, throughput, timing
from methods.moc import training as moc_training
from methods.moc.selection import ScoredChannelMLP, use_selection


def test_decode_sweep_calls_each_k_on_a_new_token_every_round(monkeypatch):
    layer = decode.make_layer(d_model=32, d_ff=64, n_heads=4, context=8, dtype=torch.bfloat16, seed=0)
    calls: list[tuple[str, int, torch.Tensor]] = []
    monkeypatch.setattr(decode, "dense_decode", lambda x, *w: calls.append(("dense", 0, x.clone())))
    monkeypatch.setattr(decode, "moc_decode_cpu", lambda x, wg, wu, wdt, k: calls.append(("moc", k, x.clone())))
    rows = decode.decode_sweep(layer, [4, 16], repeats=3, warmup=2)
    assert [(name, k) for name, k, _ in calls] == [("dense", 0), ("moc", 4), ("moc", 16)] * 5
    dense_tokens = [x for name, _, x in calls if name == "dense"]
    assert all(not torch.equal(a, b) for i, a in enumerate(dense_tokens) for b in dense_tokens[i + 1:])
    assert all(torch.equal(calls[3 * r][2], calls[3 * r + 2][2]) for r in range(5))  # one token per round
    assert [r["weight_bytes"] for r in rows] == [0, 3 * 64 * 32 * 2, (64 + 8) * 32 * 2, (64 + 32) * 32 * 2]


def test_time_interleaved_reports_milliseconds(monkeypatch):
    ticks = iter(range(0, 10**9, 2_500_000))  # every call of the clock advances 2.5 ms
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter_ns=lambda: next(ticks)))
    times = timing.time_interleaved({"a": lambda i: None, "b": lambda i: None}, repeats=2, warmup=1)
    assert times == {"a": [2.5, 2.5], "b": [2.5, 2.5]}


def test_summary_by_hand():
    stats = timing.summary([1.0, 2.0, 10.0])
    assert stats["time_ms_median"] == 2.0
    assert stats["time_ms_p10"] == pytest.approx(1.2) and stats["time_ms_p90"] == pytest.approx(8.4)


def test_random_selection_is_seeded_per_module_and_per_block():
    u = torch.randn(6, 24, generator=torch.Generator().manual_seed(0))
    masks = [ScoredChannelMLP(4, 24, 5, "random", seed=s)._mask(u) for s in (7, 7, 8)]
    assert torch.equal(masks[0], masks[1]) and not torch.equal(masks[0], masks[2])
    model = LlamaFamily(LlamaFamilyConfig(d_model=8, d_ff=24, n_heads=2, n_layers=2, vocab_size=10), seed=0)
    use_selection(model, k=5, score="random", seed=1)
    first, second = (block.mlp._mask(u) for block in model.layers)
    assert not torch.equal(first, second)


CFG = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=1, vocab_size=11, ffn="moc", moc_k=8)


def _batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    data = torch.randint(0, 11, (4, 9), generator=torch.Generator().manual_seed(100 + step))
    return data[:, :-1], data[:, 1:]


@pytest.mark.parametrize("clip", [0.0, 0.05])
def test_train_equals_a_reference_adamw_loop(clip):
    settings = moc_training.TrainSettings(steps=3, lr=1e-2, warmup_steps=2, min_lr_ratio=0.1, weight_decay=0.1,
                                          grad_clip=clip, eval_every=2, record_every=5)
    lrs = [5e-3, 1e-2, 1e-3]  # warm-up 1/2, 2/2, then the cosine's end (the floor) at the last step
    ref = LlamaFamily(CFG, seed=0)
    optimizer = torch.optim.AdamW(ref.parameters(), lr=1.0, betas=(0.9, 0.999), weight_decay=0.1)
    losses = []
    for step, lr in enumerate(lrs):
        optimizer.param_groups[0]["lr"] = lr
        optimizer.zero_grad(set_to_none=True)
        loss = ref.loss(*_batch(step))
        loss.backward()
        if clip:
            norm = torch.nn.utils.clip_grad_norm_(ref.parameters(), clip)
            assert norm > clip  # the clipping is active
        optimizer.step()
        losses.append(float(loss.detach()))
    ours = LlamaFamily(CFG, seed=0)
    evaluate = lambda m: moc_training.held_out_loss(m, [_batch(0)])  # noqa: E731
    result = moc_training.train(ours, _batch, evaluate, settings)
    for (name, a), b in zip(ref.named_parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7, msg=name)
    assert [r["step"] for r in result.rows] == [2, 3]  # evaluations at 2 and at the last step
    assert [r["lr"] for r in result.rows] == pytest.approx(lrs[1:])
    assert [r["loss"] for r in result.rows] == pytest.approx(losses[1:], rel=1e-6)
    assert result.rows[-1]["eval_loss"] == pytest.approx(evaluate(ref), rel=1e-5)
    assert result.rows[-1]["tokens"] == 3 * 32


def test_held_out_loss_is_the_mean_over_batches():
    model = LlamaFamily(CFG, seed=0)
    with torch.no_grad():
        a, b = float(model.loss(*_batch(0))), float(model.loss(*_batch(1)))
    assert moc_training.held_out_loss(model, [_batch(0), _batch(1)]) == pytest.approx((a + b) / 2, rel=1e-6)


def test_measure_activations_divides_by_tokens(monkeypatch):
    profile = SimpleNamespace(saved_bytes=1200, peak_bytes=3000, by_module=lambda: {"layers.0.mlp.up_proj": 900,
                                                                                     "layers.0.attn.qkv": 300})
    monkeypatch.setattr(moc_training, "profile_step", lambda *a, **k: profile)
    x, y = _batch(0)  # 4 x 8 = 32 tokens
    out = moc_training.measure_activations(LlamaFamily(CFG, seed=0), x, y)
    assert out == {"saved_bytes_per_token": 1200 / 32, "peak_bytes_per_token": 3000 / 32,
                   "saved_attention_bytes_per_token": 300 / 32, "saved_ffn_bytes_per_token": 900 / 32,
                   "saved_other_bytes_per_token": 0.0}


def test_throughput_rows_from_fake_times_and_shared_weights(monkeypatch):
    medians = {"dense": 4.0, "moc": 2.0, "dense+ckpt": 5.0, "moc+ckpt": 8.0}
    seen = {}

    def fake_times(calls, repeats, warmup):
        seen["args"] = (list(calls), repeats, warmup)
        return {name: [medians[name]] * repeats for name in calls}

    models = []

    def recording(cfg, seed):
        models.append(LlamaFamily(cfg, seed=seed))
        return models[-1]

    monkeypatch.setattr(throughput, "time_interleaved", fake_times)
    monkeypatch.setattr(throughput, "LlamaFamily", recording)
    cfg = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=2, vocab_size=11, max_seq_len=8)
    rows = throughput.measure_throughput(cfg, k=4, batch_size=2, seq_len=12, rounds=3, warmup=2, seed=0,
                                         checkpointing="attention")
    assert seen["args"] == (list(medians), 3, 2)
    by = {r["variant"]: r for r in rows}
    for name, median in medians.items():
        assert by[name]["time_ms_median"] == median
        assert by[name]["tokens_per_s"] == pytest.approx(2 * 12 / (median / 1000))
    assert [r["checkpointing"] for r in rows] == ["none", "none", "attention", "attention"]
    assert all(torch.equal(m.embed_tokens.weight, models[0].embed_tokens.weight) for m in models)
    shape = Shape(16, 32, 2, 2, 11)
    analytic = {ffn: sum(activation_bytes_per_token(shape, Technique(ffn, k, "none"), "float32").values())
                for ffn, k in (("dense", None), ("moc", 4))}
    # MoC with K = 4 keeps (analytic) this much less than dense (the token ids' storage is common to both)
    saving = by["dense"]["saved_bytes_per_token"] - by["moc"]["saved_bytes_per_token"]
    assert saving == pytest.approx(analytic["dense"] - analytic["moc"], abs=1e-9) and saving > 0
