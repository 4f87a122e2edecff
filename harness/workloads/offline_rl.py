"""Scenario kind ``offline_rl``: train RACTD's teacher and student and every baseline on one locally generated
Minari dataset and seed, then evaluate each closed loop in the dataset's environment (RACTD, Duan et al., arXiv
2506.07822, Tables 1, 3-5, 14-17, Figures 3-4).

Per run (one dataset, one ``seed``): the dataset is loaded through ``methods.offline_rl.datasets.load`` (a
``minari.MinariDataset``), read into `methods.offline_rl.episodes.Episodes`, and every listed method is trained
or loaded from the model cache (`methods.offline_rl.training`: teacher, reward model and student shared between
the methods that use them; d3rlpy baselines from the same episodes). Each method then runs
``rollout.episodes`` episodes in lock step (`methods.offline_rl.rollout`), at most ``rollout.max_steps`` steps
each, and one action at batch 1 is timed. A planner's sampling noise is seeded by the run's seed and the method's
name, so a method acts the same wherever it is listed.

Metrics: one row per (method, episode): ``episode_return``, ``normalized_score`` (D4RL's formula against the
dataset family's random and expert references), ``episode_length``, ``nfe`` (counted network evaluations per
action), ``action_ms`` (batch-1 wall time per action, median), ``step_ms`` (one batched step of all episodes),
``reward_weight`` (the student's sigma; NaN for other methods). run.json info: the dataset's own episode returns
and normalised scores over their first ``rollout.max_steps`` steps, the cap the rollouts have
(``dataset_returns``, ``dataset_scores``), the training losses (every 10th step), which
parts came from the cache, the settings.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from harness.config.blocks import NAME_PATTERN, ScenarioBase, Strict
from harness.non_finite import NOT_APPLICABLE_KEY
from harness.workloads.base import RunContext, RunOutput, register_workload, torch_threads

MethodName = Literal["teacher", "ddim", "ddpm", "student", "ctd", "diffuser", "bc", "iql", "td3bc"]
LOSS_EVERY = 10
SAMPLED = ("teacher", "ddim", "ddpm", "diffuser")  # methods that sample on a grid of ``steps`` bins
#: ``reward_weight`` is NaN on the rows of methods without one (all but student and ctd; `harness.non_finite`)
NAN_MEANS_NOT_APPLICABLE = ("reward_weight",)


class MethodEntry(Strict):
    name: str = Field(pattern=NAME_PATTERN, max_length=64, description="label of the method in the metrics")
    method: MethodName = Field(description="teacher (EDM, Heun), ddim / ddpm (the teacher's other samplers), "
                               "student (RACTD), ctd (student without reward), diffuser, bc, iql, td3bc")
    steps: PositiveInt = Field(80, le=10_000, description="sampler bins of teacher / ddim / ddpm / diffuser")
    nfe: PositiveInt = Field(1, le=64, description="student jumps per action (1 = one-step)")
    reward_weight: NonNegativeFloat | None = Field(None, le=100.0, description="student's sigma; default: "
                                                   "train.reward_weight")

    @model_validator(mode="after")
    def _fits(self) -> MethodEntry:
        if self.method in SAMPLED and self.steps < 2:
            raise ValueError(f"steps: the {self.method} sampler needs at least 2 bins (its Karras grid runs from "
                             f"sigma_max to sigma_min), got {self.steps}")
        if self.nfe != 1 and self.method not in ("student", "ctd"):
            raise ValueError(f"nfe: only a student makes several jumps; {self.method} has steps instead")
        return self


class TrainBlock(Strict):
    network: Literal["toy_mlp", "cpu_small", "paper"] = Field("toy_mlp", description="denoiser network preset "
                                                               "(methods.offline_rl.networks.PRESETS)")
    horizon: PositiveInt = Field(8, le=1024, description="planned actions c (authors: 16)")
    history: PositiveInt = Field(1, le=64, description="observations h the planner conditions on (authors: 1)")
    batch: PositiveInt = Field(256, le=65_536)
    teacher_steps: PositiveInt = Field(400, le=10_000_000)
    teacher_lr: PositiveFloat = Field(1e-3, le=1.0)
    reward_epochs: PositiveInt = Field(2, le=10_000)
    student_steps: PositiveInt = Field(200, le=10_000_000)
    student_lr: PositiveFloat = Field(1e-3, le=1.0)
    alpha: NonNegativeFloat = Field(1.0, le=100.0, description="CTM loss weight")
    beta: NonNegativeFloat = Field(1.0, le=100.0, description="DSM loss weight")
    reward_weight: NonNegativeFloat = Field(1.0, le=100.0, description="reward loss weight sigma")
    teacher_reward_weight: NonNegativeFloat = Field(0.0, le=100.0, description="reward term in the teacher's own "
                                                    "loss (the teacher-stage ablation; the method: 0)")
    baseline_steps: PositiveInt = Field(1000, le=10_000_000, description="d3rlpy gradient steps")
    baseline_hidden: list[PositiveInt] = Field(default_factory=lambda: [64, 64], min_length=1, max_length=8)
    diffuser_steps: PositiveInt = Field(400, le=10_000_000, description="Diffuser-style planner training steps")

    @model_validator(mode="after")
    def _horizon_fits(self) -> TrainBlock:
        from methods.offline_rl.networks import PRESETS

        cfg = PRESETS[self.network]
        factor = 2 ** (len(cfg.down_dims) - 1)
        if cfg.kind == "unet" and self.horizon % factor:
            raise ValueError(f"horizon: the {self.network} U-Net halves it {len(cfg.down_dims) - 1} times; "
                             f"expected a multiple of {factor}, got {self.horizon}")
        return self


class RolloutBlock(Strict):
    episodes: PositiveInt = Field(5, le=10_000, description="evaluation episodes per method (in lock step)")
    max_steps: PositiveInt | None = Field(1000, le=1_000_000, description="cap on each episode's steps")
    timing_repeats: PositiveInt = Field(5, le=10_000, description="timed batch-1 actions per method")


class OfflineRLWorkload(Strict):
    dataset: str = Field(pattern=NAME_PATTERN, max_length=128,
                         description="a locally generated dataset (methods.offline_rl.datasets.DATASETS)")
    dataset_size: Literal["test", "quick", "full"] = Field("quick", description="the dataset's size profile")
    methods: list[MethodEntry] = Field(min_length=1, max_length=64)
    train: TrainBlock = Field(default_factory=TrainBlock)
    rollout: RolloutBlock = Field(default_factory=RolloutBlock)

    @model_validator(mode="after")
    def _check(self) -> OfflineRLWorkload:
        names = [m.name for m in self.methods]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"methods: {', '.join(twice)} listed twice")
        known = known_datasets()
        if known is not None and self.dataset not in known:
            raise ValueError(f"dataset: unknown dataset {self.dataset!r}; known: {', '.join(known)}")
        return self


class OfflineRLScenario(ScenarioBase):
    """Offline RL on one local Minari dataset: train, then roll out every method; normalised returns, NFE, time."""

    kind: Literal["offline_rl"] = "offline_rl"
    workload: OfflineRLWorkload


def known_datasets() -> list[str] | None:
    """The names the dataset package makes (None while it cannot be imported)."""
    try:
        from methods.offline_rl.datasets import DATASETS
    except ImportError:
        return None
    return sorted(DATASETS)


def load_dataset(name: str, size: str):
    """The Minari dataset ``name`` at ``size`` (made here on first use, then loaded from disk)."""
    from methods.offline_rl.datasets import load

    return load(name, size=size)


def normalized_score(name: str, episode_return: float) -> float:
    """D4RL's normalised score against the dataset family's local random and expert references."""
    from methods.offline_rl.datasets import normalized_score as score

    return float(score(name, episode_return))


def settings_of(block: TrainBlock):
    from methods.offline_rl.training import TrainSettings

    return TrainSettings(**{**block.model_dump(), "baseline_hidden": tuple(block.baseline_hidden)})


def evaluate_methods(dataset, w: OfflineRLWorkload, seed: int,
                     progress: Callable[[int, int], None]) -> tuple[pd.DataFrame, dict]:
    """Train (or load) and roll out every method of ``w`` on ``dataset``; the metrics rows and run.json info.
    ``progress(methods_done, methods)`` after each method."""
    from methods.offline_rl.datasets.collect import evaluation_env
    from methods.offline_rl.episodes import Episodes
    from methods.offline_rl.rollout import rollout, time_per_action
    from methods.offline_rl.training import PolicySpec, Trainer, build_policy

    episodes = Episodes.from_minari(dataset)
    trainer = Trainer(episodes, settings_of(w.train), seed=seed)
    probe = episodes.observations[0][0]
    rows = []
    for done, entry in enumerate(w.methods, start=1):
        spec = PolicySpec(entry.method, steps=entry.steps, nfe=entry.nfe, reward_weight=entry.reward_weight)
        policy = build_policy(spec, trainer, seed=seed * 100_000 + zlib.crc32(entry.name.encode()) % 100_000)
        result = rollout(policy, lambda: evaluation_env(dataset), episodes=w.rollout.episodes, seed=seed,
                         max_steps=w.rollout.max_steps)
        action_ms = time_per_action(policy, probe, w.rollout.timing_repeats)
        weight = np.nan
        if entry.method in ("student", "ctd"):
            weight = 0.0 if entry.method == "ctd" else (entry.reward_weight if entry.reward_weight is not None
                                                        else w.train.reward_weight)
        for k, (ret, length) in enumerate(zip(result.returns, result.lengths)):
            rows.append({"method": entry.name, "method_kind": entry.method, "steps": entry.steps, "nfe_setting":
                         entry.nfe, "episode": k, "episode_return": float(ret),
                         "normalized_score": normalized_score(w.dataset, float(ret)), "episode_length": int(length),
                         "nfe": result.evaluations_per_action, "action_ms": action_ms, "step_ms": result.step_ms,
                         "reward_weight": weight})
        progress(done, len(w.methods))
    cap = w.rollout.max_steps
    dataset_returns = np.array([float(r[:cap].sum()) for r in episodes.rewards])  # cut like the rollouts
    info = {
        "dataset": {"name": w.dataset, "size": w.dataset_size, "episodes": len(episodes.actions),
                    "transitions": episodes.steps, "id": episodes.name},
        "dataset_returns": [float(r) for r in dataset_returns],
        "dataset_scores": [normalized_score(w.dataset, float(r)) for r in dataset_returns],
        "losses": {part: _thin(losses) for part, losses in trainer.losses.items()},
        "cached_parts": dict(trainer.cached),
        "torch_threads": 1,
        NOT_APPLICABLE_KEY: list(NAN_MEANS_NOT_APPLICABLE),
    }
    return pd.DataFrame(rows), info


def _thin(losses: list) -> list:
    return [losses[i] for i in range(0, len(losses), LOSS_EVERY)]


@register_workload("offline_rl", OfflineRLScenario)
def run(scenario: OfflineRLScenario, ctx: RunContext) -> RunOutput:
    """One row per (method, evaluation episode); dataset returns, losses and cache use in info."""
    w = scenario.workload
    dataset = load_dataset(w.dataset, w.dataset_size)
    with torch_threads(1):
        metrics, info = evaluate_methods(dataset, w, scenario.seed, ctx.progress)
    return RunOutput(metrics=metrics, info=info)
