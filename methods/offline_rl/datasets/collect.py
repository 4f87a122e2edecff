"""Roll a recipe's behaviour out into episodes (D4RL's collection recipes, arXiv 2004.07219).

Each component of a `DatasetSpec` contributes ``round(fraction * transitions)`` transitions, in order. Policy and
controller components reset episode ``i`` with seed ``seed * 1_000_000 + i`` and draw every random number (random
actions, the SAC policy's Gaussian, the controller's noise) from ``numpy.random.default_rng(seed)``; the last episode
is cut at the budget and marked truncated. A replay component takes whole episodes of the committed replay stream
in a seeded random order (every episode when the size asks for all). Smaller sizes are prefixes of larger ones.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import numpy as np

from methods.offline_rl.datasets.specs import ROOT, Component, DatasetSpec

RESET_SEED_STRIDE = 1_000_000


@dataclass
class Episode:
    """One episode: ``observations`` has one row more than ``actions`` (a dict of arrays for goal-conditioned
    observations); ``cut`` marks an episode shortened at the size budget (left out of the return statistics)."""

    observations: np.ndarray | dict
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    seed: int | None = None
    cut: bool = False

    def __len__(self) -> int:
        return len(self.rewards)

    def truncated_to(self, steps: int) -> Episode:
        if steps >= len(self):
            return self
        obs = ({k: v[:steps + 1] for k, v in self.observations.items()} if isinstance(self.observations, dict)
               else self.observations[:steps + 1])
        trunc = self.truncations[:steps].copy()
        if not self.terminations[steps - 1]:
            trunc[steps - 1] = True
        return Episode(obs, self.actions[:steps], self.rewards[:steps], self.terminations[:steps], trunc,
                       self.seed, cut=True)


def make_env(env_id: str, kwargs: dict | None = None) -> gym.Env:
    """``gym.make`` with the gymnasium-robotics environments registered for PointMaze ids."""
    if env_id.startswith("PointMaze"):
        gym.register_envs(import_gymnasium_robotics())
    return without_model_file(gym.make(env_id, **(kwargs or {})))


def evaluation_env(dataset) -> gym.Env:
    """A Minari ``dataset``'s evaluation environment (``recover_environment(eval_env=True)``), with gymnasium-robotics
    imported quietly first (a maze's entry point imports it) and a maze's model file removed."""
    import_gymnasium_robotics()
    return without_model_file(dataset.recover_environment(eval_env=True))


def import_gymnasium_robotics() -> ModuleType:
    """The ``gymnasium_robotics`` package, imported without the notice its first import prints to stderr (its
    Adroit hand environments' rewards changed in 1.2.1; none of them is used here)."""
    with contextlib.redirect_stderr(io.StringIO()):
        import gymnasium_robotics
    return gymnasium_robotics


def without_model_file(env: gym.Env) -> gym.Env:
    """``env``, after deleting the MuJoCo model file a gymnasium-robotics maze writes into the temp folder when it
    is built and never removes (MuJoCo has read it by then); without this each maze leaves a file behind."""
    path = getattr(env.unwrapped, "tmp_xml_file_path", None)
    if path and Path(path).parent == Path(tempfile.gettempdir()):
        Path(path).unlink(missing_ok=True)
    return env


@contextlib.contextmanager
def temp_files_kept_apart() -> Iterator[None]:
    """Inside, the process's temp files go to a private folder deleted on exit: for code that builds maze
    environments we cannot clean (Minari's dataset creation makes its own), whose model files would otherwise stay
    in the temp folder. Sets the documented ``tempfile.tempdir`` meanwhile."""
    previous = tempfile.tempdir
    with tempfile.TemporaryDirectory(prefix="effml-temp-") as private:
        tempfile.tempdir = private
        try:
            yield
        finally:
            tempfile.tempdir = previous


def _stack(items: list) -> np.ndarray | dict:
    if isinstance(items[0], dict):
        return {k: np.stack([np.asarray(it[k]) for it in items]) for k in items[0]}
    return np.stack([np.asarray(it) for it in items])


def behaviour(comp: Component, env: gym.Env) -> Callable[[object, np.random.Generator], np.ndarray]:
    """The action function of a policy, random or controller component."""
    from methods.offline_rl.datasets.maze_planner import MazePlanner
    from methods.offline_rl.datasets.policies import RandomPolicy, SacActor

    if comp.behaviour == "random":
        return RandomPolicy(env.action_space.low, env.action_space.high)
    if comp.behaviour == "policy":
        return SacActor(ROOT / comp.policy, stochastic=comp.stochastic)
    if comp.behaviour == "maze_planner":
        return MazePlanner(env, action_noise=comp.action_noise)
    raise ValueError(f"behaviour {comp.behaviour!r} has no action function")


def rollouts(env: gym.Env, act: Callable, seed: int) -> Iterator[Episode]:
    """Endless seeded episodes of ``act`` in ``env`` (each ends by the environment: termination or time limit)."""
    rng = np.random.default_rng(seed)
    index = 0
    while True:
        reset_seed = seed * RESET_SEED_STRIDE + index
        obs, _ = env.reset(seed=reset_seed)
        observations, actions, rewards, terms, truncs = [obs], [], [], [], []
        done = False
        while not done:
            action = act(obs, rng)
            obs, reward, terminated, truncated, _ = env.step(action)
            observations.append(obs)
            actions.append(action)
            rewards.append(reward)
            terms.append(terminated)
            truncs.append(truncated)
            done = terminated or truncated
        yield Episode(_stack(observations), np.stack(actions).astype(np.float32), np.asarray(rewards, np.float64),
                      np.asarray(terms, bool), np.asarray(truncs, bool), seed=reset_seed)
        index += 1


def load_stream(path: Path) -> list[Episode]:
    """Episodes of a committed replay stream (``observations``, ``actions``, ``rewards``, ``terminations``,
    ``truncations`` per row; ``final_observations`` per episode; the last episode may end at the cut)."""
    data = np.load(path)
    obs, act, rew = data["observations"], data["actions"], data["rewards"]
    term, trunc, final = data["terminations"], data["truncations"], data["final_observations"]
    ends = np.flatnonzero(term | trunc) + 1
    if len(ends) == 0 or ends[-1] != len(rew):
        ends = np.append(ends, len(rew))
    starts = np.concatenate([[0], ends[:-1]])
    if len(final) != len(ends):
        raise ValueError(f"{path}: {len(final)} final observations for {len(ends)} episodes")
    episodes = []
    for e, (a, b) in enumerate(zip(starts, ends)):
        t = trunc[a:b].copy()
        if not (term[b - 1] or t[-1]):
            t[-1] = True  # the stream stops at the medium checkpoint inside this episode
        episodes.append(Episode(np.concatenate([obs[a:b], final[e:e + 1]]).astype(np.float64),
                                act[a:b].astype(np.float32), rew[a:b].astype(np.float64), term[a:b].astype(bool),
                                t.astype(bool)))
    return episodes


def _budgeted(source: Iterator[Episode], budget: int | None) -> list[Episode]:
    out, total = [], 0
    if budget is not None and budget <= 0:  # a component whose share rounds to no transition takes none
        return out
    for episode in source:
        if budget is not None and total + len(episode) >= budget:
            out.append(episode.truncated_to(budget - total))
            return out
        out.append(episode)
        total += len(episode)
    return out


def _component_episodes(spec: DatasetSpec, comp: Component, budget: int | None) -> list[Episode]:
    if comp.behaviour == "replay":
        stream = load_stream(ROOT / comp.stream)
        order = np.random.default_rng(comp.seed).permutation(len(stream))
        return _budgeted((stream[i] for i in order), budget)
    if budget is None:
        raise ValueError(f"{spec.name}: only a replay stream can give 'every transition'")
    env = make_env(spec.env_id, spec.env_kwargs)
    try:
        return _budgeted(rollouts(env, behaviour(comp, env), comp.seed), budget)
    finally:
        env.close()


def collect(spec: DatasetSpec, size: str) -> list[Episode]:
    """All episodes of ``spec`` at ``size``, component after component."""
    total = spec.transitions[size]
    episodes, given = [], 0
    for i, comp in enumerate(spec.components):
        last = i == len(spec.components) - 1
        budget = None if total is None else (total - given if last else int(round(comp.fraction * total)))
        part = _component_episodes(spec, comp, budget)
        episodes += part
        given += sum(len(e) for e in part)
    return episodes
