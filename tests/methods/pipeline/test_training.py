"""In-process pipeline training (`methods.pipeline.training`): uncompressed stages are the plain model, the
boundary applies the forward codec to activations and the backward codec to gradients, AQ-SGD links keep both
caches equal and send deltas after the first visit."""

from __future__ import annotations

import io

import pytest
import torch

from methods.models.gpt import TinyLlama
from methods.pipeline.codecs import make_codec
from methods.pipeline.training import AQSGDLink, Boundary, CodecLink, PipelinedLM, split_blocks
from tests.methods.pipeline.aqsgd_exchange import drifting_batch, same_cache


def _model(seed: int = 0) -> TinyLlama:
    return TinyLlama(vocab_size=11, d_model=32, n_layers=3, n_heads=4, d_ff=48, max_seq_len=8, seed=seed)


def _tokens() -> torch.Tensor:
    return torch.randint(0, 11, (3, 8), generator=torch.Generator().manual_seed(1))


def test_uncompressed_pipeline_is_the_plain_model_loss_and_gradients():
    plain, piped = _model(), _model()
    pipe = PipelinedLM(piped, 3, lambda: Boundary(CodecLink(make_codec("none")), CodecLink(make_codec("none"))))
    x = _tokens()
    a, b = plain.loss(x, x), pipe.loss(x, x, [0, 1, 2])
    assert torch.equal(a, b)
    a.backward()
    b.backward()
    for (name, p), q in zip(plain.named_parameters(), piped.parameters(), strict=True):
        assert torch.equal(p.grad, q.grad), name
    totals = pipe.totals()
    assert totals["forward_bytes"] == 2 * 3 * 8 * 32 * 4 and totals["forward_sq_error"] == 0.0


def test_boundary_sends_activations_and_gradients_through_their_codecs():
    fwd, bwd = make_codec("fixpoint", bits=3), make_codec("fixpoint", bits=5)
    boundary = Boundary(CodecLink(fwd), CodecLink(bwd))
    x = torch.randn(2, 4, 16, requires_grad=True)
    weight = torch.randn(2, 4, 16)
    y = boundary(x, [0, 1])
    assert torch.equal(y, fwd.encode(x.detach()).sender_view) and not torch.equal(y, x)
    (y * weight).sum().backward()
    assert torch.equal(x.grad, bwd.encode(weight).sender_view)
    assert boundary.forward_link.bytes == fwd.payload_bytes(x.shape)
    assert boundary.backward_link.bytes == bwd.payload_bytes(x.shape)


def test_aqsgd_link_sends_fp32_first_then_deltas_and_both_caches_agree():
    link = AQSGDLink(make_codec("fixpoint", bits=4))
    a = torch.randn(2, 4, 16)
    first = link.transfer(a, [3, 5])
    assert torch.allclose(first, a, atol=1e-2) and link.bytes == a.numel() * 4
    second = link.transfer(a + 0.05 * torch.randn_like(a), [3, 5])
    assert link.bytes - a.numel() * 4 == make_codec("fixpoint", bits=4).payload_bytes(a.shape)
    assert all(torch.equal(link.sender.cache[i], link.receiver.cache[i]) for i in (3, 5))
    assert torch.equal(second, torch.stack([link.receiver.cache[i].float() for i in (3, 5)]))
    assert link.memory_bytes == 2 * 2 * 4 * 16 * 2  # two sides, two samples, float16


def test_split_blocks_gives_the_remainder_to_the_first_stages():
    assert split_blocks(5, 2) == [range(0, 3), range(3, 5)]
    assert split_blocks(4, 4) == [range(i, i + 1) for i in range(4)]
    with pytest.raises(ValueError, match="n_stages"):
        split_blocks(2, 3)


def test_compressed_pipeline_trains():
    model = _model()
    pipe = PipelinedLM(model, 2, lambda: Boundary(
        CodecLink(make_codec("tahquant", bits=4, bits_low=3, tile_size=16)), CodecLink(make_codec("fixpoint", bits=6))))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    x = _tokens()
    losses = []
    for _ in range(30):
        loss = pipe.loss(x, x, [0, 1, 2])
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    assert 0 < pipe.totals()["forward_sq_error"]


def _link_exchange(link, steps, n_samples: int = 8):
    """Micro-batches of 3 of ``n_samples`` drifting activations per step (step-seeded) through ``link``."""
    out = []
    for step in steps:
        ids, a = drifting_batch(step, n_samples, (4, 16))
        out.append(link.transfer(a, ids))
    return out


@pytest.mark.parametrize("cache_dtype", ["float16", "float32"])
def test_aqsgd_link_resumes_from_a_checkpoint_bit_for_bit(cache_dtype):
    """Exchange 5 steps (some samples still unseen), checkpoint the link through torch.save (read back with
    weights_only), go on 8 steps; a fresh link loaded from the checkpoint receives the same activations and ends
    with the same caches and statistics (bytes, elements, squared error and norm), bit for bit."""
    link = AQSGDLink(make_codec("fixpoint", bits=3), cache_dtype=cache_dtype)
    _link_exchange(link, range(5), n_samples=4)
    buf = io.BytesIO()
    torch.save({"link": link.state_dict()}, buf)
    before = _link_exchange(link, range(5, 13))
    assert len(link.sender.cache) > 4  # warm-up messages after the checkpoint too

    buf.seek(0)
    link2 = AQSGDLink(make_codec("fixpoint", bits=3), cache_dtype=cache_dtype)
    link2.load_state_dict(torch.load(buf, weights_only=True)["link"])
    after = _link_exchange(link2, range(5, 13))
    assert all(torch.equal(o, o2) for o, o2 in zip(before, after))
    assert same_cache(link.sender, link2.sender) and same_cache(link.receiver, link2.receiver)
    assert link2.stats == link.stats and link2.bytes == link.bytes and link2.memory_bytes == link.memory_bytes


def test_an_aqsgd_link_checkpoint_of_another_configuration_is_refused_and_changes_nothing():
    link = AQSGDLink(make_codec("fixpoint", bits=4))
    _link_exchange(link, range(3))
    saved = link.state_dict()
    fresh = AQSGDLink(make_codec("fixpoint", bits=4))
    with pytest.raises(ValueError, match="checkpoint's delta_codec"):
        AQSGDLink(make_codec("fixpoint", bits=5)).load_state_dict(saved)
    # the sender's part would load, the receiver's is another configuration's: the sender is left as it was
    other_dtype = AQSGDLink(make_codec("fixpoint", bits=4), cache_dtype="float32")
    mixed = {**saved, "receiver": other_dtype.state_dict()["receiver"]}
    with pytest.raises(ValueError, match="checkpoint's cache_dtype"):
        fresh.load_state_dict(mixed)
    assert fresh.sender.cache == {} and fresh.receiver.cache == {} and fresh.stats.bytes == 0
    with pytest.raises(ValueError, match="no 'stats'"):
        fresh.load_state_dict({"sender": saved["sender"], "receiver": saved["receiver"]})
