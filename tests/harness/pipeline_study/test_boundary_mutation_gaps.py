"""Gaps in the tests of `harness.pipeline_study.boundary` found by a mutation audit.

And of `harness.pipeline_study.stages`.

Closed here:
- an AQ-SGD boundary keeps its cache in the dtype its codec spec names (``cache_dtype``), float16 by default;
- the payload size `encode` reports is the codec's own bytes before padding (TAH-Quant pads to its fixed buffer),
  and a payload longer than the wire size is refused;
- `tensor_digest` covers every element of the tensor;
- `build_stage` refuses a stage index outside ``0 .. n_stages - 1``; the model and the data set depend on their seed.
"""

from __future__ import annotations

import pytest
import torch

from harness.pipeline_study.boundary import BoundaryCodec, tensor_digest
from harness.pipeline_study.plan import ModelSpec
from harness.pipeline_study.stages import build_stage, full_model, make_dataset
from harness.workloads.pipeline_step import CodecSpec


@pytest.mark.parametrize(("params", "dtype"), [({"bits": 4}, torch.float16),
                                               ({"bits": 4, "cache_dtype": "float32"}, torch.float32)])
def test_aqsgd_cache_dtype_follows_the_spec(params, dtype):
    assert BoundaryCodec(CodecSpec(name="aqsgd", params=params)).endpoint.cache_dtype == dtype


def test_encode_reports_the_payload_before_padding():
    codec = BoundaryCodec(CodecSpec(name="tahquant"))
    x = torch.randn(2, 16, 64, generator=torch.Generator().manual_seed(0))  # not every tile flagged
    message, _, payload = codec.encode([0, 1], x)
    assert len(message) == codec.wire_bytes([0, 1], x.shape)
    assert payload < len(message)
    assert message[payload:] == bytes(len(message) - payload)


def test_tensor_digest_sees_every_element():
    x = torch.zeros(4, 8)
    y = x.clone()
    y[-1, -1] = 1.0
    assert tensor_digest(x) != tensor_digest(y)
    assert tensor_digest(x) == tensor_digest(x.double())  # float32 bytes: the dtype sent does not matter


def test_build_stage_refuses_a_stage_outside_the_pipeline():
    model = ModelSpec(d_model=32, d_ff=64, n_heads=2, n_layers=2, vocab_size=50)
    with pytest.raises(ValueError, match="stage: expected 0..1, got 2"):
        build_stage(model, 2, 2, 8, seed=0)
    with pytest.raises(ValueError, match="got -1"):
        build_stage(model, 2, -1, 8, seed=0)


def test_the_data_set_depends_on_its_seed_and_stays_in_the_vocabulary():
    a, b = make_dataset(4, 16, 50, seed=0), make_dataset(4, 16, 50, seed=1)
    assert not torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) < 50


class _FixedWire:
    """A codec whose wire size is ``size`` bytes."""

    def __init__(self, inner, size):
        self.inner, self.size = inner, size

    def encode(self, x):
        return self.inner.encode(x)

    def payload_bytes(self, shape):
        return self.size


def test_a_payload_longer_than_the_wire_size_is_refused():
    codec = BoundaryCodec(CodecSpec(name="fixpoint", params={"bits": 6}))
    x = torch.ones(1, 4, 8)
    inner = codec.codec
    payload = len(inner.encode(x).payload)
    codec.codec = _FixedWire(inner, payload)  # exactly the payload: sent as is
    assert len(codec.encode([0], x)[0]) == payload
    codec.codec = _FixedWire(inner, payload - 1)  # one byte short
    with pytest.raises(AssertionError, match=f"payload of {payload} B exceeds the wire size {payload - 1} B"):
        codec.encode([0], x)


def test_the_whole_model_depends_on_its_seed():
    model = ModelSpec(d_model=32, d_ff=64, n_heads=2, n_layers=2, vocab_size=50)
    one, other = full_model(model, 8, seed=0), full_model(model, 8, seed=1)
    assert not torch.equal(one.embed_tokens.weight, other.embed_tokens.weight)
