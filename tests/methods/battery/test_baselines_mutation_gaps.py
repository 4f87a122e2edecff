"""Gaps found by a mutation audit of methods/battery/baselines.py: the capacity and SoC sharing rules and the
water-filling on lossless modules, with shares computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from methods.battery.baselines import allocate, water_fill
from methods.battery.modules import ModuleParams

DT_H = 2.0 / 3600


def lossless(name: str, soc0: float, capacity: float = 50.0) -> ModuleParams:
    return ModuleParams(name, capacity, 25, 400, 0.0, 0.0, 0.0, 0.0, soc0=soc0, soh=0.8)


def test_soc_rule_shares_by_headroom_in_the_request_direction():
    modules = (lossless("A", 0.5), lossless("B", 0.3))
    soc = np.array([0.5, 0.3])
    # discharge: S - S_min = 0.4, 0.2 -> 2 : 1; charge: S_max - S = 0.4, 0.6 -> 2 : 3
    assert allocate("soc", modules, soc, 30.0, DT_H) == pytest.approx([20.0, 10.0])
    assert allocate("soc", modules, soc, -30.0, DT_H) == pytest.approx([-12.0, -18.0])
    # 45 kW: A's 30 kW share is capped at its 25 kW rating, B takes the other 20 kW
    assert allocate("soc", modules, soc, 45.0, DT_H) == pytest.approx([25.0, 20.0])


def test_capacity_rule_shares_by_usable_energy():
    modules = (lossless("A", 0.5, 50.0), lossless("B", 0.3, 25.0))  # 40 and 20 usable kWh
    soc = np.array([0.5, 0.3])
    assert allocate("capacity", modules, soc, 30.0, DT_H) == pytest.approx([20.0, 10.0])
    assert allocate("capacity", modules, soc, -15.0, DT_H) == pytest.approx([-10.0, -5.0])
    assert allocate("capacity", modules, soc, 0.0, DT_H) == pytest.approx([0.0, 0.0])
    with pytest.raises(ValueError, match="unknown baseline"):
        allocate("equal", modules, soc, 1.0, DT_H)


def test_water_fill_hands_the_rest_to_modules_without_weight():
    assert water_fill(10.0, np.array([1.0, 0.0]), np.array([4.0, 10.0])) == pytest.approx([4.0, 6.0])
    assert water_fill(10.0, np.array([1.0, 0.0]), np.array([4.0, 0.5])) == pytest.approx([4.0, 0.5])
    # more than every cap: each module full, the rest is the shortfall
    assert water_fill(30.0, np.array([1.0, 3.0]), np.array([4.0, 10.0])) == pytest.approx([4.0, 10.0])
    assert water_fill(2.0, np.array([1.0, 3.0]), np.array([0.0, 10.0])) == pytest.approx([0.0, 2.0])


# ------------------------------------------------------------------ activation priority (scheduler.py)
def _module(name: str, r_pack: float, soc0: float) -> ModuleParams:
    return ModuleParams(name, 50, 25, 400, r_pack, 0.02, 0.6, 40, soc0=soc0)


def test_priority_count_breaks_even_at_the_hand_computed_power():
    """Two equal modules (rho = 0.08 Ohm / (400 V)^2 = 5e-4 /kW, b = 0.04 kW): one costs R^2 rho + b, two
    R^2 rho / 2 + 2 b, so the second is worth it above R = sqrt(2 b / rho) = 12.65 kW."""
    from methods.battery.scheduler import priority_activation

    modules = (_module("A", 0.06, 0.5), _module("B", 0.06, 0.5))
    soc, zeros = np.array([0.5, 0.5]), np.zeros(2)
    assert priority_activation(modules, soc, 11.0, zeros, zeros, DT_H).tolist() == [1.0, 0.0]
    assert priority_activation(modules, soc, 15.0, zeros, zeros, DT_H).tolist() == [1.0, 1.0]
    assert priority_activation(modules, soc, -15.0, zeros, zeros, DT_H).tolist() == [1.0, 1.0]


def test_priority_ranks_by_relative_loss_minus_relative_headroom():
    """Zero aging slopes: score = rho / max rho - headroom / max headroom. A (0.4 Ohm, SoC 0.9, headroom 0.8)
    scores 1 - 1 = 0; B (0.08 Ohm, SoC 0.2, headroom 0.1; rho ratio 0.2 (437.3 / 378.7)^2 = 0.267 with the OCV)
    scores 0.267 - 0.125 > 0, so A goes first; listed in either order."""
    from methods.battery.scheduler import priority_activation

    a, b = _module("A", 0.38, 0.9), _module("B", 0.06, 0.2)
    zeros = np.zeros(2)
    assert priority_activation((a, b), np.array([0.9, 0.2]), 1.0, zeros, zeros, DT_H).tolist() == [1.0, 0.0]
    assert priority_activation((b, a), np.array([0.2, 0.9]), 1.0, zeros, zeros, DT_H).tolist() == [0.0, 1.0]


def test_allocation_cost_charges_every_switch_either_way():
    from methods.battery.scheduler import Prices, allocation_cost

    modules = (lossless("A", 0.5), lossless("B", 0.5))
    soc, zeros = np.array([0.5, 0.5]), np.zeros(2)
    prices = Prices(switch_usd=0.01)
    # A switched off, B switched on, nothing asked, no loss: two switches
    cost = allocation_cost(modules, soc, zeros, np.array([0.0, 1.0]), np.array([1.0, 0.0]), zeros, zeros, 0.0,
                           prices=prices)
    assert cost == pytest.approx(0.02)
    # 10 kW short for 2 s at 100 $/kWh, nothing switched
    cost = allocation_cost(modules, soc, zeros, np.ones(2), np.ones(2), zeros, zeros, 10.0, prices=prices)
    assert cost == pytest.approx(100.0 * 10.0 * DT_H)
