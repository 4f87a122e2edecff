"""Gaps in the tests of `throughput` found by a mutation audit.

- each timed round is one full AdamW step (gradients zeroed, optimizer stepped): every variant's weights after
  ``warmup + rounds`` steps equal a reference AdamW loop on a fresh copy of its model;
- the batch is next-token prediction (targets are the inputs shifted by one) and draws every token id, the last
  one of the vocabulary included;
- checkpointing other than ``block`` reaches the models: the ``attention`` variants keep what the analytic model
  says for the attention half checkpointed (the MoC one with MoC's bytes); ``n_reps`` leaves the warm-up out.
"""

from __future__ import annotations

import torch

from methods.memory.analytic import Shape, Technique, activation_bytes_per_token
from methods.models.llama_family import LlamaFamily, LlamaFamilyConfig
from methods.moc import throughput


def test_each_round_is_one_adamw_step_on_a_next_token_batch(monkeypatch):
    built: list[tuple[LlamaFamilyConfig, int, LlamaFamily]] = []
    batches: list[tuple[torch.Tensor, torch.Tensor]] = []
    real_step = throughput._step

    def recording(cfg, seed):
        built.append((cfg, seed, LlamaFamily(cfg, seed=seed)))
        return built[-1][2]

    def step_spy(model, x, y):
        batches.append((x.clone(), y.clone()))
        return real_step(model, x, y)

    monkeypatch.setattr(throughput, "LlamaFamily", recording)
    monkeypatch.setattr(throughput, "_step", step_spy)
    monkeypatch.setattr(throughput, "measure_activations", lambda model, x, y: {})  # not this test's subject
    cfg = LlamaFamilyConfig(d_model=8, d_ff=16, n_heads=2, n_layers=1, vocab_size=3)
    throughput.measure_throughput(cfg, k=4, batch_size=4, seq_len=16, rounds=2, warmup=1, seed=0)
    x, y = batches[0]
    assert all(torch.equal(bx, x) and torch.equal(by, y) for bx, by in batches)
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert set(torch.cat([x, y]).unique().tolist()) == {0, 1, 2}
    assert len(built) == 4
    for variant_cfg, seed, trained in built:
        reference = LlamaFamily(variant_cfg, seed=seed)
        optimizer = torch.optim.AdamW(reference.parameters(), lr=1e-4)
        for _ in range(3):
            optimizer.zero_grad(set_to_none=True)
            reference.loss(x, y).backward()
            optimizer.step()
        start = LlamaFamily(variant_cfg, seed=seed)
        for (name, p), q, p0 in zip(trained.named_parameters(), reference.parameters(), start.parameters()):
            torch.testing.assert_close(p, q, rtol=0, atol=1e-7, msg=name)
            assert float((p - p0).detach().abs().max()) > 1e-4, name  # three AdamW steps of 1e-4 moved every tensor


def test_attention_checkpointing_reaches_the_models():
    cfg = LlamaFamilyConfig(d_model=16, d_ff=32, n_heads=2, n_layers=2, vocab_size=11)
    rows = throughput.measure_throughput(cfg, k=4, batch_size=2, seq_len=8, rounds=1, warmup=1, seed=3,
                                         checkpointing="attention")
    assert [r["n_reps"] for r in rows] == [1] * 4  # the timed rounds, not the warm-up
    by = {r["variant"]: r for r in rows}
    shape = Shape(16, 32, 2, 2, 11)
    for name, ffn, k in (("dense+ckpt", "dense", None), ("moc+ckpt", "moc", 4)):
        analytic = activation_bytes_per_token(shape, Technique(ffn, k, "attention"), "float32")
        assert by[name]["checkpointing"] == "attention"
        assert by[name]["saved_bytes_per_token"] == sum(analytic.values()), name
