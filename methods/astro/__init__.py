"""Astrophysics methods: counterpart-driven e± pair cascades that can truncate fast radio bursts.

Follows the mechanism of He, Keitel & Tamburini, "Counterpart-Induced Millisecond-Scale Truncation Mechanism of
Fast Radio Bursts" (arXiv 2505.14413): leptons energised by the FRB wave Compton up-scatter the photons of the
burst's X-ray counterpart, and the up-scattered γ-rays make e⁺e⁻ pairs on the same photons (Breit–Wheeler). The
paper's body could not be read; the physics is rebuilt from standard radiative processes (modules' docstrings).

Modules: `constants` (CGS, CODATA), `cross_sections` (Klein–Nishina, Breit–Wheeler, event kinematics),
`inverse_compton` (isotropic IC emissivity), `counterpart` (FRB 200428's X-ray burst fits), `wave` (a₀ vs radius),
`field` (the photon field and the cascade's rate tables), `cascade_rate` (mean-field ODEs), `cascade_mc`
(generation-by-generation Monte Carlo), `truncation` (plasma cut-off, energy depletion, opacity).
Nothing here imports naima or numba at import time.
"""
