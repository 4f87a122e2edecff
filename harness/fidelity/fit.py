"""Fit the alpha-beta (Hockney) model ``t(S) = alpha + S * beta`` to point-to-point times.

The only calibration of the fidelity study: alpha (ns per message) and beta (ns per byte) come from ping-pong
measurements alone, never from the collectives they are then used to predict.

The fit minimises the squared RELATIVE residuals ``sum(((alpha + S_i beta) / t_i - 1)^2)`` under
``alpha, beta >= 0`` (non-negative least squares, `scipy.optimize.nnls`): sizes span four decades, and plain
least squares would let the largest message decide alpha; relative residuals weigh every size alike.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AlphaBetaFit:
    """``t(S) = alpha_ns + S * ns_per_byte``, fitted on ``n_points`` sizes with relative RMS error ``rel_rms``."""

    alpha_ns: float
    ns_per_byte: float
    n_points: int
    rel_rms: float

    @property
    def bytes_per_ns(self) -> float:
        return 1.0 / self.ns_per_byte

    @property
    def bandwidth_gbps(self) -> float:
        """Fitted bandwidth in gigabits per second (1 byte/ns = 8 Gbit/s)."""
        return 8.0 / self.ns_per_byte

    def predict_ns(self, size_bytes: np.ndarray | float) -> np.ndarray | float:
        return self.alpha_ns + np.asarray(size_bytes, dtype=float) * self.ns_per_byte


def fit_alpha_beta(size_bytes, time_ns) -> AlphaBetaFit:
    """Fit alpha (ns) and beta (ns/byte) to one-way p2p times; see the module docstring for the objective.

    Raises ``ValueError`` for fewer than two distinct sizes, non-positive times or sizes, mismatched lengths,
    or data with no size dependence at all (beta = 0 leaves the bandwidth undefined).
    """
    from scipy.optimize import nnls

    sizes = np.asarray(size_bytes, dtype=float)
    times = np.asarray(time_ns, dtype=float)
    if sizes.shape != times.shape or sizes.ndim != 1:
        raise ValueError(f"size_bytes and time_ns: expected two 1-D arrays of one length, got {sizes.shape}, {times.shape}")
    if np.unique(sizes).size < 2:
        raise ValueError(f"size_bytes: expected at least two distinct sizes, got {np.unique(sizes).tolist()}")
    if not (np.all(np.isfinite(sizes)) and np.all(sizes > 0)):
        raise ValueError("size_bytes: expected finite numbers > 0")
    if not (np.all(np.isfinite(times)) and np.all(times > 0)):
        raise ValueError("time_ns: expected finite numbers > 0")
    # Scale the columns so nnls sees numbers of order one (alpha ~ 1e5 ns, beta ~ 1 ns/byte).
    alpha_scale, beta_scale = float(np.median(times)), float(np.median(times / sizes))
    design = np.column_stack([alpha_scale / times, beta_scale * sizes / times])
    coef, _ = nnls(design, np.ones_like(times))
    alpha_ns, ns_per_byte = coef[0] * alpha_scale, coef[1] * beta_scale
    if ns_per_byte * sizes.max() <= 1e-9 * np.median(times):  # beta = 0 up to rounding
        raise ValueError("time_ns: no size dependence in the data (fitted beta = 0), so the bandwidth is undefined")
    rel = (alpha_ns + ns_per_byte * sizes) / times - 1.0
    return AlphaBetaFit(
        alpha_ns=float(alpha_ns),
        ns_per_byte=float(ns_per_byte),
        n_points=int(sizes.size),
        rel_rms=float(np.sqrt(np.mean(rel**2))),
    )
