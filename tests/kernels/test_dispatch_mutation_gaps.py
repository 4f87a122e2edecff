"""Gaps in the tests of `kernels.dispatch` found by a mutation audit.

Closed here:
- auto picks torch for a call without tensors or with a reason Triton cannot run it, even on CUDA tensors;
- a forced Triton call with a reason is refused naming it; without triton installed it is refused;
- a forced Triton call on CPU tensors needs TRITON_INTERPRET (1 / true / yes / on, any case; unset means off);
- an unknown impl name is refused; `next_power_of_2` on hand-worked values.
"""

from __future__ import annotations

import pytest
import torch

from kernels import dispatch
from kernels.dispatch import choose_impl, interpreting, next_power_of_2


class _FakeCuda:
    is_cuda = True
    device = "cuda:0"


def test_auto_without_tensors_or_with_a_reason_is_torch(monkeypatch):
    monkeypatch.setattr(dispatch, "triton_installed", lambda: True)
    assert choose_impl(None, _FakeCuda()) == "triton"
    assert choose_impl(None) == "torch"
    assert choose_impl(None, _FakeCuda(), unsupported="too wide") == "torch"
    assert choose_impl(None, _FakeCuda(), torch.zeros(1)) == "torch"


def test_a_forced_triton_call_with_a_reason_is_refused(monkeypatch):
    monkeypatch.setattr(dispatch, "triton_installed", lambda: True)
    with pytest.raises(ValueError, match="impl='triton' cannot run this call: rows too wide"):
        choose_impl("triton", _FakeCuda(), unsupported="rows too wide")
    assert choose_impl("triton", _FakeCuda()) == "triton"
    assert choose_impl("torch", _FakeCuda(), unsupported="rows too wide") == "torch"


def test_a_forced_triton_call_without_triton_is_refused(monkeypatch):
    monkeypatch.setattr(dispatch, "triton_installed", lambda: False)
    with pytest.raises(ValueError, match="needs the triton package"):
        choose_impl("triton", _FakeCuda())
    assert choose_impl(None, _FakeCuda()) == "torch"


def test_a_forced_triton_call_on_cpu_tensors_needs_the_interpreter(monkeypatch):
    monkeypatch.setattr(dispatch, "triton_installed", lambda: True)
    monkeypatch.setattr(dispatch, "fix_interpreter_for_numpy_2_4", lambda: None)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert not interpreting()
    with pytest.raises(ValueError, match=r"needs CUDA tensors .*got devices \['cpu'\]"):
        choose_impl("triton", torch.zeros(1))
    for value in ("1", "TRUE", "yes", "On"):
        monkeypatch.setenv("TRITON_INTERPRET", value)
        assert interpreting() and choose_impl("triton", torch.zeros(1)) == "triton"
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    assert not interpreting()


def test_an_unknown_impl_is_refused():
    with pytest.raises(ValueError, match="impl must be one of triton, torch or None"):
        choose_impl("cuda", torch.zeros(1))


def test_next_power_of_2_on_hand_worked_values():
    assert [next_power_of_2(n) for n in (1, 2, 3, 4, 5, 8, 9, 1000, 1024, 1025)] == [
        1, 2, 4, 4, 8, 8, 16, 1024, 1024, 2048]
