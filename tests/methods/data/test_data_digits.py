"""Digits come from the bundled copy (no download), standardised, stratified, sharded deterministically."""

from __future__ import annotations

import torch

from methods.data.digits import DigitsShards, load_digits_split


def test_bundled_digits_split_and_shards(monkeypatch):
    import sklearn.datasets as skd

    def no_download(*args, **kwargs):
        raise AssertionError("a fetch_* download was attempted")

    for name in dir(skd):
        if name.startswith("fetch_"):
            monkeypatch.setattr(skd, name, no_download)
    data = load_digits_split(test_fraction=0.25, seed=0)
    assert data.x_train.shape[1] == 64 and data.x_train.shape[0] + data.x_test.shape[0] == 1797
    assert abs(float(data.x_train.mean())) < 1e-5 and set(data.y_test.tolist()) == set(range(10))
    assert data.images(data.x_test).shape == (data.x_test.shape[0], 1, 8, 8)
    a, b = DigitsShards(data, 3, 16, seed=1), DigitsShards(data, 3, 16, seed=1)
    xa, ya = a.batch(2, 9)
    xb, yb = b.batch(2, 9)
    assert torch.equal(xa, xb) and torch.equal(ya, yb) and xa.dtype == torch.float32
