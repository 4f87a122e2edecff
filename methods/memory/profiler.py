"""Measured activation memory: the bytes autograd keeps for backward, per module, and the peak of a step.

Follows the memory profile of MoC (Wu, He, Wang, Yuan, arXiv 2511.09323: activation memory split by module once
FlashAttention is in use). Every tensor autograd saves passes through a ``torch.autograd.graph.saved_tensors_hooks``
pack hook; we count its *storage* once (views of one buffer, e.g. ``x.view(...)`` saved by two ops, are one
allocation), skip the storages of the model's parameters and buffers (they exist without any forward pass) and
attribute each new storage to the innermost module running when it was first saved (forward pre/post hooks keep a
stack of module names; code outside every submodule is attributed to ``""``). What checkpointed regions save stays
inside ``torch.utils.checkpoint``'s own hooks, so only their inputs are counted, as intended.

The peak is the allocator's: on CUDA ``torch.cuda.max_memory_allocated`` above the allocation before the step; on
CPU the running maximum of the ``torch.profiler`` allocation record (``profile_memory=True``: each op's own net
allocation at its start, frees outside ops as they happen) over forward and backward. The two differ in base: a
saved storage that existed before the step (an input such as a language model's token ids, kept by the embedding
and the loss) is in ``saved_bytes`` but not in the peak, so ``peak_bytes >= saved_bytes - (saved inputs' bytes)``
is what holds, and with tiny activations the peak can be the smaller number.

Example::

    >>> import torch
    >>> layer = torch.nn.Linear(4, 3)
    >>> x = torch.randn(5, 4, requires_grad=True)
    >>> prof = profile_step(layer, lambda: layer(x).sum(), backward=False, peak=False)
    >>> prof.saved_bytes  # x: 5 * 4 fp32 values (the weight is a parameter, not counted)
    80
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class SavedTensor:
    """One storage autograd kept for backward: who saved it first, its shape, dtype and storage bytes."""

    module: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    nbytes: int


@dataclass
class MemoryProfile:
    """What one forward (and optionally backward) pass kept and peaked at."""

    saved: list[SavedTensor] = field(default_factory=list)
    peak_bytes: int | None = None

    @property
    def saved_bytes(self) -> int:
        return sum(s.nbytes for s in self.saved)

    def by_module(self) -> dict[str, int]:
        """Saved bytes per module name (modules that saved nothing new are absent)."""
        out: dict[str, int] = {}
        for s in self.saved:
            out[s.module] = out.get(s.module, 0) + s.nbytes
        return out

    def by_group(self, group: Callable[[str], str]) -> dict[str, int]:
        """Saved bytes summed by ``group(module_name)``."""
        out: dict[str, int] = {}
        for name, nbytes in self.by_module().items():
            key = group(name)
            out[key] = out.get(key, 0) + nbytes
        return out


def _storage_key(t: torch.Tensor) -> tuple[str, int]:
    storage = t.untyped_storage()
    return (str(t.device), storage.data_ptr())


@contextmanager
def _module_stack(model: nn.Module) -> Iterator[list[str]]:
    stack = [""]
    handles = []

    def leave(_module: nn.Module, _args: object, _out: object) -> None:
        stack.pop()

    for name, module in model.named_modules():
        if not name:
            continue
        handles.append(module.register_forward_pre_hook(lambda _m, _a, n=name: stack.append(n)))
        handles.append(module.register_forward_hook(leave))
    try:
        yield stack
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def record_saved(model: nn.Module, extra_exclude: tuple[torch.Tensor, ...] = ()) -> Iterator[MemoryProfile]:
    """Within the block, every storage autograd saves (new, not a parameter/buffer of ``model``) is recorded."""
    profile = MemoryProfile()
    excluded = {_storage_key(t) for t in (*model.parameters(), *model.buffers(), *extra_exclude)}
    seen: set[tuple[str, int]] = set()
    with _module_stack(model) as stack:

        def pack(t: torch.Tensor) -> torch.Tensor:
            key = _storage_key(t)
            if key not in excluded and key not in seen:
                seen.add(key)
                profile.saved.append(SavedTensor(stack[-1], tuple(t.shape), t.dtype, t.untyped_storage().nbytes()))
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            yield profile


def _cpu_peak(events) -> int:
    # frees outside any op are ``[memory]`` events; what an op allocates (net of what it frees inside) is its self
    # memory, counted at its start
    deltas = sorted(
        ((e.time_range.start, e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage)
         for e in events),
        key=lambda p: p[0],
    )
    live = peak = 0
    for _, delta in deltas:
        live += delta
        peak = max(peak, live)
    return peak



@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the block: torch's CPU profiler prints a line from native code at
    every start and stop, which Python's ``sys.stderr`` cannot catch."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def profile_step(
    model: nn.Module,
    run: Callable[[], torch.Tensor],
    *,
    backward: bool = True,
    peak: bool = True,
    device: str | torch.device = "cpu",
) -> MemoryProfile:
    """Run ``run()`` (a forward pass returning a scalar) under the saved-tensor hooks, then its backward.

    Args:
        model: the module whose submodules the saved bytes are attributed to (its parameters and buffers are
            not counted).
        run: forward pass returning a scalar loss.
        backward: also run ``loss.backward()`` (part of the peak).
        peak: measure the peak allocation above the start (CUDA allocator stats, or CPU profiler memory events).
        device: where the step runs (selects the peak measurement).
    """
    device = torch.device(device)
    if peak and device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    prof_ctx = None
    if peak and device.type == "cpu":
        prof_ctx = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True)
        with _native_stderr_silenced():  # the profiler's native start line
            prof_ctx.__enter__()
    try:
        with record_saved(model) as profile:
            loss = run()
        if backward:
            loss.backward()
        del loss
    finally:
        if prof_ctx is not None:
            with _native_stderr_silenced():  # and its stop line
                prof_ctx.__exit__(None, None, None)
    if peak and device.type == "cuda":
        torch.cuda.synchronize(device)
        profile.peak_bytes = torch.cuda.max_memory_allocated(device) - start
    elif prof_ctx is not None:
        profile.peak_bytes = _cpu_peak(prof_ctx.events())
    return profile
