"""Error feedback as composable wrappers around any compressor: none, EF14, EF21, EF21M, EF21-SGD2M.

Each wrapper owns one worker's per-tensor memory and turns a gradient into the *aggregated direction* the
optimizer consumes (SGD, momentum SGD or Adam: set it as ``.grad`` and call ``optimizer.step()``). It is a
session like a compressor's (see `methods.compress.base`), so it runs unchanged over simulated workers and
torch.distributed.

- ``none``:  output = mean_i C(g_i).
- ``ef14`` (Seide et al. 2014; Stich et al. 2018): h_i = g_i + e_i; c_i = C(h_i); e_i = h_i - c_i;
  output = mean_i c_i. Identity: e_new + c == g + e_old.
- ``ef21`` (Richtarik, Sokolov, Fatkhullin 2021): per-worker state g_i and server state g.
  c_i = C(grad_i - g_i); g_i += c_i; g += mean_i c_i; output g. Invariant: g == mean_i g_i at every step.
  ``dense_init=True`` (the authors' hook) initialises g_i = grad_i, g = mean with one dense All-Reduce at the
  first compressed step; ``dense_init=False`` starts from zero ("cold start", the ARC synthetic script).
- ``ef21m`` (Fatkhullin, Tyurin, Richtarik 2023, "Momentum provably improves error feedback"): local momentum
  v_i = (1 - eta) v_i + eta grad_i (v_i = grad_i at the first call), then EF21 on v_i. eta = 1 is EF21; with
  the identity compressor it is dense momentum SGD (torch SGD with momentum = dampening = 1 - eta).
  First step: the EF21M paper's v_0 = e_0 = g_0 (default); ``zero_init=True``: v_0 = 0, the first call's
  momentum is eta g_0; ``authors_first_step=True``: the ARC authors' v_0 = 0, e_0 = g_0 (the first call sends the
  raw gradient dense and leaves the momentum at 0).
- ``ef21_sgd2m``: double momentum, u_i = (1 - eta) u_i + eta v_i on top of v_i, then EF21 on u_i (the
  "EF21 double momentum" column of the ARC synthetic figure).
The ARC synthetic script uses the heavy-ball form v = beta v + g from v = 0 with a cold start; for a positively
homogeneous compressor (Top-K, Rand-K, ARC) that is exactly ``ef21m(eta=1 - beta, zero_init=True,
dense_init=False)`` with the step size divided by eta (``ef21_sgd2m``: divided by eta^2), because then every
state is eta (eta^2) times the script's.

Example::

    >>> import torch
    >>> from methods.compress import make_compressor, make_error_feedback, CompressContext
    >>> from methods.compress import SimulatedCollective, run_lockstep
    >>> comps = [make_compressor("topk", ratio=0.5) for _ in range(2)]
    >>> efs = [make_error_feedback("ef14") for _ in range(2)]
    >>> grads = [torch.tensor([1.0, 0.1, 0.2, 3.0]), torch.tensor([0.0, 2.0, 0.3, 1.0])]
    >>> sessions = [[ef.run(c, g, CompressContext("w", 0, n_workers=2))] for ef, c, g in zip(efs, comps, grads)]
    >>> run_lockstep(sessions, SimulatedCollective(2))[0][0].tolist()
    [0.5, 1.0, 0.0, 2.0]
    >>> [round(v, 3) for v in efs[0].memory("w")["error"].tolist()]
    [0.0, 0.1, 0.2, 0.0]
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch

from kernels.registry import Registry
from methods.arguments import check_number
from methods.compress.base import CompressContext, Compressor, Request, _clone_tree, build_registered, dense_session

DirectionGen = Generator[Request, torch.Tensor, torch.Tensor]


@dataclass
class ErrorFeedback(ABC):
    """Base class: per-tensor memory in ``self._memory[name]`` plus the `run` session.

    Attributes (class level):
        name: registry key.
        dense_first_step: the first compressed call of a tensor is a dense All-Reduce (EF21 initialisation).
    """

    name: ClassVar[str] = ""
    dense_first_step: ClassVar[bool] = False

    _memory: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @abstractmethod
    def run(self, compressor: Compressor, grad: torch.Tensor, ctx: CompressContext) -> DirectionGen:
        """Session for one tensor on one worker; returns the aggregated direction (shaped like ``grad``)."""

    def memory(self, name: str) -> dict[str, torch.Tensor]:
        """This worker's memory for tensor ``name`` (empty before its first call)."""
        return self._memory.get(name, {})

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "memory": _clone_tree(self._memory)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ValueError(f"state_dict is for error feedback {state.get('name')!r}, not {self.name!r}")
        self._memory = _clone_tree(state["memory"])


ERROR_FEEDBACK: Registry[type[ErrorFeedback]] = Registry("error feedback")


def _register(cls: type[ErrorFeedback]) -> type[ErrorFeedback]:
    ERROR_FEEDBACK.add(cls.name, cls)
    return cls


@_register
@dataclass
class NoErrorFeedback(ErrorFeedback):
    """Plain compression: output = mean_i C(g_i), no memory."""

    name: ClassVar[str] = "none"

    def run(self, compressor: Compressor, grad: torch.Tensor, ctx: CompressContext) -> DirectionGen:
        result = yield from compressor.compress(grad, ctx)
        return result.aggregate


@_register
@dataclass
class EF14(ErrorFeedback):
    """Classic error feedback: compress g + e, keep what was not sent."""

    name: ClassVar[str] = "ef14"

    def run(self, compressor: Compressor, grad: torch.Tensor, ctx: CompressContext) -> DirectionGen:
        mem = self._memory.setdefault(ctx.name, {})
        error = mem.get("error")
        rule = compressor.error_rule(ctx.name, tuple(grad.shape))  # "add", or GreedyLore's refresh rule
        h = grad + error if error is not None and rule == "add" else grad.clone()
        result = yield from compressor.compress(h, ctx)
        residual = h - result.local
        mem["error"] = error + residual if error is not None and rule == "inherit" else residual
        return result.aggregate


@_register
@dataclass
class EF21(ErrorFeedback):
    """EF21: workers send compressed differences to their last state; the server mirrors the mean.

    Args:
        dense_init: initialise local and server states with one dense All-Reduce (else from zero).
    """

    name: ClassVar[str] = "ef21"

    dense_init: bool = True

    @property
    def dense_first_step(self) -> bool:  # type: ignore[override]
        return self.dense_init

    def _target(self, grad: torch.Tensor, mem: dict[str, torch.Tensor]) -> torch.Tensor:
        """The quantity EF21 tracks (the gradient; momentum variants override)."""
        return grad

    def _first_target(self, grad: torch.Tensor, mem: dict[str, torch.Tensor]) -> torch.Tensor:
        """What the dense initialisation sends (``dense_init``): the tracked quantity (momentum variants may
        send the raw gradient instead, see `EF21M.authors_first_step`)."""
        return self._target(grad, mem)

    def run(self, compressor: Compressor, grad: torch.Tensor, ctx: CompressContext) -> DirectionGen:
        mem = self._memory.setdefault(ctx.name, {})
        first_dense = "local" not in mem and self.dense_init
        target = self._first_target(grad, mem) if first_dense else self._target(grad, mem)
        if "local" not in mem:
            if self.dense_init:
                result = yield from dense_session(target)
                mem["local"] = target.clone()
                mem["server"] = result.aggregate.clone()
                return result.aggregate.clone()
            mem["local"] = torch.zeros_like(target)
            mem["server"] = torch.zeros_like(target)
        result = yield from compressor.compress(target - mem["local"], ctx)
        mem["local"] = mem["local"] + result.local
        mem["server"] = mem["server"] + result.aggregate
        return mem["server"].clone()


def _average(avg: torch.Tensor | None, new: torch.Tensor, eta: float, zero_init: bool) -> torch.Tensor:
    """(1 - eta) avg + eta new; the first value is ``new`` itself, or eta * new with ``zero_init``."""
    if avg is None:
        return eta * new if zero_init else new.clone()
    return (1.0 - eta) * avg + eta * new


def _check_eta(name: str, eta: float) -> None:
    if not (0.0 < check_number(f"{name}.eta", eta) <= 1.0):
        raise ValueError(f"{name}.eta: expected a momentum weight in (0, 1], got {eta}")


@dataclass
class _MomentumEF21(EF21):
    """EF21 on a local momentum; subclasses say which (`_momenta`).

    Args:
        eta: momentum weight in (0, 1].
        zero_init: start the momentum from 0 (first v = eta grad) instead of from its first input.
        authors_first_step: the ARC authors' first step, v_0 = 0 and e_0 = g_0: the first call all-reduces the
            raw gradient densely (local state e_i = g_i, server state its mean, output the mean) and leaves the
            momentum at 0, so the next call tracks v = eta g_1. Needs ``dense_init=True``. Default False: the
            EF21M paper's v_0 = e_0 = g_0 (``zero_init=False``).
        dense_init: as in `EF21`.
    """

    eta: float = 0.1
    zero_init: bool = False
    authors_first_step: bool = False

    #: memory keys of the momenta, innermost first
    _momentum_keys: ClassVar[tuple[str, ...]] = ("momentum",)

    def __post_init__(self) -> None:
        _check_eta(self.name, self.eta)
        if self.authors_first_step and not self.dense_init:
            raise ValueError(f"{self.name}.authors_first_step: needs dense_init=True (e_0 = g_0 is a dense All-Reduce)")

    def _target(self, grad: torch.Tensor, mem: dict[str, torch.Tensor]) -> torch.Tensor:
        value = grad
        for key in self._momentum_keys:
            mem[key] = value = _average(mem.get(key), value, self.eta, self.zero_init)
        return value

    def _first_target(self, grad: torch.Tensor, mem: dict[str, torch.Tensor]) -> torch.Tensor:
        if not self.authors_first_step:
            return self._target(grad, mem)
        for key in self._momentum_keys:
            mem[key] = torch.zeros_like(grad)
        return grad


@_register
@dataclass
class EF21M(_MomentumEF21):
    """EF21 on a local momentum v_i = (1 - eta) v_i + eta grad_i.

    Args:
        eta: momentum weight in (0, 1]; 1 gives EF21. (The ARC numerical code uses 0.9.)
        zero_init: start the momentum from 0 (first v = eta grad) instead of v = grad (EF21M's init).
        authors_first_step: v_0 = 0, e_0 = g_0 (the ARC authors' first step); see `_MomentumEF21`.
        dense_init: as in `EF21`.
    """

    name: ClassVar[str] = "ef21m"


@_register
@dataclass
class EF21SGD2M(_MomentumEF21):
    """EF21 on a double momentum: v_i as in EF21M, u_i = (1 - eta) u_i + eta v_i.

    Args:
        eta: momentum weight in (0, 1] for both averages.
        zero_init: start both averages from 0 instead of from their first input.
        authors_first_step: v_0 = u_0 = 0, e_0 = g_0; see `_MomentumEF21`.
        dense_init: as in `EF21`.
    """

    name: ClassVar[str] = "ef21_sgd2m"

    _momentum_keys: ClassVar[tuple[str, ...]] = ("momentum", "momentum2")


def make_error_feedback(name: str, **params: Any) -> ErrorFeedback:
    """Build a registered error-feedback wrapper (``none``, ``ef14``, ``ef21``, ``ef21m``, ``ef21_sgd2m``)."""
    try:
        cls = ERROR_FEEDBACK.get(name)
    except KeyError as exc:
        raise ValueError(str(exc.args[0])) from None
    return build_registered("error feedback", name, cls, params)
