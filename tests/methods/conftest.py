"""Shared fixtures for the methods tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_intra_op_thread():
    """Run each methods test on one intra-op thread (restored afterwards).

    The tensors here are tiny; on a loaded 2-core machine, OpenMP barriers between two threads made small
    matmuls up to ~100x slower. One thread also makes float reductions independent of the core count.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
