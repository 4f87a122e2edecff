"""The docstring examples of methods/kvcache run and stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["methods.kvcache.chelsea", "methods.kvcache.attention", "methods.kvcache.baselines"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    if name.endswith("baselines"):
        pytest.importorskip("kvpress", reason="the kv extra (kvpress) is not installed")
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
