"""Gaps in the tests of `kernels.registry` found by a mutation audit.

Closed here:
- registering a key twice raises ValueError naming the family and the key (directly and via the decorator);
- the decorator returns the object it registers;
- an unknown key raises KeyError listing the known keys sorted ("(none)" when empty);
- membership, iteration and `items` are by name, sorted, whatever the registration order.
"""

from __future__ import annotations

import pytest

from kernels.registry import Registry


def test_a_key_registered_twice_is_refused_naming_family_and_key():
    reg: Registry[int] = Registry("timed op")
    reg.add("copy", 1)
    with pytest.raises(ValueError, match="timed op 'copy' is registered twice"):
        reg.add("copy", 2)
    assert reg.get("copy") == 1


def test_the_decorator_registers_and_returns_the_object():
    reg: Registry[object] = Registry("figure")

    @reg.register("fig1")
    def fig1() -> str:
        return "drawn"

    assert fig1() == "drawn"
    assert reg.get("fig1") is fig1
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("fig1")(lambda: None)


def test_an_unknown_key_lists_the_known_ones_sorted():
    reg: Registry[int] = Registry("workload kind")
    assert len(reg) == 0
    with pytest.raises(KeyError, match=r"unknown workload kind 'x'; known: \(none\)"):
        reg.get("x")
    for name in ("toy", "collective", "grid_cluster"):
        reg.add(name, len(name))
    with pytest.raises(KeyError, match="unknown workload kind 'tyo'; known: collective, grid_cluster, toy"):
        reg.get("tyo")


def test_membership_iteration_and_items_are_sorted_by_name():
    reg: Registry[int] = Registry("technique")
    for value, name in enumerate(("b", "c", "a")):
        reg.add(name, value)
    assert "a" in reg and "d" not in reg
    assert list(reg) == ["a", "b", "c"]
    assert reg.items() == [("a", 2), ("b", 0), ("c", 1)]
    assert len(reg) == 3
