"""Battery module electrical model (arXiv 2504.03150: conduction + switching losses of packs and converters).

A module is a pack behind a bidirectional converter on a common bus. Sign: positive power = discharge to the bus.
With bus-side power P and battery-side power Pb (kW), pack voltage V(SoC) and current I = Pb / V:

    Pb = P + L,    L = (R_pack + R_conv) I^2 + a |I| + b u

(conduction loss, quadratic; switching loss of a hard-switched half bridge, linear in |I| with a = 1/2 V_dc
(t_r + t_f) f_sw; standby/gate-drive loss b while the converter is on, u = 1). In power form
L = rho Pb^2 + (a / V) |Pb| + b u with rho = R / V^2. SoC moves by -Pb dt / E. `battery_power` inverts Pb = P + L
exactly (the plant model); the optimizer uses the same L as a convex quadratic constraint.

OCV(SoC) is a generic NMC cell curve (`OCV_CELL_V`, points read by us off typical NMC open-circuit-voltage curves
such as the LG M50 data of Chen et al., J. Electrochem. Soc. 167 (2020) 080534; approximate, not a fit), scaled so
that OCV(0.5) equals the module's nominal voltage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: SoC grid and cell open-circuit voltage (V) of the generic NMC curve (module docstring).
OCV_SOC = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
OCV_CELL_V = np.array([3.00, 3.45, 3.55, 3.62, 3.68, 3.75, 3.85, 3.95, 4.02, 4.10, 4.20])
#: The curve relative to its value at SoC 0.5 (a module's v_nom).
OCV_RELATIVE = OCV_CELL_V / float(np.interp(0.5, OCV_SOC, OCV_CELL_V))


@dataclass(frozen=True)
class ModuleParams:
    """One battery module and its converter.

    Attributes:
        name: label.
        capacity_kwh: nameplate energy; usable energy is ``capacity_kwh * soh``.
        power_kw: converter rating (bus side), both directions.
        v_nom: pack voltage at SoC 0.5 (V).
        r_pack_ohm, r_conv_ohm: pack resistance; converter conduction resistance (MOSFET R_ds,on + inductor ESR).
        switch_v: switching-loss coefficient a (V): switching loss = a |I|.
        standby_w: loss while the converter is on (gate drive, controller), W.
        soc0: initial SoC; soh: state of health (capacity fraction); soc_min / soc_max: SoC window.
    """

    name: str
    capacity_kwh: float
    power_kw: float
    v_nom: float
    r_pack_ohm: float
    r_conv_ohm: float
    switch_v: float
    standby_w: float
    soc0: float = 0.5
    soh: float = 1.0
    soc_min: float = 0.1
    soc_max: float = 0.9

    def __post_init__(self) -> None:
        for key in ("capacity_kwh", "power_kw", "v_nom", "soh"):
            if not getattr(self, key) > 0:
                raise ValueError(f"{key}: expected a number > 0, got {getattr(self, key)}")
        for key in ("r_pack_ohm", "r_conv_ohm", "switch_v", "standby_w"):
            if getattr(self, key) < 0:
                raise ValueError(f"{key}: expected a number >= 0, got {getattr(self, key)}")
        if not (0.0 <= self.soc_min <= self.soc0 <= self.soc_max <= 1.0):
            raise ValueError(f"soc0: expected soc_min <= soc0 <= soc_max within [0, 1], got "
                             f"{self.soc_min}, {self.soc0}, {self.soc_max}")

    @property
    def energy_kwh(self) -> float:
        return self.capacity_kwh * self.soh

    def ocv(self, soc: float) -> float:
        """Open-circuit pack voltage (V) at ``soc``."""
        return self.v_nom * float(np.interp(soc, OCV_SOC, OCV_RELATIVE))

    def loss_coefficients(self, soc: float) -> tuple[float, float, float]:
        """(rho [1/kW], a/V [-], b [kW]) of L = rho Pb^2 + (a/V)|Pb| + b u at ``soc`` (power in kW)."""
        v = self.ocv(soc)
        rho = (self.r_pack_ohm + self.r_conv_ohm) / v**2 * 1e3
        return rho, self.switch_v / v, self.standby_w * 1e-3


def loss_kw(pb_kw: float, rho: float, a_over_v: float, b_kw: float, on: bool) -> float:
    """L (kW) at battery-side power ``pb_kw``; zero when the converter is off."""
    if not on:
        return 0.0
    return rho * pb_kw**2 + a_over_v * abs(pb_kw) + b_kw


def battery_power(p_kw: float, rho: float, a_over_v: float, b_kw: float, on: bool) -> float:
    """Solve Pb = P + L(Pb) for the battery-side power (the physical root); ValueError if P is beyond reach.

    Pb >= 0 when P + b >= 0: rho Pb^2 - (1 - a/V) Pb + (P + b) = 0, smaller root.
    Pb < 0 otherwise:       rho Pb^2 - (1 + a/V) Pb + (P + b) = 0, negative root.
    """
    if not on:
        if abs(p_kw) > 1e-9:
            raise ValueError(f"a module with its converter off carries no power, got {p_kw} kW")
        return 0.0
    c = p_kw + b_kw
    slope = 1.0 - a_over_v if c >= 0 else 1.0 + a_over_v
    if rho == 0.0:
        return c / slope
    disc = slope**2 - 4.0 * rho * c
    if disc < 0:
        raise ValueError(f"P = {p_kw} kW is beyond the module's maximum power transfer")
    # Numerically stable smaller-magnitude root: 2c / (slope + sqrt(disc)).
    return 2.0 * c / (slope + math.sqrt(disc))


def max_discharge_kw(module: ModuleParams, soc: float, dt_h: float) -> float:
    """Largest bus-side discharge this step (negative: must absorb): rating and the SoC floor, losses included."""
    rho, av, b = module.loss_coefficients(soc)
    pb_floor = max(0.0, (soc - module.soc_min) * module.energy_kwh / dt_h)
    pb = min(pb_floor, battery_power(module.power_kw, rho, av, b, True))
    # At the floor this is -b: a module that stays on must take its standby loss from the bus.
    return min(module.power_kw, pb - loss_kw(pb, rho, av, b, True))


def max_charge_kw(module: ModuleParams, soc: float, dt_h: float) -> float:
    """Largest bus-side charge (as a positive number): converter rating and the SoC ceiling (at the ceiling: b)."""
    rho, av, b = module.loss_coefficients(soc)
    pb_ceiling = max(0.0, (module.soc_max - soc) * module.energy_kwh / dt_h)
    pb = -min(pb_ceiling, -battery_power(-module.power_kw, rho, av, b, True))
    return max(0.0, min(module.power_kw, -(pb - loss_kw(pb, rho, av, b, True))))
