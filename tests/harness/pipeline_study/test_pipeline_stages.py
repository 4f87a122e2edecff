"""The model cut into stages is the single-process model; both sides of a boundary agree bit for bit."""

from __future__ import annotations

import pytest
import torch

from harness.pipeline_study.boundary import BoundaryCodec, tensor_digest
from harness.pipeline_study.plan import ModelSpec
from harness.pipeline_study.stages import build_stage, full_model, make_dataset
from harness.workloads.pipeline_step import CodecSpec

MODEL = ModelSpec(d_model=32, d_ff=64, n_heads=2, n_layers=3, vocab_size=50)


@pytest.mark.parametrize("n_stages", [2, 3])
def test_stages_chained_are_the_whole_model(n_stages):
    data = make_dataset(4, 16, MODEL.vocab_size, seed=0)
    whole = full_model(MODEL, 16, seed=0)
    x = data[:, :-1]
    for stage in range(n_stages):
        x = build_stage(MODEL, n_stages, stage, 16, seed=0)(x)
    assert torch.equal(x, whole(data[:, :-1]))
    counts = [sum(p.numel() for p in build_stage(MODEL, n_stages, s, 16, 0).parameters()) for s in range(n_stages)]
    assert sum(counts) == sum(p.numel() for p in whole.parameters())


def test_dataset_is_deterministic_and_learnable():
    a, b = make_dataset(3, 20, 50, seed=1), make_dataset(3, 20, 50, seed=1)
    assert torch.equal(a, b) and a.shape == (3, 21)
    assert torch.equal(a[:, :8], a[:, 8:16])  # a repeating pattern of 8 tokens


@pytest.mark.parametrize("spec", [
    CodecSpec(name="none"), CodecSpec(name="tahquant"), CodecSpec(name="fixpoint", params={"bits": 6}),
    CodecSpec(name="uniform_tile", params={"bits": 4}), CodecSpec(name="aqsgd", params={"bits": 4}),
])
def test_sender_and_receiver_agree_bit_for_bit_over_steps(spec):
    sender, receiver = BoundaryCodec(spec), BoundaryCodec(spec)
    gen = torch.Generator().manual_seed(0)
    base = torch.randn(4, 16, 64, generator=gen)
    for step in range(3):
        for ids in ([0, 1], [2, 3]):
            x = base[ids] + 0.05 * step * torch.randn(2, 16, 64, generator=gen)
            size = sender.wire_bytes(ids, x.shape)
            message, view, payload = sender.encode(ids, x)
            assert len(message) == size == receiver.wire_bytes(ids, x.shape) and payload <= size
            got = receiver.decode(ids, message, x.shape)
            assert tensor_digest(got) == tensor_digest(view)
    if spec.name == "aqsgd":
        assert all(torch.equal(sender.endpoint.cache[i], receiver.endpoint.cache[i]) for i in range(4))
