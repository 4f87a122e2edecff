"""Every method trains from the Minari-loaded dataset and acts within the action bounds in closed loop, with
counted evaluations per action (methods/offline_rl/training.py, baselines.py, policies.py, rollout.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from methods.offline_rl.episodes import Episodes
from methods.offline_rl.rollout import rollout, time_per_action
from methods.offline_rl.training import METHODS, PolicySpec, Trainer, TrainSettings, build_policy

TINY = TrainSettings(horizon=4, batch=32, teacher_steps=5, reward_epochs=1, student_steps=3, baseline_steps=5,
                     baseline_hidden=(16,), diffuser_steps=5)
#: network evaluations one action costs per method at the specs below (Heun over n bins: 2n - 1)
EXPECTED_NFE = {"teacher": 2 * 6 - 1, "ddim": 6, "ddpm": 6, "student": 1, "ctd": 2, "diffuser": 6, "bc": 1,
                "iql": 1, "td3bc": 1}


@pytest.fixture(scope="module")
def trainer(tiny_hopper, tmp_path_factory):
    torch.set_num_threads(1)
    return Trainer(Episodes.from_minari(tiny_hopper), TINY, seed=0, cache_dir=tmp_path_factory.mktemp("models"))


@pytest.mark.parametrize("method", METHODS)
def test_every_method_trains_from_minari_and_acts_in_bounds(tiny_hopper, trainer, method):
    spec = PolicySpec(method, steps=6, nfe=2 if method == "ctd" else 1)
    policy = build_policy(spec, trainer)
    result = rollout(policy, lambda: tiny_hopper.recover_environment(), episodes=2, seed=1, max_steps=5)
    assert result.evaluations_per_action == EXPECTED_NFE[method]
    assert np.all(result.lengths >= 1) and np.all(result.lengths <= 5)
    assert np.all(np.isfinite(result.returns))
    actions = policy.act(np.stack([tiny_hopper.recover_environment().reset(seed=s)[0] for s in range(3)]))
    assert actions.shape == (3, 3)
    assert np.all(actions >= -1.0) and np.all(actions <= 1.0)  # Hopper's action box
    assert time_per_action(policy, np.zeros(11), repeats=2) > 0


def test_cache_reuses_trained_parts(tiny_hopper, trainer):
    build_policy(PolicySpec("student"), trainer)
    again = Trainer(trainer.episodes, TINY, seed=0, cache_dir=trainer.cache)
    student = again.student()
    assert again.cached == {"teacher": True, "reward": True, "student": True}
    first = trainer.student()
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), student.state_dict().values()))
    other_seed = Trainer(trainer.episodes, TINY, seed=1, cache_dir=trainer.cache)
    other_seed.teacher()
    assert other_seed.cached == {"teacher": False}


def test_reward_weight_zero_is_ctd_without_reward_model(trainer):
    fresh = Trainer(trainer.episodes, TINY, seed=2, cache_dir=trainer.cache)
    fresh.student(0.0)
    assert "reward" not in fresh.cached and fresh.student_key(0.0) != fresh.student_key(1.0)


def test_reward_teacher_is_a_different_teacher(trainer):
    from dataclasses import replace

    plain = trainer.teacher()
    trainer.reward()
    rewarded = Trainer(trainer.episodes, replace(TINY, teacher_reward_weight=5.0), seed=0, cache_dir=trainer.cache)
    assert rewarded.teacher_key() != trainer.teacher_key()
    teacher = rewarded.teacher()
    assert rewarded.cached["reward"] and not rewarded.cached["teacher"]  # the shared reward model is reused
    assert any(not torch.equal(a, b) for a, b in zip(plain.state_dict().values(), teacher.state_dict().values()))
    assert rewarded.student_key(1.0) != trainer.student_key(1.0)  # its students are its own


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown method 'cql'"):
        PolicySpec("cql")
