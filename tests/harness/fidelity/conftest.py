"""Fixtures of the fidelity tests."""

from __future__ import annotations

import subprocess

import pytest

from harness.fidelity.netns import list_namespaces


@pytest.fixture
def no_leftovers(request):
    """After the test: no namespace named with the test module's ``PREFIX`` is left (removed either way)."""
    yield
    leftovers = list_namespaces(request.module.PREFIX)
    for name in leftovers:  # clean even when the assertion below fails
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
    assert leftovers == [], f"namespaces left behind: {leftovers}"
