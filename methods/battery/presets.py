"""Stand-in module sets for the two case studies of arXiv 2504.03150 (its "real-world battery data" is unknown).

Case I: the six heterogeneous second-life-like modules of the research card's stand-in table (capacities 30-50 kWh,
pack resistance 60-180 mOhm, SoH 0.80-0.95). Case II: the same modules with the resistance spread narrowed (all
pack resistances pulled halfway to their mean) and a larger regulation capacity (higher utilization), the card's
reading of "Case II" (mildly heterogeneous / higher utilization). Converter switching coefficient a and standby b
are in the range of a hard-switched SiC half bridge at ~20 kHz (a = 1/2 V_dc (t_r + t_f) f_sw with t_r + t_f ~
150 ns gives ~0.6 V at 400 V); these are our assumptions, stated in battery.tab2.
"""

from __future__ import annotations

from dataclasses import replace

from methods.battery.modules import ModuleParams

CASE1: tuple[ModuleParams, ...] = (
    ModuleParams("M1", 50, 25, 400, 0.060, 0.020, 0.6, 40, soc0=0.55, soh=0.95),
    ModuleParams("M2", 50, 25, 400, 0.080, 0.020, 0.6, 40, soc0=0.45, soh=0.90),
    ModuleParams("M3", 40, 20, 380, 0.100, 0.025, 0.7, 35, soc0=0.60, soh=0.85),
    ModuleParams("M4", 40, 20, 380, 0.120, 0.025, 0.7, 35, soc0=0.40, soh=0.82),
    ModuleParams("M5", 30, 15, 360, 0.150, 0.030, 0.8, 30, soc0=0.50, soh=0.80),
    ModuleParams("M6", 30, 15, 360, 0.180, 0.030, 0.8, 30, soc0=0.52, soh=0.80),
)


def _narrowed(modules: tuple[ModuleParams, ...]) -> tuple[ModuleParams, ...]:
    mean = sum(m.r_pack_ohm for m in modules) / len(modules)
    return tuple(replace(m, r_pack_ohm=round(0.5 * (m.r_pack_ohm + mean), 4)) for m in modules)


CASE2: tuple[ModuleParams, ...] = _narrowed(CASE1)

#: Case name -> (modules, regulation capacity C_reg in kW).
CASES: dict[str, tuple[tuple[ModuleParams, ...], float]] = {
    "case1": (CASE1, 60.0),
    "case2": (CASE2, 90.0),
}


def scaled_modules(n: int, seed: int = 0) -> tuple[ModuleParams, ...]:
    """``n`` modules cycling through Case I with a deterministic +-10% jitter of resistances (scale studies)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        base = CASE1[i % len(CASE1)]
        jitter = float(rng.uniform(0.9, 1.1))
        out.append(replace(base, name=f"M{i + 1}", r_pack_ohm=base.r_pack_ohm * jitter))
    return tuple(out)
