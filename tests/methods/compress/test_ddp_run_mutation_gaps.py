"""Gaps in the tests of `methods.compress.ddp_run` found by a mutation audit.

Closes:
- an unknown ``dtype`` or ``optimizer`` and a world size of 0 are refused;
- the optimizers are the documented ones (SGD, SGD with momentum 0.9, Adam) at the configured step size;
- ``dirichlet_alpha`` reaches the shards (label-skewed, not i.i.d.);
- the simulated twin restores torch's thread count;
- the rank difference is the largest element-wise difference, not a sum.
"""

from __future__ import annotations

import pytest
import torch

from methods.compress.ddp_run import (
    DigitsRunConfig,
    _shards,
    largest_difference_from_first,
    run_ddp_digits,
    run_simulated_digits,
)


def test_an_unknown_dtype_is_refused():
    with pytest.raises(ValueError, match="dtype: expected"):
        DigitsRunConfig(dtype="float64")


def test_a_world_of_no_process_is_refused_before_anything_is_spawned():
    with pytest.raises(ValueError, match="world_size: expected >= 1, got 0"):
        run_ddp_digits([DigitsRunConfig(steps=1)], world_size=0)


@pytest.mark.parametrize(
    ("name", "kind", "momentum"),
    [("sgd", torch.optim.SGD, 0.0), ("momentum", torch.optim.SGD, 0.9), ("adam", torch.optim.Adam, None)],
)
def test_each_optimizer_name_builds_the_documented_optimizer(name, kind, momentum):
    from methods.compress.ddp_run import _optimizer

    opt = _optimizer(DigitsRunConfig(optimizer=name, lr=0.03), [torch.nn.Parameter(torch.zeros(2))])
    assert type(opt) is kind
    group = opt.param_groups[0]
    assert group["lr"] == 0.03
    if momentum is not None:
        assert group["momentum"] == momentum


def test_an_unknown_optimizer_is_refused_when_the_config_is_built():
    """As ``dtype`` is (it was refused only once a run had loaded its data and built its model)."""
    with pytest.raises(ValueError, match="optimizer: expected 'sgd', 'momentum' or 'adam', got 'lbfgs'"):
        DigitsRunConfig(compressor="none", optimizer="lbfgs", steps=1)


def _class_counts(cfg: DigitsRunConfig) -> list[torch.Tensor]:
    shards = _shards(cfg, 2)
    labels = shards.data.y_train.cpu()
    return [torch.bincount(labels[torch.as_tensor(idx)], minlength=10) for idx in shards.shards]


def test_dirichlet_alpha_skews_the_shards_labels():
    # i.i.d.: ~67 examples of each digit per worker; alpha 0.05: one worker lacks most digits
    assert all(int(c.min()) >= 40 for c in _class_counts(DigitsRunConfig()))
    assert any(int((c < 5).sum()) >= 3 for c in _class_counts(DigitsRunConfig(dirichlet_alpha=0.05)))


def test_the_simulated_twin_restores_the_thread_count():
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        trace = run_simulated_digits(DigitsRunConfig(compressor="none", steps=1), n_workers=2)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
    assert trace.params.shape[0] == 2 and len(trace.losses) == 1


def test_the_rank_difference_is_the_largest_entry_not_a_sum():
    rank0 = torch.zeros(3)
    assert largest_difference_from_first([rank0, torch.tensor([0.5, -0.25, 0.5])]) == 0.5
