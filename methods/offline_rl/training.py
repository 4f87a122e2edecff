"""Train every method of the RACTD comparison (Duan et al., arXiv 2506.07822) on one dataset and seed, with the
trained weights cached on disk so figures and sweeps reuse them.

Stages follow the authors' pipeline: (1) the EDM teacher on (observation history -> action sequence), unconditional
unless ``teacher_reward_weight`` adds the reward term to its own loss (the teacher-stage ablation);
(2) the reward model on the discounted return-to-go; (3) the student, warm-started from the teacher, with
alpha L_CTM + beta L_DSM + sigma L_Reward (``reward_weight`` 0 is CTD, the student without reward). Baselines:
`methods.offline_rl.baselines`. Each trained part is cached as ``<cache>/<kind>-<hash>.pt`` (d3rlpy: ``.d3``),
the hash over the dataset's content, the part's settings, the seed (`TrainSettings`) and the source of the modules
that train it (`code_fingerprint`: a change to them trains afresh), written atomically;
``$HARNESS_OFFLINE_RL_MODELS`` moves the cache (default ``~/.cache/effml_harness/offline_rl``).

`build_policy(method, ...)` returns a `methods.offline_rl.policies` policy for one of `METHODS`:
teacher (Heun), ddim, ddpm (the teacher's weights, other samplers), student (RACTD), ctd, diffuser, bc, iql, td3bc.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kernels.files import write_atomic
from methods.offline_rl.episodes import Episodes

METHODS: tuple[str, ...] = ("teacher", "ddim", "ddpm", "student", "ctd", "diffuser", "bc", "iql", "td3bc")
CACHE_VERSION = 1
#: the modules whose source decides what a trained part holds (the datasets are keyed by content instead)
TRAINING_MODULES: tuple[str, ...] = ("baselines", "edm", "episodes", "networks", "planner", "reward", "student",
                                     "training")


@dataclass(frozen=True)
class TrainSettings:
    """Sizes and steps of every trained part (quick defaults; the authors' values in the comments)."""

    network: str = "toy_mlp"  # authors: the 512/1024/2048 U-Net ("paper")
    horizon: int = 8  # authors: 16
    history: int = 1  # authors: 1 (MuJoCo)
    batch: int = 256  # authors: 1024 (teacher), 4800 (student)
    teacher_steps: int = 400  # authors: 1000 epochs
    teacher_lr: float = 1e-3  # authors: 1e-4 over far more steps
    reward_epochs: int = 2  # authors: 50
    student_steps: int = 200  # authors: 400-700 epochs
    student_lr: float = 1e-3  # authors: 1e-4
    alpha: float = 1.0
    beta: float = 1.0
    reward_weight: float = 1.0  # sigma, per task (authors: 0-1)
    teacher_reward_weight: float = 0.0  # the reward term at the teacher stage instead (tab5 ablation; authors: 0)
    baseline_steps: int = 1000  # d3rlpy gradient steps (their papers: 1M)
    baseline_hidden: tuple[int, ...] = (64, 64)  # their papers: 256 x 2 or 3
    diffuser_steps: int = 400  # training steps of the Diffuser-style planner

    def __post_init__(self) -> None:
        object.__setattr__(self, "baseline_hidden", tuple(self.baseline_hidden))


def default_cache_dir() -> Path:
    return Path(os.environ.get("HARNESS_OFFLINE_RL_MODELS", Path.home() / ".cache" / "effml_harness" / "offline_rl"))


def fingerprint(episodes: Episodes) -> str:
    """sha256 over every episode's observations, actions and rewards (the dataset's content, not its name)."""
    h = hashlib.sha256()
    for parts in zip(episodes.observations, episodes.actions, episodes.rewards):
        for array in parts:
            h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()[:16]


@functools.cache
def code_fingerprint() -> str:
    """sha256 over the source of `TRAINING_MODULES`, so that cached models trained by older code are not reused."""
    h = hashlib.sha256()
    for name in TRAINING_MODULES:
        h.update((Path(__file__).parent / f"{name}.py").read_bytes())
    return h.hexdigest()[:16]


def _key(kind: str, payload: dict[str, Any]) -> str:
    text = json.dumps({"v": CACHE_VERSION, "code": code_fingerprint(), "kind": kind, **payload}, sort_keys=True,
                      default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


@dataclass
class Trainer:
    """Trains (or loads) the parts of every method for one dataset and seed; ``cached`` counts reused parts."""

    episodes: Episodes
    settings: TrainSettings
    seed: int = 0
    cache_dir: Path | None = None

    def __post_init__(self) -> None:
        self.cache = self.cache_dir or default_cache_dir()
        self.data_id = fingerprint(self.episodes)
        self.cached: dict[str, bool] = {}
        self.losses: dict[str, list] = {}
        self._memo: dict[str, Any] = {}

    # ------------------------------------------------------------------------------------------- keys
    def _payload(self, *fields: str) -> dict[str, Any]:
        s = asdict(self.settings)
        return {"data": self.data_id, "seed": self.seed, **{f: s[f] for f in fields}}

    def teacher_key(self) -> str:
        payload = self._payload("network", "horizon", "history", "batch", "teacher_steps", "teacher_lr")
        if self.settings.teacher_reward_weight:
            payload |= {"teacher_reward_weight": self.settings.teacher_reward_weight, "reward": self.reward_key()}
        return _key("teacher", payload)

    def reward_key(self) -> str:
        return _key("reward", self._payload("reward_epochs"))

    def student_key(self, reward_weight: float) -> str:
        s = self._payload("batch", "student_steps", "student_lr", "alpha", "beta")
        return _key("student", s | {"teacher": self.teacher_key(), "reward": self.reward_key(),
                                    "reward_weight": reward_weight})

    # ------------------------------------------------------------------------------------------- parts
    def _torch_part(self, key: str, build, train) -> Any:
        if key in self._memo:
            return self._memo[key]
        path = self.cache / f"{key}.pt"
        torch.manual_seed(self.seed)
        model = build()
        if path.exists():
            saved = torch.load(path, weights_only=False)
            model.load_state_dict(saved["state"])
            self.cached[key.split("-")[0]] = True
            losses = saved["losses"]
        else:
            losses = train(model)
            write_atomic(path, lambda tmp: torch.save({"state": model.state_dict(), "losses": losses}, tmp))
            self.cached[key.split("-")[0]] = False
        model.eval().requires_grad_(False)
        self.losses[key.split("-")[0]] = losses
        self._memo[key] = model
        return model

    def _net(self, with_stop_time: bool = False, act_dim: int | None = None, obs_dim: int | None = None):
        from methods.offline_rl.networks import build_network

        s = self.settings
        return build_network(s.network, act_dim=act_dim or self.episodes.act_dim,
                             obs_dim=self.episodes.obs_dim * s.history if obs_dim is None else obs_dim,
                             horizon=s.horizon, with_stop_time=with_stop_time)

    def _segments(self) -> tuple[torch.Tensor, torch.Tensor]:
        if "segments" not in self._memo:
            obs, seq = self.episodes.segments(self.settings.history, self.settings.horizon)
            self._memo["segments"] = (torch.as_tensor(seq), torch.as_tensor(obs))
        return self._memo["segments"]

    def teacher(self):
        from methods.offline_rl.edm import EDMDenoiser, train_denoiser

        s = self.settings

        penalty = None
        if s.teacher_reward_weight:
            current = _CurrentState(self.reward(), self.episodes.obs_dim)

            def penalty(denoised, obs):
                return -s.teacher_reward_weight * current(denoised[:, 0, :], obs).mean()

        def train(model):
            x0, obs = self._segments()
            return train_denoiser(model, x0, obs, steps=s.teacher_steps, batch=s.batch, lr=s.teacher_lr,
                                  seed=self.seed, penalty=penalty)

        return self._torch_part(self.teacher_key(), lambda: EDMDenoiser(self._net()), train)

    def reward(self):
        from methods.offline_rl.reward import RewardModel, fit_reward_model

        obs, act = self.episodes.first_steps()
        rtg = self.episodes.return_to_go()

        def train(model):
            fitted, _ = fit_reward_model(act, obs, rtg, epochs=self.settings.reward_epochs, seed=self.seed,
                                         batch=256)
            model.load_state_dict(fitted.state_dict())
            return []

        return self._torch_part(self.reward_key(), lambda: RewardModel(act.shape[1], obs.shape[1]), train)

    def student(self, reward_weight: float | None = None):
        from methods.offline_rl.student import StudentConfig, student_from_teacher, train_student

        s = self.settings
        weight = s.reward_weight if reward_weight is None else reward_weight
        teacher = self.teacher()
        reward = self.reward() if weight != 0 else None
        cfg = StudentConfig(steps=s.student_steps, batch=s.batch, lr=s.student_lr, alpha=s.alpha, beta=s.beta,
                            reward_weight=weight, seed=self.seed)
        obs_dim = self.episodes.obs_dim

        def build():
            return student_from_teacher(teacher, self._net(with_stop_time=True))

        def train(model):
            x0, obs = self._segments()
            wrapped = _CurrentState(reward, obs_dim) if reward is not None else None
            return train_student(model, teacher, wrapped, x0, obs, cfg)

        return self._torch_part(self.student_key(weight), build, train)

    def d3rlpy(self, algo: str):
        from methods.offline_rl.baselines import import_d3rlpy, train_d3rlpy

        d3rlpy = import_d3rlpy()

        s = self.settings
        key = _key(algo, self._payload("baseline_steps", "baseline_hidden", "batch"))
        if key in self._memo:
            return self._memo[key]
        path = self.cache / f"{key}.d3"
        if path.exists():
            model = d3rlpy.load_learnable(str(path), device="cpu:0")
            self.cached[algo] = True
        else:
            model = train_d3rlpy(algo, self.episodes, steps=s.baseline_steps, hidden=s.baseline_hidden,
                                 batch=s.batch, seed=self.seed)
            write_atomic(path, lambda tmp: model.save(tmp))
            self.cached[algo] = False
        self._memo[key] = model
        return model

    def diffuser(self):
        from methods.offline_rl.baselines import diffuser_model
        from methods.offline_rl.edm import train_denoiser

        s = self.settings
        key = _key("diffuser", self._payload("network", "horizon", "batch", "diffuser_steps", "teacher_lr"))

        def train(model):
            x0 = torch.as_tensor(self.episodes.joint_segments(s.horizon))
            return train_denoiser(model, x0, None, steps=s.diffuser_steps, batch=s.batch, lr=s.teacher_lr,
                                  seed=self.seed)

        return self._torch_part(key, lambda: diffuser_model(self.episodes, s.horizon, s.network), train)


class _CurrentState(torch.nn.Module):
    """The frozen reward model fed the current state, the last ``obs_dim`` entries of the observation history."""

    def __init__(self, reward, obs_dim: int) -> None:
        super().__init__()
        self.reward = reward
        self.obs_dim = obs_dim

    def forward(self, action: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        return self.reward(action, state[:, -self.obs_dim:])


@dataclass(frozen=True)
class PolicySpec:
    """One evaluated method: ``method`` in `METHODS`; sampler bins for teacher samplers; jumps for a student;
    an optional reward weight for the student (default: the settings')."""

    method: str
    steps: int = 80
    nfe: int = 1
    reward_weight: float | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; known: {', '.join(METHODS)}")


def build_policy(spec: PolicySpec, trainer: Trainer, seed: int = 0):
    """The trained policy of ``spec`` (training or loading its parts)."""
    from methods.offline_rl.policies import D3rlpyPolicy, DiffuserPolicy, PlannerPolicy

    ep, s = trainer.episodes, trainer.settings
    common = {"obs_scaler": ep.obs_scaler(), "act_scaler": ep.act_scaler(), "seed": seed}
    if spec.method in ("teacher", "ddim", "ddpm"):
        sampler = {"teacher": "heun", "ddim": "ddim", "ddpm": "ddpm"}[spec.method]
        return PlannerPolicy(trainer.teacher(), history=s.history, horizon=s.horizon, sampler=sampler,
                             steps=spec.steps, **common)
    if spec.method in ("student", "ctd"):
        weight = 0.0 if spec.method == "ctd" else spec.reward_weight
        return PlannerPolicy(trainer.student(weight), history=s.history, horizon=s.horizon, sampler=None,
                             nfe=spec.nfe, **common)
    if spec.method == "diffuser":
        return DiffuserPolicy(trainer.diffuser(), horizon=s.horizon, steps=spec.steps, **common)
    return D3rlpyPolicy(trainer.d3rlpy(spec.method))
