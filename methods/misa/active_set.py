"""A block-coordinate optimizer shell: AdamW on a changing set of active parameters, state only for those.

Shared by MISA (arXiv 2511.00056, module blocks) and LISA (Pan et al., arXiv 2403.17919, layer blocks), as in
MISA's code where one ``BlockCoordinateDesentOptimizer`` runs both: parameters outside the active set have
``requires_grad=False`` (autograd keeps no input for their weight gradient and computes none) and no optimizer
state; when a parameter leaves the set, its AdamW state is deleted from ``optimizer.state``. Parameters are updated
in their own dtype (no fp32 master copies: the models here train in fp32).

`state_bytes` measures what the base optimizer really holds: the bytes of every tensor in ``optimizer.state``.

Example::

    >>> import torch
    >>> a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(5))
    >>> opt = ActiveSetAdamW([a, b], lr=0.1)
    >>> opt.activate([a]); a.grad = torch.ones(3); opt.step(); state_bytes(opt.base)  # exp_avg, exp_avg_sq, step
    28
    >>> opt.activate([b]); state_bytes(opt.base), a.requires_grad
    (0, False)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of every tensor the optimizer keeps in ``optimizer.state`` (one count per storage)."""
    seen: set[int] = set()
    total = 0
    for state in optimizer.state.values():
        for value in state.values():
            # tensors, and tensors one attribute deep (GaLore keeps its projection matrix in a projector object)
            inner = vars(value).values() if hasattr(value, "__dict__") and not torch.is_tensor(value) else [value]
            for t in inner:
                if torch.is_tensor(t) and t.untyped_storage().data_ptr() not in seen:
                    seen.add(t.untyped_storage().data_ptr())
                    total += t.untyped_storage().nbytes()
    return total


class ActiveSetAdamW:
    """AdamW over ``params`` of which only the `activate`-d ones are trainable at a time."""

    def __init__(self, params: Iterable[nn.Parameter], *, retain_states: bool = False, **adamw_kwargs: object):
        self.params = list(params)
        self.retain_states = retain_states
        self.active: list[nn.Parameter] = []
        self.peak_state_bytes = 0  # largest `state_bytes` seen right after a step
        # a placeholder keeps torch from refusing an empty parameter list; it never joins a step
        self.base = torch.optim.AdamW([torch.zeros(0, requires_grad=True)], **adamw_kwargs)
        self.base.param_groups[0]["params"] = []
        for p in self.params:
            p.requires_grad_(False)

    def activate(self, active: Iterable[nn.Parameter], *, keep_state: Iterable[nn.Parameter] = ()) -> None:
        """Make exactly ``active`` trainable; drop the state of parameters that leave (or of all, unless
        ``retain_states``: MISA's code keeps the state of a module drawn again, the paper clears every state).
        Parameters in ``keep_state`` that stay active keep their state in any case (LISA's always-on ones)."""
        new = list(active)
        keep = {id(p) for p in new}
        kept = {id(p) for p in keep_state} & keep
        for p in self.params:
            if id(p) not in keep:
                p.requires_grad_(False)
                p.grad = None
            if p in self.base.state and (id(p) not in keep or not (self.retain_states or id(p) in kept)):
                del self.base.state[p]
        for p in new:
            p.requires_grad_(True)
        self.active = new
        self.base.param_groups[0]["params"] = new

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.base.step()
        self.peak_state_bytes = max(self.peak_state_bytes, self.state_bytes())

    def state_bytes(self) -> int:
        return state_bytes(self.base)
