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
    """``t(S) = alpha_ns + max(0, S * w - b) * ns_per_byte`` (``w = wire_bytes_per_byte``, ``b = free_bytes``;
    plain Hockney when 1 and 0), fitted on ``n_points`` sizes with relative RMS error ``rel_rms``."""

    alpha_ns: float
    ns_per_byte: float
    n_points: int
    rel_rms: float
    wire_bytes_per_byte: float = 1.0
    free_bytes: float = 0.0

    @property
    def bytes_per_ns(self) -> float:
        """Payload bytes per ns once the bucket is empty (wire rate divided by the header overhead)."""
        return 1.0 / (self.ns_per_byte * self.wire_bytes_per_byte)

    @property
    def bandwidth_gbps(self) -> float:
        """Fitted bandwidth in gigabits per second on the wire (1 byte/ns = 8 Gbit/s)."""
        return 8.0 / self.ns_per_byte

    def predict_ns(self, size_bytes: np.ndarray | float) -> np.ndarray | float:
        size = np.asarray(size_bytes, dtype=float)
        return self.alpha_ns + np.maximum(0.0, size * self.wire_bytes_per_byte - self.free_bytes) * self.ns_per_byte


def fit_alpha_beta(size_bytes, time_ns, wire_bytes_per_byte: float = 1.0, free_bytes: float = 0.0) -> AlphaBetaFit:
    """Fit alpha (ns) and beta (ns/byte) to one-way p2p times; see the module docstring for the objective.

    Through a token-bucket (tbf) link the model is ``t = alpha + beta * max(0, S * w - b)``: ``w`` wire bytes per
    payload byte (protocol headers) and ``b`` bytes that a full bucket lets through unthrottled (its burst), both
    known from the configuration. Then beta is ns per WIRE byte, directly comparable with the configured rate.
    The defaults (``w = 1``, ``b = 0``) are the plain Hockney model.

    Raises ``ValueError`` for fewer than two distinct sizes, non-positive times or sizes, mismatched lengths,
    or data with no size dependence at all (beta = 0 leaves the bandwidth undefined).
    """
    from scipy.optimize import nnls

    sizes = np.asarray(size_bytes, dtype=float)
    times = np.asarray(time_ns, dtype=float)
    if not (wire_bytes_per_byte >= 1.0 and free_bytes >= 0.0):
        raise ValueError(f"expected wire_bytes_per_byte >= 1 and free_bytes >= 0, got {wire_bytes_per_byte}, {free_bytes}")
    if sizes.shape != times.shape or sizes.ndim != 1:
        raise ValueError(f"size_bytes and time_ns: expected two 1-D arrays of one length, got {sizes.shape}, {times.shape}")
    if np.unique(sizes).size < 2:
        raise ValueError(f"size_bytes: expected at least two distinct sizes, got {np.unique(sizes).tolist()}")
    if not (np.all(np.isfinite(sizes)) and np.all(sizes > 0)):
        raise ValueError("size_bytes: expected finite numbers > 0")
    if not (np.all(np.isfinite(times)) and np.all(times > 0)):
        raise ValueError("time_ns: expected finite numbers > 0")
    throttled = np.maximum(0.0, sizes * wire_bytes_per_byte - free_bytes)
    if np.unique(throttled[throttled > 0]).size < 1 or np.unique(throttled).size < 2:
        raise ValueError("size_bytes: the sizes beyond the free burst do not vary, so beta cannot be fitted")
    # Scale the columns so nnls sees numbers of order one (alpha ~ 1e5 ns, beta ~ 1 ns/byte).
    alpha_scale = float(np.median(times))
    beta_scale = float(np.median(times[throttled > 0] / throttled[throttled > 0]))
    design = np.column_stack([alpha_scale / times, beta_scale * throttled / times])
    coef, _ = nnls(design, np.ones_like(times))
    alpha_ns, ns_per_byte = coef[0] * alpha_scale, coef[1] * beta_scale
    if ns_per_byte * throttled.max() <= 1e-9 * np.median(times):  # beta = 0 up to rounding
        raise ValueError("time_ns: no size dependence in the data (fitted beta = 0), so the bandwidth is undefined")
    rel = (alpha_ns + ns_per_byte * throttled) / times - 1.0
    return AlphaBetaFit(
        alpha_ns=float(alpha_ns),
        ns_per_byte=float(ns_per_byte),
        n_points=int(sizes.size),
        rel_rms=float(np.sqrt(np.mean(rel**2))),
        wire_bytes_per_byte=float(wire_bytes_per_byte),
        free_bytes=float(free_bytes),
    )
