"""Gaps in the tests of `harness.compression_cost` found by a mutation audit.

Closed here:
- ARC-Top-K on a vector (``vectors="topk_of_mean"``): the vector is its own sketch, a d x 1 matrix of rows;
- `OpPricer`: ``overhead_ms`` is added to every prediction, and a cached prediction is counted again in
  ``sources`` each time it is used;
- factorisations of a 4-byte gradient run in its own dtype (``dtype`` None), only 2-byte ones in float32;
- (a fault the audit found, fixed) a registered timed op is priced at its own dtype: ARC-Top-K's selection over
  float32 scores was priced from the bf16 rows of ``topk_flat`` when the gradients were bf16.
"""

from __future__ import annotations

import pytest

from harness.compression_cost import OpPricer, gemm, qr, svd, tensor_work
from harness.devices import get_device
from harness.timing.replay import Prediction
from kernels.registry import Registry
from methods.compress import make_compressor


class _Replay:
    """Times every replayed op at 2 ms (source 'exact')."""

    def __init__(self):
        self.device = get_device("h100")
        self.calls = 0

    def predict(self, op, *, dtype="float32", impl=None, **shape):
        self.calls += 1
        return Prediction(2.0, "exact", "stub")


def _pricer(overhead_ms=0.0):
    pricer = OpPricer(_Replay(), "float32", overhead_ms=overhead_ms)
    pricer._registered = lambda: Registry("timed op")  # type: ignore[method-assign]
    return pricer


def test_arc_topk_on_a_vector_scores_its_own_values_and_packs_rows_of_one():
    comp = make_compressor("arc_topk", ratio=0.25, vectors="topk_of_mean")
    work = tensor_work(comp, (20,), 4)
    # d = 20 fp32 values, k = 5: the vector is sent as the sketch (80 B), then its 5 largest entries (20 B)
    assert [p.size_bytes for p in work.payloads] == [80, 20] and not work.dense
    layout = [[(op.primitive, op.sizes, op.bytes_moved) for op in slot] for slot in work.slots]
    assert layout == [
        [("elementwise", {"numel": 20}, 160.0)],  # the sketch is the vector itself: read + write
        [("elementwise", {"numel": 20}, 80.0),  # scores: one pass over the d values
         ("topk_select", {"numel": 20, "k": 5}, 4 * 20 * 4 + 5 * (4 + 8)),
         ("pack_rows", {"rows": 20, "cols": 1, "k": 5}, 2 * 5 * 1 * 4 + 8 * 5)],
        [("unpack_rows", {"rows": 20, "cols": 1, "k": 5}, (20 + 5) * 4 + 8 * 5)] * 2,
    ]


def test_the_overhead_is_added_to_every_prediction():
    pricer = _pricer(overhead_ms=0.25)
    assert pricer.time_ms(gemm(8, 8, 8, 4)) == pytest.approx(2.25)
    assert pricer.time_ms(gemm(8, 8, 8, 4)) == pytest.approx(2.25)  # a cached one too


def test_a_cached_prediction_is_counted_each_time_it_is_used():
    pricer = _pricer()
    for _ in range(3):
        pricer.time_ms(gemm(8, 8, 8, 4))
    assert pricer.replay.calls == 1
    assert pricer.sources == {"gemm": {"matmul:exact": 3}}


def test_only_factorisations_of_two_byte_gradients_run_in_float32():
    assert qr(64, 4, 4).dtype is None and svd(16, 64, 4).dtype is None
    assert qr(64, 4, 4).bytes_moved == 2 * 64 * 4 * 4
    assert qr(64, 4, 2).dtype == "float32" and svd(16, 64, 2).dtype == "float32"
    assert qr(64, 4, 2).bytes_moved == 2 * 64 * 4 * 4  # float32 operands


class _ReplayByDtype(_Replay):
    """Times every replayed op at 1 ms in float32 and 3 ms in bfloat16, remembering the dtype of each call."""

    def __init__(self):
        super().__init__()
        self.dtypes = []

    def predict(self, op, *, dtype="float32", impl=None, **shape):
        self.dtypes.append((op, dtype))
        return Prediction({"float32": 1.0, "bfloat16": 3.0}[dtype], "exact", "stub")


def test_a_registered_op_is_priced_at_its_own_dtype_not_the_gradients():
    """ARC-Top-K selects rows by float32 scores whatever the gradient dtype; Top-K selects the bf16 values."""
    pricer = OpPricer(_ReplayByDtype(), "bfloat16")
    arc = [op for slot in tensor_work(make_compressor("arc_topk", ratio=0.25, rank=2), (16, 8), 2).slots
           for op in slot if op.primitive == "topk_select"]
    topk = [op for slot in tensor_work(make_compressor("topk", ratio=0.25), (16, 8), 2).slots
            for op in slot if op.primitive == "topk_select"]
    assert pricer.time_ms(arc[0]) == 1.0 and pricer.time_ms(topk[0]) == 3.0
    assert pricer.replay.dtypes == [("topk_flat", "float32"), ("topk_flat", "bfloat16")]
