"""Scenario kinds. Each module here registers one kind with `register_workload`; `load_all()` imports them."""

from __future__ import annotations

import importlib
import pkgutil

from harness.workloads.base import WORKLOADS, RunContext, RunOutput, register_workload  # noqa: F401


def load_all() -> None:
    """Import every kind module in this package (idempotent), so WORKLOADS is complete."""
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base" and not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")
