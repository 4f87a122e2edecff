"""Peak bytes of the tensors alive at once while a module runs, traced on the meta device (nothing is allocated).

Used to refuse, at validation, a measured run that would not fit in memory (`harness.workloads.decision_latency`,
which imports this module only then: it imports torch). `LiveBytes` is a torch dispatch mode: each op's new outputs
are counted until they are freed, views share their base's storage, and in-place results add nothing. Allocator
slack and kernel workspaces are not seen.

Example::

    with torch.device("meta"):
        module, x = torch.nn.Linear(1024, 4096), torch.empty(64, 1024)
    with torch.inference_mode(), LiveBytes() as tracker:
        module(x)
    tracker.peak  # 64 * 4096 * 4 bytes: the output
"""

from __future__ import annotations

import itertools
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveBytes(TorchDispatchMode):
    """``peak``: the most bytes of op outputs alive at once inside the ``with`` block (inputs not counted)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self.storage: dict[int, int] = {}  # id(tensor) -> its storage's key
        self.storages: dict[int, list[int]] = {}  # key -> [bytes, tensors alive on it]
        self.keys = itertools.count()

    def _drop(self, tensor_id: int, key: int) -> None:
        del self.storage[tensor_id]
        entry = self.storages[key]
        entry[1] -= 1
        if not entry[1]:
            self.live -= entry[0]
            del self.storages[key]

    def _track(self, tensor: torch.Tensor, key: int) -> None:
        self.storages[key][1] += 1
        self.storage[id(tensor)] = key
        weakref.finalize(tensor, self._drop, id(tensor), key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        given = [a for a in tree_leaves((args, kwargs)) if isinstance(a, torch.Tensor)]
        base = self.storage.get(id(args[0])) if func.is_view and args else None
        for tensor in tree_leaves(out):
            if not isinstance(tensor, torch.Tensor) or id(tensor) in self.storage or any(tensor is a for a in given):
                continue  # in place, or already counted: no new storage
            if func.is_view:
                if base is not None:  # a view of an op output shares its storage; of an input or parameter: nothing
                    self._track(tensor, base)
                continue
            key = next(self.keys)
            self.storages[key] = [tensor.untyped_storage().nbytes(), 0]
            self.live += self.storages[key][0]
            self.peak = max(self.peak, self.live)
            self._track(tensor, key)
        return out
