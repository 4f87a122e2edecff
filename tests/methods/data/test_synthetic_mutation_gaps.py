"""Gaps in the tests of `synthetic` found by a mutation audit (after the one closed in `test_data_mutation_gaps`).

- `RobustShiftedObjective`: one worker (no two opposite groups) and no noise block refused; the gradient noise has
  the stated standard deviation and follows the seed, the worker and the step; `distance` is the Euclidean norm;
- `HeterogeneousLogistic`: group k's features centred on k - (groups - 1) / 2, labels -1 or +1, a sample count not
  divisible by the workers refused, the matrix view [rows, dim // rows].
"""

from __future__ import annotations

import pytest
import torch

from methods.data.synthetic import HeterogeneousLogistic, RobustShiftedObjective


def test_robust_shifted_refuses_one_worker_and_no_noise_block():
    with pytest.raises(ValueError, match="n_workers: expected >= 2"):
        RobustShiftedObjective(n_workers=1)
    with pytest.raises(ValueError, match="noise_blocks: expected 1..19, got 0"):
        RobustShiftedObjective(blocks=20, noise_blocks=0)


def test_gradient_noise_has_the_stated_std_and_follows_seed_worker_and_step():
    obj = RobustShiftedObjective(noise_std=0.5)  # 200 x 10 entries
    x = torch.zeros(obj.shape, dtype=torch.float64)

    def noise(o: RobustShiftedObjective, worker: int, step: int) -> torch.Tensor:
        return o.gradient(worker, x, step) - o.gradient(worker, x, step, noise=False)

    base = noise(obj, 1, 3)
    assert float(base.std()) == pytest.approx(0.5, abs=0.04)  # the std of 2000 draws: 0.5 +- 0.008
    assert torch.equal(base, noise(obj, 1, 3))
    for other in (noise(obj, 1, 4), noise(obj, 2, 3), noise(RobustShiftedObjective(noise_std=0.5, seed=43), 1, 3)):
        assert not torch.allclose(base, other)


def test_distance_is_the_euclidean_norm_to_the_optimum():
    obj = RobustShiftedObjective(blocks=20, noise_blocks=12, block_size=3)
    step = torch.zeros(obj.shape, dtype=torch.float64)
    step[0, 0], step[15, 2] = 3.0, -4.0
    assert obj.distance(obj.optimum() + step) == pytest.approx(5.0)


def test_heterogeneous_groups_are_shifted_around_zero_and_labels_are_signs():
    prob = HeterogeneousLogistic(dim=40, rows=10, n_samples=3000, n_workers=3, groups=3, seed=1)
    means = [float(prob.features[k * 1000:(k + 1) * 1000].mean()) for k in range(3)]
    assert means == pytest.approx([-1.0, 0.0, 1.0], abs=0.05)  # 40000 draws per group: +- 0.005
    assert set(prob.labels.tolist()) == {-1.0, 1.0}
    two = HeterogeneousLogistic(dim=4, rows=2, n_samples=2000, n_workers=2, groups=2, seed=1)
    assert [float(two.features[:1000].mean()), float(two.features[1000:].mean())] == pytest.approx([-0.5, 0.5],
                                                                                                   abs=0.07)


def test_heterogeneous_sample_count_must_split_over_workers_and_the_view_is_rows_by_columns():
    with pytest.raises(ValueError, match="n_samples: must be divisible by n_workers=4, got 1001"):
        HeterogeneousLogistic(n_samples=1001, n_workers=4)
    assert HeterogeneousLogistic(dim=40, rows=10, n_samples=40, n_workers=4).shape == (10, 4)
