"""Modular batteries for fast frequency response (follows arXiv 2504.03150, performance-aware scheduling).

`modules` (electrical model and state), `presets` (stand-in module sets), `aging` (rainflow cycle aging and its
subgradient), `scheduler` (the MIQCP in cvxpy + SCIP and the activation-priority QCP), `baselines`
(capacity-proportional, SoC-based), `simulate` (the closed loop). cvxpy, pyscipopt and rainflow are imported
only inside the functions that need them.
"""
