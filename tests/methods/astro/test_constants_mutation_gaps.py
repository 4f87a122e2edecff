"""Gaps in the tests of `methods.astro.constants` found by a mutation audit.

Closed here (the module had no test of its own: factor-of-ten slips were caught by the physics tests, but a
transposed digit in the parsec, 3 × 10⁻⁴ off, went through their percent-level tolerances):
- every constant against its published value (CODATA 2022, the SI definitions, IAU 2015 B2) converted to CGS by
  hand;
- the Gaussian-unit relations that tie them together: r_e = e² / (m_e c²), σ_T = (8π/3) r_e², m_e c² in keV from
  m_e c² in erg.
"""

from __future__ import annotations

import math

import pytest

from methods.astro import constants as k


@pytest.mark.parametrize(("name", "published"), [
    ("C_CM_S", 2.99792458e10),  # exact
    ("M_E_G", 9.1093837139e-28),  # CODATA 2022: 9.1093837139e-31 kg
    ("E_STATC", 4.80320471257e-10),  # 1.602176634e-19 C × 2.99792458e9 statC/C
    ("ERG_PER_KEV", 1.602176634e-9),  # exact
    ("ME_C2_ERG", 8.1871057880e-7),  # CODATA 2022: 8.1871057880e-14 J
    ("ME_C2_KEV", 510.99895069),  # CODATA 2022
    ("R_E_CM", 2.8179403205e-13),  # CODATA 2022: 2.8179403205e-15 m
    ("SIGMA_T_CM2", 6.6524587051e-25),  # CODATA 2022: 6.6524587051e-29 m²
    ("PC_CM", 3.0856775814913673e18),  # IAU 2015 B2
    ("KPC_CM", 3.0856775814913673e21),
    ("H_ERG_S", 6.62607015e-27),  # exact
    ("K_B_KEV_K", 8.617333262e-8),  # CODATA 2022: 8.617333262e-5 eV/K
    ("FOUR_PI", 12.566370614359172),
])
def test_constant_has_its_published_cgs_value(name, published):
    assert getattr(k, name) == pytest.approx(published, rel=1e-9, abs=0)


def test_gaussian_unit_relations_between_the_constants():
    # classical electron radius r_e = e² / (m_e c²) in Gaussian units
    assert k.E_STATC**2 / k.ME_C2_ERG == pytest.approx(k.R_E_CM, rel=1e-9, abs=0)
    assert 8 * math.pi / 3 * k.R_E_CM**2 == pytest.approx(k.SIGMA_T_CM2, rel=1e-9, abs=0)
    assert k.M_E_G * k.C_CM_S**2 / k.ERG_PER_KEV == pytest.approx(k.ME_C2_KEV, rel=1e-12, abs=0)
    assert k.KPC_CM / k.PC_CM == pytest.approx(1e3, rel=1e-15)
