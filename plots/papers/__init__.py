"""Figure modules, one per paper (``harness_core.py``, ``arctopk.py``, ...), found automatically.

Each module registers its figures with `plots.registry.register_figure` when imported; `load_all()` imports every
module in this package once, so `plots.registry.FIGURES` is complete. A new paper's figures are one new file here.
"""

from __future__ import annotations

import importlib
import pkgutil

from plots.registry import FIGURES, FigureRegistry


def module_names() -> list[str]:
    """The figure modules in this package, sorted."""
    return sorted(info.name for info in pkgutil.iter_modules(__path__) if not info.name.startswith("_"))


def load_all(*, keep_going: bool = False) -> tuple[FigureRegistry, dict[str, str]]:
    """Import every figure module (idempotent); return `FIGURES` and the modules that failed to import.

    With ``keep_going=False`` the first broken module raises; with True its error is returned as
    ``{module name: "ExceptionType: message"}`` so the figures of the other papers still render.
    """
    errors: dict[str, str] = {}
    for name in module_names():
        try:
            importlib.import_module(f"{__name__}.{name}")
        except Exception as err:  # noqa: BLE001 - reported by the caller when keep_going
            if not keep_going:
                raise
            errors[name] = f"{type(err).__name__}: {err}"
    return FIGURES, errors
