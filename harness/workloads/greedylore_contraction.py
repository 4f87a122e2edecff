"""Scenario kind ``greedylore_contraction``: does a low-rank compressor stay contractive on drifting gradients?
Follows GreedyLore (arXiv 2507.08784), lazy vs semi-lazy projector (its Fig. 2), with its real compressor.

GreedyLore (Chen, He, Li, Jia, Yuan, arXiv 2507.08784) argues that a greedy projector refreshed *lazily* (the
top-r singular directions of the gradient at the last refresh, frozen for tau steps, as in GaLore) can lose the
contraction property: once the gradient drifts out of the frozen subspace the projector captures almost none of
it and the relative error ||C(G) - G||^2 / ||G||^2 approaches 1. Its *semi-lazy* update keeps the full
orthonormal basis of the last refresh and re-picks, every step, the r basis directions of largest energy; since
the basis is complete, that captures at least r/p of the energy (p = min(n, m)) for any stale basis, so the ratio
stays <= 1 - r/p (research card sec. 2.2; `greedylore.fig2`).

This kind measures exactly that with the real compressor (`methods.compress.greedylore.GreedyLore`, run on N
simulated workers through `methods.compress.simulated.compress_once`; nothing is re-implemented here) on a
synthetic sequence of drifting gradients. Per trial and step t the mean gradient is

    Gbar_t = W_t diag(s_t) V^T,   W_t = W_0 expm(t * rotation_per_step * A),   s_{t,k} = floor + exp(-d_k(t)^2 / (2 w^2))

with W_0 (n x n) and V (m x n) random orthonormal, A a random skew-symmetric matrix of unit spectral norm, and
d_k(t) the circular distance between direction k and the energy centre c_t = energy_speed * t (w =
``energy_width``): the energy slides from one group of directions to the next while the basis rotates slowly.
Worker i receives G_i = Gbar_t + noise_std * rms(Gbar_t) * (Z_i - mean_j Z_j) (Z Gaussian), so the workers'
mean is exactly Gbar_t while each worker's gradient differs.

Variants (``workload.variants``), all `GreedyLore` with the same rank and refresh period, see the same gradients:
``lazy`` (selection "lazy": frozen top-r singular directions), ``semi_lazy_exact`` (greedy selection from exact
energies), ``semi_lazy_probe`` (greedy selection from the one-probe score estimate, the method's default: the
bound then holds in expectation), ``random`` (r random basis directions: captures r/p in expectation).

Metrics, one row per (trial, variant, step): ``trial``, ``variant``, ``step``, ``refresh`` (the step All-Reduced
densely and recomputed the basis), ``steps_since_refresh``, ``ratio`` = ||C(G) - Gbar||^2 / ||Gbar||^2 with C(G)
the aggregate every worker decodes, ``captured`` = 1 - ratio, ``bound_ratio`` = 1 - r/p,
``payload_bytes_per_worker`` (what each worker contributed to the step's collectives).

Example scenario: ``scenarios/greedylore/contraction.yaml``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import torch
from pydantic import Field, NonNegativeFloat, PositiveInt, model_validator

from harness.config.blocks import ScenarioBase, Strict
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_threads

Variant = Literal["lazy", "semi_lazy_exact", "semi_lazy_probe", "random"]

#: GreedyLore parameters of each variant (besides rank and refresh period).
VARIANT_PARAMS: dict[str, dict[str, object]] = {
    "lazy": {"selection": "lazy"},
    "semi_lazy_exact": {"selection": "greedy", "exact_scores": True},
    "semi_lazy_probe": {"selection": "greedy", "exact_scores": False},
    "random": {"selection": "random"},
}


#: Memory one trial's precomputed gradients may take.
MAX_GRADIENT_BYTES = 4 * 2**30


class ContractionWorkload(Strict):
    n_rows: PositiveInt = Field(
        32, le=4096, description="gradient matrix rows n (the short side: p = n basis directions)"
    )
    n_cols: PositiveInt = Field(64, le=4096, description="gradient matrix columns m >= n")
    n_workers: PositiveInt = Field(4, le=256, description="simulated workers (at most 256)")
    rank: PositiveInt = Field(4, description="directions kept per step, r")
    refresh_period: PositiveInt = Field(50, le=100_000, description="tau: compressed calls between basis refreshes")
    steps: PositiveInt = Field(
        200, le=100_000, description="compression calls per trial (refresh calls included; at most 100,000)"
    )
    trials: PositiveInt = Field(10, le=10_000, description="independent gradient sequences (Monte-Carlo repetitions)")
    energy_speed: NonNegativeFloat = Field(0.1, description="basis directions the energy centre moves per step")
    energy_width: float = Field(1.5, ge=0.1, description=(
        "width w of the energy bump, in basis directions (the spacing between directions is 1): at least 0.1. "
        "Narrower, the bump fits between two directions: with the centre half-way, every direction gets "
        "exp(-1/(8 w^2)) of the peak, which underflows to 0 below w ~ 0.013 (an all-zero gradient with "
        "energy_floor 0: a 0/0 ratio), and w^2 itself underflows to 0 below ~1e-162 (0/0 at the centre)"))
    energy_floor: NonNegativeFloat = Field(0.01, description="singular value every direction keeps")
    rotation_per_step: NonNegativeFloat = Field(0.01, description="rotation angle of the left basis per step, radians")
    noise_std: NonNegativeFloat = Field(0.1, description="worker heterogeneity, relative to the rms of Gbar")
    variants: list[Variant] = Field(
        default_factory=lambda: ["lazy", "semi_lazy_exact", "semi_lazy_probe", "random"],
        min_length=1,
        description="compressor variants (module docstring)",
    )

    @model_validator(mode="after")
    def _check(self) -> ContractionWorkload:
        if self.n_rows > self.n_cols:
            raise ValueError(f"n_rows: the synthetic gradients need n_rows <= n_cols (short side = rows), got "
                             f"{self.n_rows} > {self.n_cols}")
        p = self.n_rows
        if self.rank >= p:
            raise ValueError(f"rank: must be < n_rows = {p} (otherwise nothing is compressed), got {self.rank}")
        if len(set(self.variants)) != len(self.variants):
            raise ValueError(f"variants: listed twice: {self.variants}")
        gradient_bytes = self.steps * (self.n_workers + 1) * self.n_rows * self.n_cols * 8
        if gradient_bytes > MAX_GRADIENT_BYTES:  # one trial's gradients are precomputed (`DriftingGradients`)
            raise ValueError(f"steps: one trial precomputes steps x (n_workers + 1) x n_rows x n_cols float64 "
                             f"gradients = {gradient_bytes / 2**30:.1f} GiB, more than "
                             f"{MAX_GRADIENT_BYTES // 2**30} GiB; lower steps, n_workers or the matrix size")
        return self


class ContractionScenario(ScenarioBase):
    """Relative compression error of lazy vs semi-lazy GreedyLore on drifting synthetic gradients."""

    kind: Literal["greedylore_contraction"] = "greedylore_contraction"
    workload: ContractionWorkload = Field(default_factory=ContractionWorkload)


# ------------------------------------------------------------------------------------------------ gradients
def _orthonormal(rng: np.random.Generator, rows: int, cols: int) -> torch.Tensor:
    q, r = np.linalg.qr(rng.standard_normal((rows, cols)))
    return torch.from_numpy(q * np.sign(np.diag(r)))  # sign fix: a Haar-distributed orthonormal frame


class DriftingGradients:
    """The drifting gradient sequence of one trial (module docstring), precomputed: ``steps[t] = (Gbar_t, [G_i])``."""

    def __init__(self, w: ContractionWorkload, rng: np.random.Generator):
        n, m = w.n_rows, w.n_cols
        self.w = w
        self.p = n
        W = _orthonormal(rng, n, n)
        V = _orthonormal(rng, m, n)
        skew = rng.standard_normal((n, n))
        skew = skew - skew.T
        A = torch.from_numpy(skew / np.linalg.norm(skew, 2))
        rotation = torch.linalg.matrix_exp(w.rotation_per_step * A)  # W_t = W_0 expm(t theta A) = W_0 R^t
        self.steps: list[tuple[torch.Tensor, list[torch.Tensor]]] = []
        for t in range(w.steps):
            G = (W * self.energies(t)) @ V.T
            Z = torch.from_numpy(rng.standard_normal((w.n_workers, n, m)))
            Z = Z - Z.mean(dim=0, keepdim=True)
            scale = w.noise_std * float(G.pow(2).mean().sqrt())
            self.steps.append((G, [G + scale * Z[i] for i in range(w.n_workers)]))
            W = W @ rotation

    def energies(self, t: int) -> torch.Tensor:
        """Singular values s_t: a bump of width w around c_t = energy_speed * t (circular), plus the floor."""
        k = np.arange(self.w.n_rows)
        d = np.abs(k - self.w.energy_speed * t) % self.w.n_rows
        d = np.minimum(d, self.w.n_rows - d)
        return torch.from_numpy(self.w.energy_floor + np.exp(-(d**2) / (2.0 * self.w.energy_width**2)))


# ------------------------------------------------------------------------------------------------ the run
def run_variant(w: ContractionWorkload, variant: str, seq: DriftingGradients, seed: int) -> list[dict[str, object]]:
    """Compress the trial's gradient sequence with one variant; one row per step."""
    from methods.compress import make_compressor
    from methods.compress.simulated import compress_once

    params = {"rank": w.rank, "refresh_period": w.refresh_period, "min_compression_rate": 0.0, **VARIANT_PARAMS[variant]}
    compressors = [make_compressor("greedylore", **params) for _ in range(w.n_workers)]
    bound = 1.0 - w.rank / seq.p
    rows = []
    for t, (G, local) in enumerate(seq.steps):
        results, collective = compress_once(compressors, local, name="G", step=t, seed=seed)
        ratio = float((results[0].aggregate - G).pow(2).sum() / G.pow(2).sum())
        rows.append({
            "variant": variant,
            "step": t,
            "refresh": t % w.refresh_period == 0,
            "steps_since_refresh": t % w.refresh_period,
            "ratio": ratio,
            "captured": 1.0 - ratio,
            "bound_ratio": bound,
            "payload_bytes_per_worker": sum(call.size_bytes for call in collective.calls),
        })
    return rows


@register_workload("greedylore_contraction", ContractionScenario)
def run(scenario: ContractionScenario, ctx: RunContext) -> RunOutput:
    """Every trial x variant x step (columns in the module docstring)."""
    w = scenario.workload
    rows = []
    # one intra-op thread: on these tiny matrices extra threads only add synchronisation, which on a loaded
    # 2-core machine made a run ~20x slower
    with torch_threads(1):
        for trial, child in enumerate(ctx.seed_seq.spawn(w.trials)):
            data_seed, compress_seed = child.spawn(2)
            seq = DriftingGradients(w, np.random.default_rng(data_seed))
            seed = int(compress_seed.generate_state(1, dtype=np.uint32)[0])
            for variant in w.variants:
                rows += [{"trial": trial, **row} for row in run_variant(w, variant, seq, seed)]
    p = min(w.n_rows, w.n_cols)
    info = {"p": p, "bound_ratio": 1.0 - w.rank / p, "variants": {v: VARIANT_PARAMS[v] for v in w.variants}}
    return RunOutput(metrics=pd.DataFrame(rows), info=info)
