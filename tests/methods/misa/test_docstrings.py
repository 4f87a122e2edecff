"""Every docstring example in methods/misa runs and stays true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["sampling", "active_set", "misa", "lisa", "baselines", "memory", "train"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(f"methods.misa.{name}"), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"methods.misa.{name} has no docstring example"
    assert result.failed == 0
