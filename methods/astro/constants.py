"""Physical constants and unit conversions in CGS (Gaussian) units, for the FRB pair-cascade model.

Values are the CODATA 2022 set shipped by ``scipy.constants`` (exact SI definitions for c, e, h, k), converted to
CGS here; the parsec is the IAU 2015 Resolution B2 value.
"""

from __future__ import annotations

import math

from scipy import constants as _si

#: speed of light [cm s⁻¹] (exact, SI definition)
C_CM_S: float = _si.c * 1e2
#: electron mass [g] (CODATA)
M_E_G: float = _si.m_e * 1e3
#: elementary charge [statC] (exact e in C times c/10)
E_STATC: float = _si.e * _si.c * 10.0
#: erg per keV (exact from e)
ERG_PER_KEV: float = _si.e * 1e3 * 1e7
#: electron rest energy m_e c² [erg] and [keV] (CODATA 2022: 510.99895069 keV)
ME_C2_ERG: float = M_E_G * C_CM_S**2
ME_C2_KEV: float = ME_C2_ERG / ERG_PER_KEV
#: classical electron radius r_e [cm] (CODATA 2022: 2.8179403205e-15 m)
R_E_CM: float = _si.physical_constants["classical electron radius"][0] * 1e2
#: Thomson cross section σ_T = (8π/3) r_e² [cm²] (CODATA 2022: 6.6524587051e-29 m²)
SIGMA_T_CM2: float = _si.physical_constants["Thomson cross section"][0] * 1e4
#: parsec [cm] (IAU 2015 Resolution B2: 3.0856775814913673e16 m)
PC_CM: float = 3.0856775814913673e18
KPC_CM: float = 1e3 * PC_CM
#: Planck constant [erg s] (exact) and Boltzmann constant [keV K⁻¹] (exact)
H_ERG_S: float = _si.h * 1e7
K_B_KEV_K: float = _si.k / _si.e / 1e3

FOUR_PI: float = 4.0 * math.pi
