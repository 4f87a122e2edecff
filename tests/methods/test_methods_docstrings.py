"""Every docstring example in methods/compress, methods/data and methods/models runs and stays true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "methods.compress.base",
    "methods.compress.collectives",
    "methods.compress.none",
    "methods.compress.topk",
    "methods.compress.randk",
    "methods.compress.arc_topk",
    "methods.compress.powersgd",
    "methods.compress.greedylore",
    "methods.compress.error_feedback",
    "methods.compress.pipeline",
    "methods.compress.simulated",
    "methods.data.sharding",
    "methods.data.digits",
    "methods.data.synthetic",
    "methods.data.corpus",
    "methods.data.tasks_finetune",
    "methods.models.init",
    "methods.models.mlp",
    "methods.models.cnn",
    "methods.models.gpt",
    "methods.models.llama_family",
    "methods.memory.profiler",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0
