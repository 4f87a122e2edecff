"""Minari episodes as training arrays for RACTD's planners and as a d3rlpy dataset for the baselines (RACTD,
Duan et al., arXiv 2506.07822; the authors' D4RL loader ``diffusion_policy/dataset/d4rl_dataset.py``).

`Episodes.from_minari(dataset)` reads every episode of a `minari.MinariDataset` once (goal-conditioned dict
observations flattened by `flatten_obs`). From it:

* ``segments(history, horizon)``: for every step t of every episode, the last ``history`` observations
  (the first one repeated before the episode's start) and the next ``horizon`` actions (the last one repeated
  after its end, as Diffusion Policy pads), both range-normalised to [-1, 1] (`RangeScaler`);
* ``joint_segments(horizon)``: normalised [state, action] windows for a Diffuser-style planner;
* ``return_to_go(gamma)``: the discounted Monte-Carlo return of every step, per episode (never across episodes);
* ``to_mdp_dataset()``: a ``d3rlpy.dataset.MDPDataset`` of the same transitions (terminal and timeout flags
  from Minari's terminations and truncations), so BC, IQL and TD3+BC train from the Minari-loaded form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from methods.offline_rl.reward import discounted_return_to_go

#: keys of a goal-conditioned (dict) observation, concatenated in this order (PointMaze: position and velocity,
#: then the goal; ``achieved_goal`` repeats the position and is left out)
DICT_OBS_KEYS: tuple[str, ...] = ("observation", "desired_goal")


def flatten_obs(obs) -> np.ndarray:
    """A flat float32 observation (or batch of them) from a Box array or a goal-conditioned dict."""
    if isinstance(obs, dict):
        missing = [k for k in DICT_OBS_KEYS if k not in obs]
        if missing:
            raise ValueError(f"dict observation without {', '.join(missing)}; has {', '.join(obs)}")
        return np.concatenate([np.asarray(obs[k], dtype=np.float32) for k in DICT_OBS_KEYS], axis=-1)
    return np.asarray(obs, dtype=np.float32)


@dataclass(frozen=True)
class RangeScaler:
    """Per-dimension affine map of the data's [low, high] onto [-1, 1] (a constant dimension gets span 1: it maps to
    -1 and back to its value)."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> RangeScaler:
        values = np.asarray(values, dtype=np.float64).reshape(-1, np.shape(values)[-1])
        return cls(values.min(axis=0), values.max(axis=0))

    @property
    def _span(self) -> np.ndarray:
        span = self.high - self.low
        return np.where(span > 1e-8, span, 1.0)

    def normalise(self, values: np.ndarray) -> np.ndarray:
        return (2 * (np.asarray(values) - self.low) / self._span - 1).astype(np.float32)

    def unnormalise(self, unit: np.ndarray) -> np.ndarray:
        return self.low + (np.asarray(unit, dtype=np.float64) + 1) * 0.5 * self._span


@dataclass
class Episodes:
    """Per-episode arrays: ``observations[i]`` (T_i + 1, O) including the final one, ``actions[i]`` (T_i, A),
    ``rewards[i]`` (T_i,), ``terminations[i]`` / ``truncations[i]`` (T_i,) bool."""

    observations: list[np.ndarray]
    actions: list[np.ndarray]
    rewards: list[np.ndarray]
    terminations: list[np.ndarray]
    truncations: list[np.ndarray]
    name: str = ""

    @classmethod
    def from_minari(cls, dataset) -> Episodes:
        obs, act, rew, term, trunc = [], [], [], [], []
        for ep in dataset.iterate_episodes():
            obs.append(flatten_obs(ep.observations))
            act.append(np.asarray(ep.actions, dtype=np.float32))
            rew.append(np.asarray(ep.rewards, dtype=np.float64))
            term.append(np.asarray(ep.terminations, dtype=bool))
            trunc.append(np.asarray(ep.truncations, dtype=bool))
        if not act:
            raise ValueError(f"{dataset.spec.dataset_id}: the dataset has no episodes")
        return cls(obs, act, rew, term, trunc, name=str(dataset.spec.dataset_id))

    @property
    def obs_dim(self) -> int:
        return int(self.observations[0].shape[-1])

    @property
    def act_dim(self) -> int:
        return int(self.actions[0].shape[-1])

    @property
    def steps(self) -> int:
        return int(sum(len(a) for a in self.actions))

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of every episode (the dataset's return distribution)."""
        return np.array([float(r.sum()) for r in self.rewards])

    def obs_scaler(self) -> RangeScaler:
        return RangeScaler.fit(np.concatenate([o[:-1] for o in self.observations]))

    def act_scaler(self) -> RangeScaler:
        return RangeScaler.fit(np.concatenate(self.actions))

    def segments(self, history: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(obs_history (N, history * O), action_seq (N, horizon, A)), both normalised, one per dataset step."""
        if history < 1 or horizon < 1:
            raise ValueError(f"history and horizon must be >= 1, got {history} and {horizon}")
        o_sc, a_sc = self.obs_scaler(), self.act_scaler()
        hist, seqs = [], []
        for obs, act in zip(self.observations, self.actions):
            n = len(act)
            o = o_sc.normalise(obs[:n])
            a = a_sc.normalise(act)
            t = np.arange(n)
            o_idx = np.clip(t[:, None] + np.arange(-history + 1, 1)[None], 0, n - 1)
            a_idx = np.clip(t[:, None] + np.arange(horizon)[None], 0, n - 1)
            hist.append(o[o_idx].reshape(n, -1))
            seqs.append(a[a_idx])
        return np.concatenate(hist).astype(np.float32), np.concatenate(seqs).astype(np.float32)

    def joint_segments(self, horizon: int) -> np.ndarray:
        """Normalised [state, action] windows (N, horizon, O + A) starting at every dataset step (padded by the
        episode's last step), the training data of a Diffuser-style planner."""
        o_sc, a_sc = self.obs_scaler(), self.act_scaler()
        out = []
        for obs, act in zip(self.observations, self.actions):
            n = len(act)
            joint = np.concatenate([o_sc.normalise(obs[:n]), a_sc.normalise(act)], axis=1)
            idx = np.clip(np.arange(n)[:, None] + np.arange(horizon)[None], 0, n - 1)
            out.append(joint[idx])
        return np.concatenate(out).astype(np.float32)

    def first_steps(self) -> tuple[np.ndarray, np.ndarray]:
        """Normalised (state, action) of every dataset step, the reward model's inputs."""
        o_sc, a_sc = self.obs_scaler(), self.act_scaler()
        obs = np.concatenate([o_sc.normalise(o[:-1]) for o in self.observations])
        act = np.concatenate([a_sc.normalise(a) for a in self.actions])
        return obs, act

    def return_to_go(self, gamma: float = 0.99) -> np.ndarray:
        """Discounted return-to-go of every step, computed within each episode."""
        rewards = np.concatenate(self.rewards)
        ends = np.concatenate([np.arange(len(r)) == len(r) - 1 for r in self.rewards])
        return discounted_return_to_go(rewards, ends, gamma)

    def to_mdp_dataset(self):
        """The transitions as a d3rlpy ``MDPDataset`` (continuous actions; terminals and timeouts per step)."""
        from methods.offline_rl.baselines import import_d3rlpy

        d3rlpy = import_d3rlpy()
        obs = np.concatenate([o[:-1] for o in self.observations]).astype(np.float32)
        act = np.concatenate(self.actions).astype(np.float32)
        rew = np.concatenate(self.rewards).astype(np.float32)
        term = np.concatenate(self.terminations).astype(np.float32)
        # an episode that neither terminates nor truncates at its last step (a cut buffer) ends as a timeout
        timeout = np.concatenate([tr | ((np.arange(len(tr)) == len(tr) - 1) & ~te)
                                  for te, tr in zip(self.terminations, self.truncations)]).astype(np.float32)
        return d3rlpy.dataset.MDPDataset(obs, act, rew, terminals=term, timeouts=timeout,
                                         action_space=d3rlpy.ActionSpace.CONTINUOUS, action_size=self.act_dim)
