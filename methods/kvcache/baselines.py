"""Baseline KV-cache presses for Chelsea's comparisons (arXiv 2506.11418 compares Full, StreamingLLM, SnapKV and
CaM), taken from kvpress itself: this module only maps names to kvpress classes at a common budget.

``budget`` is the fraction of the cache kept (Chelsea's cache ratio R); kvpress's ``compression_ratio`` is the
fraction removed, so 1 - budget. ``full`` is no press. ``h2o`` is kvpress's `ObservedAttentionPress` (H2O-style
accumulated attention; the model must run with ``attn_implementation="eager"``). ``merging`` is kvpress's
`MergingPress` (merge-on-evict around SnapKV). ``cam`` is kvpress's decode-time `CAMPress` compressing to
``target_size`` tokens every ``compression_interval`` decode steps; its eviction scores come from kvpress's
`TOVAPress` (the current token's attention: CaM decides on attention, and SnapKV's observation window does not fit
the few buffered decode steps).

>>> sorted(BASELINES)
['cam', 'chelsea', 'full', 'h2o', 'merging', 'snapkv', 'streaming_llm']
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kernels.registry import Registry
from methods.kvcache.chelsea import check_budget

PressFactory = Callable[..., Any]
BASELINES: Registry[PressFactory] = Registry("kv-cache press")


@BASELINES.register("full")
def _full(budget: float = 1.0, **_: Any) -> None:
    return None


@BASELINES.register("streaming_llm")
def _streaming_llm(budget: float, **kw: Any) -> Any:
    from kvpress import StreamingLLMPress

    return StreamingLLMPress(compression_ratio=1.0 - check_budget(budget), **kw)


@BASELINES.register("snapkv")
def _snapkv(budget: float, **kw: Any) -> Any:
    from kvpress import SnapKVPress

    return SnapKVPress(compression_ratio=1.0 - check_budget(budget), **kw)


@BASELINES.register("h2o")
def _h2o(budget: float, **kw: Any) -> Any:
    from kvpress import ObservedAttentionPress

    return ObservedAttentionPress(compression_ratio=1.0 - check_budget(budget), **kw)


@BASELINES.register("merging")
def _merging(budget: float, **kw: Any) -> Any:
    from kvpress import MergingPress, SnapKVPress

    return MergingPress(press=SnapKVPress(compression_ratio=1.0 - check_budget(budget)), **kw)


@BASELINES.register("cam")
def _cam(budget: float, target_size: int, compression_interval: int = 1, **kw: Any) -> Any:
    from kvpress import CAMPress, TOVAPress

    check_budget(budget)
    return CAMPress(base_press=TOVAPress(), target_size=target_size, compression_interval=compression_interval,
                    **kw)


@BASELINES.register("chelsea")
def _chelsea(budget: float, **kw: Any) -> Any:
    from methods.kvcache.press import ChelseaPress

    return ChelseaPress(budget=budget, **kw)


def make_press(name: str, budget: float, **kw: Any) -> Any:
    """The press called ``name`` at ``budget`` (fraction kept); unknown names list the known ones."""
    return BASELINES.get(name)(budget=budget, **kw)
