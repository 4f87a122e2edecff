"""Gaps a mutation audit found in methods/pipeline/aqsgd.py: `cache_bytes` of every cache dtype, the sender's cache
after a lossy warm-up codec (what was sent, not the activation), and hand-computed delta steps of the cache."""

from __future__ import annotations

import pytest
import torch

from methods.pipeline.aqsgd import AQSGDEndpoint, cache_bytes
from methods.pipeline.codecs import make_codec


@pytest.mark.parametrize(("dtype", "expected"), [("float16", 60), ("bfloat16", 60), ("float32", 120)])
def test_cache_bytes_of_each_dtype(dtype, expected):
    assert cache_bytes(3, (2, 5), dtype) == expected  # 3 samples x 10 values x 2 or 4 bytes


def test_a_lossy_warm_up_leaves_both_caches_at_what_was_sent():
    """fp16 warm-up into a float32 cache: both sides hold the fp16-rounded activation, not the activation."""
    pair = [AQSGDEndpoint(make_codec("fixpoint", bits=4), warmup_codec=make_codec("none", dtype="float16"),
                          cache_dtype="float32") for _ in range(2)]
    a = torch.tensor([[[1.0 + 2.0**-12, 3.0]]])  # 1 + 2^-12 is not an fp16 number: it rounds to 1.0
    message = pair[0].send([7], a)
    assert len(message) == 4
    out = pair[1].receive([7], message, a.shape)
    assert out.tolist() == [[[1.0, 3.0]]]
    assert pair[0].cache[7].tolist() == pair[1].cache[7].tolist() == [[1.0, 3.0]]


def test_a_delta_step_by_hand():
    """Cache [1, 2]; new activation [1.5, 1]: delta [0.5, -1], 3-bit fixpoint with channel scales 0.5 and 1 sends
    codes 3 (clipped from 4) and -4, i.e. [0.375, -1]; both caches become [1.375, 1.0]. 2 fp16 scales + 2 x 3 bits
    = 38 bits -> 5 B."""
    send, recv = (AQSGDEndpoint(make_codec("fixpoint", bits=3), cache_dtype="float32") for _ in range(2))
    recv.receive([0], send.send([0], torch.tensor([[[1.0, 2.0]]])), (1, 1, 2))
    assert send.message_bytes([0], (1, 1, 2)) == 5 and send.message_bytes([0, 1], (2, 1, 2)) == 8 + 5
    message = send.send([0], torch.tensor([[[1.5, 1.0]]]))
    assert len(message) == 5
    assert recv.receive([0], message, (1, 1, 2)).tolist() == [[[1.375, 1.0]]]
    assert send.cache[0].tolist() == [[1.375, 1.0]]


def test_a_message_of_the_wrong_length_is_refused():
    send, recv = (AQSGDEndpoint(make_codec("fixpoint", bits=3)) for _ in range(2))
    message = send.send([0], torch.ones(1, 1, 2))
    with pytest.raises(ValueError, match="message of 9 B, expected 8 B"):
        AQSGDEndpoint(make_codec("fixpoint", bits=3)).receive([0], message + b"\x00", (1, 1, 2))
    assert recv.receive([0], message, (1, 1, 2)).tolist() == [[[1.0, 1.0]]]


def test_a_truncated_warm_up_message_is_refused_before_anything_is_cached():
    """Cut inside its warm-up part (2 rows of 2 fp32 values: 16 B), a message used to fail in torch's `view` after
    the cache had been written to; now it is refused by length and the receiver's cache stays empty."""
    send, recv = (AQSGDEndpoint(make_codec("fixpoint", bits=3)) for _ in range(2))
    message = send.send([0, 1], torch.ones(2, 1, 2))
    assert len(message) == 16
    with pytest.raises(ValueError, match="message of 10 B, expected 16 B"):
        recv.receive([0, 1], message[:10], (2, 1, 2))
    assert recv.cache == {}


def test_a_warm_up_codec_without_a_shape_determined_payload_is_refused():
    """TAH-Quant's real payload can be shorter than its fixed send buffer, so the receiver could not tell where
    the warm-up part ends: a 2 x 64 x 64 warm-up sent 4449 B and the receiver expected 4544 B."""
    with pytest.raises(ValueError, match="warm-up codec with a shape-determined payload; tahquant"):
        AQSGDEndpoint(make_codec("fixpoint", bits=4), warmup_codec=make_codec("tahquant"))


def test_a_checkpoint_cache_entry_of_another_dtype_is_refused():
    send, recv = (AQSGDEndpoint(make_codec("fixpoint", bits=3)) for _ in range(2))
    recv.receive([4], send.send([4], torch.ones(1, 2, 2)), (1, 2, 2))
    state = send.state_dict()
    state["cache"][4] = state["cache"][4].float()
    with pytest.raises(ValueError, match="cache entry 4 is not a float16 tensor"):
        recv.load_state_dict(state)
    assert recv.cache[4].dtype == torch.float16


def test_checkpoint_keys_read_back_as_integers_and_rows_must_match_the_ids():
    send, recv = (AQSGDEndpoint(make_codec("fixpoint", bits=3)) for _ in range(2))
    send.send([4], torch.ones(1, 2, 2))
    state = send.state_dict()
    state["cache"] = {"4": state["cache"][4]}  # a checkpoint written with string keys (JSON, say)
    recv.load_state_dict(state)
    assert list(recv.cache) == [4] and recv.message_bytes([4], (1, 2, 2)) == 6  # cached: a delta message
    with pytest.raises(ValueError, match="2 rows for 1 sample ids"):
        send.send([4], torch.ones(2, 2, 2))


def test_an_empty_micro_batch_and_an_unknown_cache_dtype():
    recv = AQSGDEndpoint(make_codec("fixpoint", bits=3))
    assert recv.receive([], b"", (0, 2, 3)).shape == (0, 2, 3)
    with pytest.raises(ValueError, match="cache_dtype must be one of"):
        AQSGDEndpoint(make_codec("fixpoint", bits=3), cache_dtype="int8")
