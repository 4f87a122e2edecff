"""Gaps in the tests of `presets` found by a mutation audit.

Closed here:
- Case II's resistances are Case I's pulled halfway to their mean (hand-computed, to the 0.1 mOhm rounding), all
  else unchanged;
- the regulation capacity of each case (60 kW, 90 kW) and the Case I figures the module docstring states;
- `scaled_modules`: names M1..Mn, Case I cycled (all six modules, in order), only the pack resistance jittered, by
  at most +-10% and to both sides, deterministic in the seed (default 0).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from methods.battery.presets import CASE1, CASE2, CASES, scaled_modules


def test_case2_pulls_each_resistance_halfway_to_the_mean():
    # Case I: 60, 80, 100, 120, 150, 180 mOhm, mean 115 mOhm; halfway: (r + 115) / 2
    assert [m.r_pack_ohm for m in CASE2] == pytest.approx([0.0875, 0.0975, 0.1075, 0.1175, 0.1325, 0.1475],
                                                          abs=1e-12)
    for one, two in zip(CASE1, CASE2, strict=True):
        assert replace(two, r_pack_ohm=one.r_pack_ohm) == one


def test_cases_pair_each_module_set_with_its_regulation_capacity():
    assert CASES["case1"] == (CASE1, 60.0)
    assert CASES["case2"] == (CASE2, 90.0)


def test_case1_spans_the_stated_ranges():
    assert [m.name for m in CASE1] == ["M1", "M2", "M3", "M4", "M5", "M6"]
    assert [m.r_pack_ohm for m in CASE1] == pytest.approx([0.060, 0.080, 0.100, 0.120, 0.150, 0.180])
    assert [m.soh for m in CASE1] == pytest.approx([0.95, 0.90, 0.85, 0.82, 0.80, 0.80])
    assert sum(m.power_kw for m in CASE1) == 120
    # 50 x 0.95 + 50 x 0.90 + 40 x 0.85 + 40 x 0.82 + 30 x 0.80 x 2 usable kWh
    assert sum(m.energy_kwh for m in CASE1) == pytest.approx(207.3)


def test_scaled_modules_cycle_case1_and_jitter_only_the_resistance():
    modules = scaled_modules(13)
    assert [m.name for m in modules] == [f"M{i}" for i in range(1, 14)]
    ratios = []
    for i, module in enumerate(modules):
        base = CASE1[i % 6]
        assert replace(module, name=base.name, r_pack_ohm=base.r_pack_ohm) == base
        ratios.append(module.r_pack_ohm / base.r_pack_ohm)
    assert all(0.9 <= r <= 1.1 for r in ratios)
    assert min(ratios) < 0.95 and max(ratios) > 1.05  # both sides of the nominal value


def test_scaled_modules_are_deterministic_in_the_seed():
    assert scaled_modules(8) == scaled_modules(8, seed=0) == scaled_modules(8, seed=0)
    assert scaled_modules(8, seed=1) != scaled_modules(8, seed=0)
