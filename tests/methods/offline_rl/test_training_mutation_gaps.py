"""Mutation-audit gaps of the training pipeline (methods/offline_rl/training.py), closed without training
anything large: every cache key changes with each setting its part depends on (so an alpha, beta or sigma sweep
never reuses another point's student) and with the dataset's content and the seed, and stays put for the
settings it does not depend on (so a student sweep reuses one teacher); the reward model is fed the newest state
of the history; the teacher-stage reward term subtracts sigma times the reward; the student gets the settings'
weights, learning rate and seed; `build_policy` wires sampler, bins, jumps, reward weight and seed; the d3rlpy
baselines get their algorithm, encoder widths and (TD3+BC) state standardisation."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import methods.offline_rl.edm as edm_mod
import methods.offline_rl.student as student_mod
from methods.offline_rl.edm import EDMDenoiser
from methods.offline_rl.episodes import Episodes
from methods.offline_rl.student import CTMStudent
from methods.offline_rl.training import PolicySpec, Trainer, TrainSettings, _CurrentState, build_policy

SETTINGS = TrainSettings(horizon=2, history=2, batch=4, teacher_steps=1, reward_epochs=1, student_steps=1)


def _episodes(reward: float = 3.0) -> Episodes:
    f = np.float32
    return Episodes(observations=[np.array([[0, 1], [1, 0], [2, 2], [3, 3]], f)],
                    actions=[np.array([[-1.0], [0.0], [1.0]], f)], rewards=[np.array([1.0, 2.0, reward])],
                    terminations=[np.array([False, False, True])], truncations=[np.array([False, False, False])])


def _keys(trainer: Trainer) -> dict[str, str]:
    return {"teacher": trainer.teacher_key(), "reward": trainer.reward_key(), "student": trainer.student_key(1.0)}


KEY_CASES = [
    ({"network": "cpu_small"}, {"teacher", "student"}),
    ({"horizon": 4}, {"teacher", "student"}),
    ({"history": 1}, {"teacher", "student"}),
    ({"batch": 8}, {"teacher", "student"}),
    ({"teacher_steps": 2}, {"teacher", "student"}),
    ({"teacher_lr": 0.5}, {"teacher", "student"}),
    ({"teacher_reward_weight": 1.0}, {"teacher", "student"}),
    ({"reward_epochs": 3}, {"reward", "student"}),
    ({"student_steps": 2}, {"student"}),
    ({"student_lr": 0.5}, {"student"}),
    ({"alpha": 0.5}, {"student"}),
    ({"beta": 0.5}, {"student"}),
    ({"reward_weight": 0.5}, set()),  # the student key takes the weight as its argument
    ({"baseline_steps": 7}, set()),
    ({"diffuser_steps": 7}, set()),
]


@pytest.mark.parametrize("change, moved", KEY_CASES, ids=[next(iter(c)) for c, _ in KEY_CASES])
def test_each_cache_key_follows_exactly_its_settings(tmp_path, change, moved):
    base = _keys(Trainer(_episodes(), SETTINGS, cache_dir=tmp_path))
    other = _keys(Trainer(_episodes(), replace(SETTINGS, **change), cache_dir=tmp_path))
    assert {part for part in base if base[part] != other[part]} == moved


def test_cache_keys_follow_the_seed_the_data_and_the_reward_weight(tmp_path):
    base = Trainer(_episodes(), SETTINGS, cache_dir=tmp_path)
    assert base.student_key(0.5) != base.student_key(1.0)
    for other in (Trainer(_episodes(), SETTINGS, seed=1, cache_dir=tmp_path),
                  Trainer(_episodes(reward=4.0), SETTINGS, cache_dir=tmp_path)):  # one reward differs
        assert all(a != b for a, b in zip(_keys(base).values(), _keys(other).values()))


def test_cache_keys_follow_the_training_code(tmp_path, monkeypatch):
    """Models cached by older training code are not reused: an edit to any training module moves every key."""
    import methods.offline_rl.training as training

    base = _keys(Trainer(_episodes(), SETTINGS, cache_dir=tmp_path))
    source = tmp_path / "src"
    source.mkdir()
    for name in training.TRAINING_MODULES:
        (source / f"{name}.py").write_bytes((Path(training.__file__).parent / f"{name}.py").read_bytes())
    monkeypatch.setattr(training, "__file__", str(source / "training.py"))
    training.code_fingerprint.cache_clear()
    try:
        assert _keys(Trainer(_episodes(), SETTINGS, cache_dir=tmp_path)) == base  # same source, same keys
        for name in training.TRAINING_MODULES:
            training.code_fingerprint.cache_clear()
            with open(source / f"{name}.py", "a") as f:
                f.write("\n# edited\n")
            edited = _keys(Trainer(_episodes(), SETTINGS, cache_dir=tmp_path))
            assert all(edited[part] != base[part] for part in base), name
            base = edited
    finally:
        training.code_fingerprint.cache_clear()


def test_baseline_keys_follow_their_steps(tmp_path, monkeypatch):
    """A Diffuser or d3rlpy baseline trained for other steps is another cache file (training replaced by stand-ins);
    within one trainer a part is trained once and then reused from memory, not reloaded."""
    import methods.offline_rl.baselines as baselines_mod

    monkeypatch.setattr(edm_mod, "train_denoiser", lambda model, *a, **k: [0.0])

    class Saved:
        def save(self, path):
            open(path, "w").close()

    monkeypatch.setattr(baselines_mod, "train_d3rlpy", lambda algo, episodes, **kwargs: Saved())
    for steps in (3, 4, 3):
        Trainer(_episodes(), replace(SETTINGS, diffuser_steps=steps), cache_dir=tmp_path).diffuser()
    for steps in (3, 4):  # (a stand-in file would not load: a shared key fails here)
        Trainer(_episodes(), replace(SETTINGS, baseline_steps=steps), cache_dir=tmp_path).d3rlpy("bc")
    assert len(list(tmp_path.glob("diffuser-*.pt"))) == 2 and len(list(tmp_path.glob("bc-*.d3"))) == 2
    fresh = Trainer(_episodes(), replace(SETTINGS, diffuser_steps=5), cache_dir=tmp_path)
    model = fresh.diffuser()
    assert fresh.diffuser() is model and fresh.cached == {"diffuser": False}


def test_reward_model_is_fit_on_discounted_returns_with_the_settings(tmp_path, monkeypatch):
    """Rewards 1, 2, 3 in one episode: labels 1 + 0.99 (2 + 0.99 * 3) = 5.9203, 2 + 0.99 * 3 = 4.97, 3; inputs the
    normalised state and action of each step (states (0, 1), (1, 0), (2, 2) on [0, 2]^2: (-1, 0), (0, -1), (1, 1))."""
    import methods.offline_rl.reward as reward_mod

    captured = {}
    real = reward_mod.fit_reward_model

    def spy(actions, obs, returns, **kwargs):
        captured.update(kwargs, actions=actions, obs=obs, returns=returns)
        return real(actions, obs, returns, **{**kwargs, "epochs": 1})

    monkeypatch.setattr(reward_mod, "fit_reward_model", spy)
    Trainer(_episodes(), replace(SETTINGS, reward_epochs=7), seed=3, cache_dir=tmp_path).reward()
    assert captured["returns"].tolist() == pytest.approx([5.9203, 4.97, 3.0])
    assert (captured["epochs"], captured["seed"]) == (7, 3)
    assert captured["obs"].tolist() == [[-1, 0], [0, -1], [1, 1]] and captured["actions"].tolist() == [[-1], [0], [1]]


class StateSum(nn.Module):
    def forward(self, action, state):
        return action.sum(-1) + 10 * state.sum(-1)


def test_reward_sees_the_newest_state_of_the_history():
    """History [old (1, 2), new (3, 4)]: the reward gets (3, 4), 10 * 7 + action 0.5 = 70.5."""
    current = _CurrentState(StateSum(), obs_dim=2)
    out = current(torch.tensor([[0.5]]), torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
    assert out.tolist() == [70.5]


def test_teacher_stage_reward_term_is_minus_sigma_times_the_reward(tmp_path, monkeypatch):
    captured = {}

    def fake_train(model, x0, obs, **kwargs):
        captured.update(kwargs, x0=x0, obs=obs)
        assert model(x0[:2], torch.tensor(1.0), obs[:2]).shape == (2, 2, 1)  # the network takes the whole history
        return [0.0]

    monkeypatch.setattr(edm_mod, "train_denoiser", fake_train)
    trainer = Trainer(_episodes(), replace(SETTINGS, teacher_reward_weight=2.5, teacher_lr=0.05), cache_dir=tmp_path)
    trainer.teacher()
    reward = trainer.reward()
    denoised = torch.tensor([[[0.2], [0.9]], [[-0.4], [0.1]]])
    obs = torch.tensor([[5.0, 5.0, -1.0, 1.0], [5.0, 5.0, 0.5, 0.5]])
    expected = -2.5 * reward(denoised[:, 0, :], obs[:, 2:]).mean()
    assert float(captured["penalty"](denoised, obs)) == pytest.approx(float(expected), rel=1e-6)
    assert captured["obs"].shape == (3, 4) and captured["lr"] == 0.05  # history 2 x 2 states


def test_student_gets_the_settings_and_a_current_state_reward(tmp_path, monkeypatch):
    captured = {}
    monkeypatch.setattr(edm_mod, "train_denoiser", lambda model, *a, **k: [0.0])

    def fake_train(student, teacher, reward, x0, obs, cfg):
        captured.update(reward=reward, cfg=cfg)
        return []

    monkeypatch.setattr(student_mod, "train_student", fake_train)
    settings = replace(SETTINGS, alpha=0.3, beta=0.7, student_lr=0.02, reward_weight=0.9)
    Trainer(_episodes(), settings, seed=4, cache_dir=tmp_path).student(0.25)
    cfg = captured["cfg"]
    assert (cfg.alpha, cfg.beta, cfg.lr, cfg.reward_weight, cfg.seed, cfg.steps) == (0.3, 0.7, 0.02, 0.25, 4, 1)
    assert isinstance(captured["reward"], _CurrentState) and captured["reward"].obs_dim == 2
    Trainer(_episodes(), settings, seed=4, cache_dir=tmp_path).student()
    assert captured["cfg"].reward_weight == 0.9  # the settings' sigma by default


class FakeTrainer:
    def __init__(self) -> None:
        self.episodes, self.settings = _episodes(), SETTINGS
        self.weights = []

    def teacher(self):
        return EDMDenoiser(nn.Identity())

    def diffuser(self):
        return EDMDenoiser(nn.Identity())

    def student(self, weight=None):
        self.weights.append(weight)
        return CTMStudent(nn.Identity())


@pytest.mark.parametrize("method, sampler", [("teacher", "heun"), ("ddim", "ddim"), ("ddpm", "ddpm")])
def test_build_policy_wires_the_teacher_samplers(method, sampler):
    policy = build_policy(PolicySpec(method, steps=7), FakeTrainer(), seed=11)
    assert (policy.sampler, policy.steps, policy.seed, policy.history, policy.horizon) == (sampler, 7, 11, 2, 2)


def test_build_policy_wires_students_and_the_diffuser():
    trainer = FakeTrainer()
    student = build_policy(PolicySpec("student", nfe=3, reward_weight=0.4), trainer, seed=5)
    ctd = build_policy(PolicySpec("ctd", nfe=2), trainer)
    assert trainer.weights == [0.4, 0.0]
    assert (student.nfe, student.seed, ctd.nfe) == (3, 5, 2)
    diffuser = build_policy(PolicySpec("diffuser", steps=9), trainer, seed=6)
    assert (diffuser.steps, diffuser.seed, diffuser.sampler) == (9, 6, "ddpm")  # Diffuser samples with DDPM


def test_d3rlpy_baselines_are_configured_as_their_papers():
    """BC, IQL and TD3+BC with MLP encoders of the given widths; TD3+BC standardises the states (its paper)."""
    from methods.offline_rl.baselines import d3rlpy_config

    bc, iql, td3bc = (d3rlpy_config(algo, (8, 4), 16) for algo in ("bc", "iql", "td3bc"))
    assert [type(c).__name__ for c in (bc, iql, td3bc)] == ["BCConfig", "IQLConfig", "TD3PlusBCConfig"]
    assert type(td3bc.observation_scaler).__name__ == "StandardObservationScaler"
    assert bc.encoder_factory.hidden_units == [8, 4] and td3bc.actor_encoder_factory.hidden_units == [8, 4]
    assert (bc.batch_size, iql.batch_size, td3bc.batch_size) == (16, 16, 16)


def test_d3rlpy_baseline_trains_the_given_steps_with_its_seed(monkeypatch):
    from methods.offline_rl.baselines import import_d3rlpy, train_d3rlpy

    d3rlpy = import_d3rlpy()
    seeds = []
    real = d3rlpy.seed
    monkeypatch.setattr(d3rlpy, "seed", lambda s: (seeds.append(s), real(s)))
    model = train_d3rlpy("bc", _episodes(), steps=3, hidden=(4,), batch=2, seed=9)
    assert model.grad_step == 3 and seeds == [9]
