"""Fixtures of the offline-RL method tests: the tiny Minari Hopper dataset (session-wide, in a temporary root)."""

from __future__ import annotations

import pytest

from tests.methods.offline_rl.minari_fixture import make_tiny_hopper


@pytest.fixture(scope="session")
def tiny_hopper(tmp_path_factory):
    return make_tiny_hopper(tmp_path_factory.mktemp("minari"))
