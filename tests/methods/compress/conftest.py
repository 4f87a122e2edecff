"""Fixtures of the compression tests."""

from __future__ import annotations

import os
import tempfile

import pytest
import torch.distributed as dist


@pytest.fixture(scope="module")
def one_rank_group():
    """A one-rank gloo process group (DDP hooks run in this process), destroyed after the module."""
    if dist.is_initialized():
        pytest.skip("a default process group already exists in this process")
    with tempfile.TemporaryDirectory() as tmp:
        dist.init_process_group("gloo", init_method=f"file://{os.path.join(tmp, 'rdv')}", rank=0, world_size=1)
        try:
            yield
        finally:
            dist.destroy_process_group()
