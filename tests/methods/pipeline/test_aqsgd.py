"""AQ-SGD boundary: sender and receiver caches stay bit-identical after every step, the first visit is exact,
deltas shrink as activations stop changing, and the cache's memory is what `cache_bytes` says."""

from __future__ import annotations

import io

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.pipeline.aqsgd import AQSGDEndpoint, cache_bytes
from methods.pipeline.codecs import make_codec
from tests.methods.pipeline.aqsgd_exchange import drifting_batch, same_cache

SHAPE = (6, 16)  # one sample's activation: S x C


def _pair(bits: int = 4, cache_dtype: str = "float16", delta: str = "fixpoint"):
    extra = {"tile_size": 8} if delta == "uniform_tile" else {}
    return (AQSGDEndpoint(make_codec(delta, bits=bits, **extra), cache_dtype=cache_dtype),
            AQSGDEndpoint(make_codec(delta, bits=bits, **extra), cache_dtype=cache_dtype))


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 8), bits=st.integers(2, 8),
       cache_dtype=st.sampled_from(["float16", "bfloat16", "float32"]), delta=st.sampled_from(["fixpoint", "uniform_tile"]),
       data=st.data())
def test_caches_identical_on_both_sides_after_every_step(seed, steps, bits, cache_dtype, delta, data):
    gen = torch.Generator().manual_seed(seed)
    send, recv = _pair(bits, cache_dtype, delta)
    n_samples = 5
    truth = torch.randn(n_samples, *SHAPE, generator=gen)
    for _ in range(steps):
        ids = data.draw(st.lists(st.integers(0, n_samples - 1), min_size=1, max_size=3, unique=True))
        truth += 0.1 * torch.randn(truth.shape, generator=gen)  # the activations drift as training goes on
        a = truth[ids]
        expected = send.message_bytes(ids, a.shape)
        message = send.send(ids, a)
        assert len(message) == expected
        out = recv.receive(ids, message, a.shape)
        assert sorted(send.cache) == sorted(recv.cache)
        for key in send.cache:
            assert torch.equal(send.cache[key].view(torch.uint8), recv.cache[key].view(torch.uint8))
        assert torch.equal(out, torch.stack([recv.cache[i].float() for i in ids]))


def test_first_visit_is_the_uncompressed_activation_and_later_visits_send_only_deltas():
    send, recv = _pair(bits=4, cache_dtype="float32")
    a = torch.randn(2, *SHAPE)
    first = send.send([3, 7], a)
    assert len(first) == a.numel() * 4
    assert torch.equal(recv.receive([3, 7], first, a.shape), a)
    second = send.send([3, 7], a)
    assert len(second) == make_codec("fixpoint", bits=4).payload_bytes(a.shape)
    assert torch.equal(recv.receive([3, 7], second, a.shape), a)  # unchanged activation: zero delta, exact


def test_error_shrinks_as_the_activation_stops_changing():
    send, recv = _pair(bits=3, cache_dtype="float32")
    target = torch.randn(1, *SHAPE, generator=torch.Generator().manual_seed(2))
    start = target + torch.randn(target.shape, generator=torch.Generator().manual_seed(3))
    recv.receive([0], send.send([0], start), start.shape)
    errors = []
    for _ in range(6):
        out = recv.receive([0], send.send([0], target), target.shape)
        errors.append(float((out - target).abs().max()))
    assert errors[-1] < 0.05 * errors[0] and errors == sorted(errors, reverse=True)


def test_mixed_micro_batch_splits_warm_and_delta_rows():
    send, recv = _pair()
    a = torch.randn(3, *SHAPE)
    recv.receive([0], send.send([0], a[:1]), (1, *SHAPE))
    message = send.send([0, 1, 2], a)
    warm = make_codec("none").payload_bytes((2, *SHAPE))
    assert len(message) == warm + make_codec("fixpoint", bits=4).payload_bytes((1, *SHAPE))
    recv.receive([0, 1, 2], message, a.shape)
    assert all(torch.equal(send.cache[i], recv.cache[i]) for i in range(3))


def test_memory_is_explicit_and_matches_the_formula():
    send, recv = _pair(cache_dtype="float16")
    a = torch.randn(4, *SHAPE)
    recv.receive(list(range(4)), send.send(list(range(4)), a), a.shape)
    assert send.memory_bytes == recv.memory_bytes == cache_bytes(4, SHAPE, "float16") == 4 * 6 * 16 * 2
    # AQ-SGD's released cache: 20,000 GPT2-XL samples of 1024 x 1600 in float16 (research card B4)
    assert cache_bytes(20_000, (1024, 1600), "float16") == 65_536_000_000


def test_refuses_data_dependent_delta_codecs_and_repeated_samples():
    with pytest.raises(ValueError, match="shape-determined"):
        AQSGDEndpoint(make_codec("tahquant"))
    send, _ = _pair()
    with pytest.raises(ValueError, match="same sample twice"):
        send.send([1, 1], torch.randn(2, *SHAPE))


def _exchange(send, recv, steps, n_samples: int = 8):
    """Micro-batches of 3 of ``n_samples`` drifting samples per step (step-seeded); the messages and outputs."""
    out = []
    for step in steps:
        ids, a = drifting_batch(step, n_samples, SHAPE)
        message = send.send(ids, a)
        out.append((message, recv.receive(ids, message, a.shape)))
    return out


@pytest.mark.parametrize("cache_dtype", ["float16", "float32"])
def test_both_sides_resume_from_a_checkpoint_bit_for_bit(cache_dtype):
    """Exchange 5 steps (some samples still unseen), checkpoint both endpoints through torch.save (read back with
    weights_only), go on 8 steps; a fresh pair loaded from the checkpoint sends the same bytes, receives the same
    activations and ends with the same caches, bit for bit."""
    send, recv = _pair(bits=3, cache_dtype=cache_dtype)
    _exchange(send, recv, range(5), n_samples=4)
    assert len(send.cache) == 4
    buf = io.BytesIO()
    torch.save({"send": send.state_dict(), "recv": recv.state_dict()}, buf)
    before = _exchange(send, recv, range(5, 13))
    assert len(send.cache) > 4  # warm-up messages after the checkpoint too

    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    send2, recv2 = _pair(bits=3, cache_dtype=cache_dtype)
    send2.load_state_dict(ckpt["send"])
    recv2.load_state_dict(ckpt["recv"])
    after = _exchange(send2, recv2, range(5, 13))
    for (m, o), (m2, o2) in zip(before, after):
        assert m == m2 and torch.equal(o, o2)
    assert same_cache(send, send2) and same_cache(recv, recv2) and same_cache(send2, recv2)
    assert send2.memory_bytes == send.memory_bytes


def test_a_state_dict_is_a_copy_and_the_cache_holds_only_what_memory_bytes_counts():
    send, recv = _pair(cache_dtype="float32")
    _exchange(send, recv, range(3))
    saved = send.state_dict()
    kept = {k: t.clone() for k, t in saved["cache"].items()}
    _exchange(send, recv, range(3, 6))
    assert all(torch.equal(t, kept[k]) for k, t in saved["cache"].items())  # later steps did not leak in
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in send.cache.values()}
    assert sum(storages.values()) == send.memory_bytes  # no cached row keeps its micro-batch alive


def test_a_checkpoint_of_another_endpoint_configuration_is_refused():
    send, recv = _pair(bits=4, cache_dtype="float16")
    _exchange(send, recv, range(2))
    saved = send.state_dict()
    fp16_warmup = AQSGDEndpoint(make_codec("fixpoint", bits=4), warmup_codec=make_codec("none", dtype="float16"))
    for other, field in ((_pair(bits=5)[0], "delta_codec"), (_pair(cache_dtype="bfloat16")[0], "cache_dtype"),
                         (_pair(delta="uniform_tile")[0], "delta_codec"), (fp16_warmup, "warmup_codec")):
        with pytest.raises(ValueError, match=f"checkpoint's {field}"):
            other.load_state_dict(saved)
        assert other.cache == {}  # refused before anything changed
    with pytest.raises(ValueError, match="no 'cache' mapping"):
        send.load_state_dict({"iteration": 3})
