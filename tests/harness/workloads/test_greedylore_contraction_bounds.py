"""Input bounds of the greedylore_contraction kind (harness/workloads/greedylore_contraction.py): the energy bump
is at least a tenth of a basis direction wide, so the synthetic gradient never vanishes or turns NaN."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from harness.workloads.base import RunContext
from harness.workloads.greedylore_contraction import ContractionScenario, run

SMALL = {"n_rows": 8, "n_cols": 16, "n_workers": 2, "rank": 2, "refresh_period": 5, "steps": 12, "trials": 1}


def _scenario(**workload):
    return ContractionScenario.model_validate({"name": "t", "workload": {**SMALL, **workload}})


@pytest.mark.parametrize("width", [1e-300, 1e-3, 0.05])
def test_too_narrow_energy_bump_is_refused_by_key(width):
    # 1e-300: w^2 = 0, 0/0 at the centre -> "linalg.svd: ... non-finite values"; 1e-3 with energy_floor 0 and a
    # half-integer centre: an all-zero gradient, ratio 0/0
    with pytest.raises(ValidationError, match=r"energy_width"):
        _scenario(energy_width=width)


@pytest.mark.parametrize("workload", [
    {"energy_width": 0.1, "energy_floor": 0.0, "energy_speed": 0.5},  # the narrowest bump between two directions
    {"energy_width": 0.1},
    {"energy_floor": 1e10, "noise_std": 1e10, "rotation_per_step": 1e15, "energy_speed": 1e15},
])
def test_accepted_extremes_give_finite_ratios(workload):
    out = run(_scenario(**workload), RunContext(seed_seq=np.random.SeedSequence(0)))
    assert np.isfinite(out.metrics.select_dtypes("number").to_numpy(dtype=float)).all()
