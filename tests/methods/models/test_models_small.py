"""Tiny models: seeded init without touching the global RNG, shapes, causality, trainability."""

from __future__ import annotations

import torch

from methods.models.cnn import SmallCNN
from methods.models.gpt import TinyLlama
from methods.models.mlp import MLP, LogisticRegression


def test_seeded_init_is_reproducible_and_leaves_global_rng_alone():
    state = torch.random.get_rng_state()
    a, b, c = MLP(64, 16, 10, seed=3), MLP(64, 16, 10, seed=3), MLP(64, 16, 10, seed=4)
    SmallCNN(seed=0), TinyLlama(vocab_size=20, d_model=16, n_layers=1, n_heads=2, d_ff=32, max_seq_len=8, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not torch.equal(a.hidden.weight, c.hidden.weight)


def test_shapes_and_logistic_regulariser():
    x = torch.randn(5, 64)
    assert MLP(64, 16, 10)(x).shape == (5, 10)
    assert SmallCNN()(x.reshape(5, 1, 8, 8)).shape == (5, 10)
    lr = LogisticRegression(64, 10, rho=0.5)
    w = lr.linear.weight
    assert torch.allclose(lr.regulariser(), 0.5 * (w * w / (1 + w * w)).sum())
    y = torch.zeros(5, dtype=torch.long)
    assert lr.loss(x, y).item() > torch.nn.functional.cross_entropy(lr(x), y).item()


def test_tiny_llama_is_causal_and_learns_a_repeated_sequence():
    model = TinyLlama(vocab_size=12, d_model=32, n_layers=2, n_heads=4, d_ff=64, max_seq_len=16, seed=1)
    tokens = torch.randint(0, 12, (2, 16), generator=torch.Generator().manual_seed(0))
    changed = tokens.clone()
    changed[:, 10:] = (changed[:, 10:] + 1) % 12
    with torch.no_grad():
        torch.testing.assert_close(model(tokens)[:, :10], model(changed)[:, :10])
    seq = torch.arange(16).remainder(12).unsqueeze(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(60):
        opt.zero_grad()
        loss = model.loss(seq[:, :-1], seq[:, 1:])
        first = first if first is not None else loss.item()
        loss.backward()
        opt.step()
    assert loss.item() < 0.2 * first
