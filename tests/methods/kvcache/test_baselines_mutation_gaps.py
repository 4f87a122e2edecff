"""Gaps in the tests of `methods.kvcache.baselines` found by a mutation audit.

- every budgeted press refuses a budget outside (0, 1] by name, instead of handing kvpress a negative or
  over-one compression ratio;
- CaM compresses every decode step unless told otherwise; extra settings reach StreamingLLM's press.
"""

from __future__ import annotations

import pytest

pytest.importorskip("kvpress", reason="the kv extra is not installed")

from methods.kvcache.baselines import make_press  # noqa: E402


@pytest.mark.parametrize("name", ["streaming_llm", "snapkv", "h2o", "merging", "chelsea"])
@pytest.mark.parametrize("budget", [0.0, -0.25, 1.5])
def test_a_budget_outside_zero_to_one_is_refused(name, budget):
    with pytest.raises(ValueError, match="budget"):
        make_press(name, budget)


def test_cam_compresses_every_decode_step_by_default():
    assert make_press("cam", 0.5, target_size=10).compression_interval == 1


def test_extra_settings_reach_the_press():
    press = make_press("streaming_llm", 0.5, n_sink=2)
    assert press.n_sink == 2 and press.compression_ratio == 0.5
