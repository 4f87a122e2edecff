"""Mutation gaps of the DDP communication hook (methods/compress/ddp_hooks.py), on a one-rank gloo group in this
process (no worker processes).

Closes: without ``named_parameters`` the state is keyed by bucket index and position, so tensors at the same
position of two buckets keep separate error-feedback memories.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch
import torch.distributed as dist

from methods.compress.ddp_hooks import CompressionHookState, compression_hook


class Bucket:
    """The GradBucket surface the hook uses: one gradient per bucket."""

    def __init__(self, index, param, grad, last):
        self._index, self._params, self._last = index, [param], last
        self._buffer = grad.reshape(-1).clone()
        self._grads = [self._buffer.view(grad.shape)]

    def index(self):
        return self._index

    def buffer(self):
        return self._buffer

    def gradients(self):
        return self._grads

    def parameters(self):
        return self._params

    def is_last(self):
        return self._last


@pytest.fixture(scope="module")
def one_rank_group():
    if dist.is_initialized():
        pytest.skip("a default process group already exists in this process")
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=f"file://{os.path.join(tmp, 'rdv')}", rank=0, world_size=1)
        try:
            yield
        finally:
            dist.destroy_process_group()


def test_tensors_at_the_same_position_of_two_buckets_keep_their_own_memory(one_rank_group):
    state = CompressionHookState("topk", "ef14", compressor_params={"ratio": 0.25}, start_iter=2)
    w, b = torch.nn.Parameter(torch.zeros(8)), torch.nn.Parameter(torch.zeros(4))
    gw, gb = torch.arange(1.0, 9.0), torch.tensor([4.0, 3.0, 2.0, 1.0])
    for _ in range(3):
        outs = [compression_hook(state, Bucket(0, w, gw, last=False)).wait().clone(),
                compression_hook(state, Bucket(1, b, gb, last=True)).wait().clone()]
    memory = state.pipeline.error_feedback
    # iteration 2, the first compressed one: one rank keeps its 2 of 8 and 1 of 4 largest entries
    assert memory.memory("bucket0.0")["error"].tolist() == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 0.0, 0.0]
    assert memory.memory("bucket1.0")["error"].tolist() == [0.0, 3.0, 2.0, 1.0]
    assert outs[0].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 7.0, 8.0]
    assert outs[1].tolist() == [4.0, 0.0, 0.0, 0.0]
