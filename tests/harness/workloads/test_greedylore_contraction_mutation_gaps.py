"""Mutation gaps of the greedylore_contraction kind (harness/workloads/greedylore_contraction.py).

Closes: the refresh flag and steps since refresh, the bound 1 - r/p (p = rows, not columns), each variant's payload
bytes per step (float64 gradients, no dense fallback), the relative error on a frozen gradient against singular
values computed by hand (the circular energy bump, its floor and width; the workers' noise is centred, and the
ratio is the mean's, against Gbar), the energy centre's drift, the basis rotation, the noise scale relative to
the gradient's rms, the Haar sign fix of the random frames, and the validation bounds (rank < rows, rows <=
columns, the precomputed gradients' memory with the mean's copy counted).
"""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.greedylore_contraction import ContractionScenario, ContractionWorkload, DriftingGradients, \
    _orthonormal, run

SMALL = {"n_rows": 8, "n_cols": 16, "n_workers": 2, "rank": 2, "refresh_period": 5, "steps": 11, "trials": 1}


def _run(**workload):
    scenario = ContractionScenario.model_validate({"name": "t", "workload": {**SMALL, **workload}})
    return run(scenario, RunContext(seed_seq=np.random.SeedSequence(3)))


def test_refresh_flags_bound_and_payload_bytes_of_every_variant():
    out = _run()
    frame = out.metrics
    assert out.info["bound_ratio"] == 0.75 and out.info["p"] == 8  # 1 - 2 / 8
    assert set(frame["bound_ratio"]) == {0.75}
    one = frame[frame["variant"] == "lazy"]
    assert one["refresh"].tolist() == [True, False, False, False, False, True, False, False, False, False, True]
    assert one["steps_since_refresh"].tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0]
    # float64 gradients (8 bytes); p = 8, q = 16, r = 2. Refresh: the dense 8 x 16 mean = 1024 bytes
    steady = {"lazy": 2 * 16 * 8, "random": 2 * 16 * 8, "semi_lazy_probe": (8 + 2 * 16) * 8,
              "semi_lazy_exact": (8 * 16 + 2 * 16) * 8}
    for variant, expected in steady.items():
        rows = frame[frame["variant"] == variant]
        assert rows[rows["refresh"]]["payload_bytes_per_worker"].tolist() == [1024] * 3
        assert set(rows[~rows["refresh"]]["payload_bytes_per_worker"]) == {expected}, variant


def _bump(n, centre, width=1.5, floor=0.01):
    """Singular values of the synthetic gradient: a Gaussian bump over the circular distance to the centre."""
    d = np.array([min(abs(k - centre) % n, n - abs(k - centre) % n) for k in range(n)], dtype=float)
    return floor + np.exp(-d**2 / (2 * width**2))


def test_frozen_gradient_lazy_error_is_the_energy_outside_the_top_singular_directions():
    # no drift, no rotation: Gbar is constant, the lazy projector keeps its top-3 singular directions for good,
    # and the workers' (centred) noise cancels in the mean, so the error is the energy outside them
    out = _run(variants=["lazy"], rank=3, energy_speed=0.0, rotation_per_step=0.0, noise_std=0.5)
    s2 = _bump(8, 0.0) ** 2  # by hand: distances 0, 1, 2, 3, 4, 3, 2, 1
    expected = 1.0 - np.sort(s2)[-3:].sum() / s2.sum()
    frame = out.metrics
    assert frame[frame["refresh"]]["ratio"].max() < 1e-20  # a refresh sends the exact mean
    assert frame[~frame["refresh"]]["ratio"].to_numpy() == pytest.approx(expected, rel=1e-9)
    assert frame[~frame["refresh"]]["captured"].to_numpy() == pytest.approx(1.0 - expected, rel=1e-9)


@pytest.mark.parametrize("width, floor", [(1.0, 0.01), (1.5, 0.2)])
def test_bump_width_and_floor_enter_as_documented(width, floor):
    out = _run(variants=["lazy"], rank=3, energy_speed=0.0, rotation_per_step=0.0, noise_std=0.0,
               energy_width=width, energy_floor=floor)
    s2 = _bump(8, 0.0, width, floor) ** 2
    expected = 1.0 - np.sort(s2)[-3:].sum() / s2.sum()
    frame = out.metrics
    assert frame[~frame["refresh"]]["ratio"].to_numpy() == pytest.approx(expected, rel=1e-9)


def test_energy_centre_moves_one_direction_per_step_away_from_the_frozen_one():
    # rank 1: the refresh at step 0 keeps the direction of the centre (0); at step t the centre is t
    out = _run(variants=["lazy"], rank=1, energy_speed=1.0, rotation_per_step=0.0, noise_std=0.0,
               refresh_period=100, steps=5)
    ratios = out.metrics["ratio"].to_numpy()
    for t in range(1, 5):
        s2 = _bump(8, float(t)) ** 2
        assert ratios[t] == pytest.approx(1.0 - s2[0] / s2.sum(), rel=1e-9), t


def test_the_left_basis_rotates_so_a_frozen_projector_loses_energy():
    still = _run(variants=["lazy"], energy_speed=0.0, rotation_per_step=0.0, noise_std=0.0, refresh_period=100)
    turning = _run(variants=["lazy"], energy_speed=0.0, rotation_per_step=0.3, noise_std=0.0, refresh_period=100)
    r_still, r_turn = still.metrics["ratio"].to_numpy(), turning.metrics["ratio"].to_numpy()
    assert np.ptp(r_still[1:]) < 1e-9  # the same gradient every step
    assert r_turn[10] > r_still[10] + 0.05


def test_worker_noise_is_noise_std_times_the_rms_of_the_mean_and_averages_out():
    w = ContractionWorkload(n_rows=32, n_cols=64, n_workers=4, rank=2, steps=2, noise_std=0.5)
    seq = DriftingGradients(w, np.random.default_rng(0))
    for G, local in seq.steps:
        deviations = np.stack([(g - G).numpy() for g in local])
        assert np.abs(deviations.mean(axis=0)).max() < 1e-12
        rel = np.sqrt((deviations**2).mean()) / np.sqrt((G.numpy() ** 2).mean())
        # the centred Gaussian has variance (N - 1) / N per entry: 0.5 * sqrt(3 / 4) = 0.433
        assert rel == pytest.approx(0.5 * np.sqrt(3 / 4), rel=0.03)


def test_random_frames_are_sign_fixed_haar():
    # without the sign fix LAPACK's Householder QR makes the first entry of Q always negative
    rng = np.random.default_rng(1)
    first = np.array([float(_orthonormal(rng, 5, 3)[0, 0]) for _ in range(400)])
    assert 0.4 < (first > 0).mean() < 0.6


def test_validation_bounds():
    ContractionWorkload(n_rows=8, n_cols=8, rank=7)  # square is allowed, rank p - 1 too
    with pytest.raises(ValidationError, match="rank"):
        ContractionWorkload(n_rows=8, n_cols=16, rank=8)
    with pytest.raises(ValidationError, match="n_rows"):
        ContractionWorkload(n_rows=9, n_cols=8, rank=2)
    # 4096 x 4096 float64 = 2**27 bytes a matrix, 4 GiB = 32 of them: 16 steps x (1 worker + the mean) fit ...
    ContractionWorkload(n_rows=4096, n_cols=4096, n_workers=1, rank=2, steps=16)
    # ... 11 steps x (2 workers + the mean) = 33 do not
    with pytest.raises(ValidationError, match="steps"):
        ContractionWorkload(n_rows=4096, n_cols=4096, n_workers=2, rank=2, steps=11)
