"""Gaps in the tests of `methods.compress.randk` found by a mutation audit.

Closes: the default ratio (0.2, both papers) is what a bare ``RandK()`` plans on the wire.
"""

from __future__ import annotations

from methods.compress import make_compressor


def test_default_ratio_keeps_a_fifth_of_the_entries():
    randk = make_compressor("randk")
    assert randk.ratio == 0.2
    # 100 fp32 entries: k = 20 values in one All-Reduce, no indices
    assert [(c.op, c.size_bytes) for c in randk.comm_plan((100,), n_workers=2)] == [("all_reduce", 80)]
