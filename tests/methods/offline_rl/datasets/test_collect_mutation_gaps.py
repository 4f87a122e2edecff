"""Gaps in the tests of `methods.offline_rl.datasets.collect` found by a mutation audit.

Closed here (no environment is built: stand-in environments and episodes, so nothing is collected for real):
- `Episode.truncated_to` cuts dict observations too, keeps the seed, and keeps a termination at the cut unmarked;
- `_budgeted` stops exactly at the budget (no empty episode after it) and cuts the last episode to what is left;
  a zero budget (a share that rounds to 0) takes nothing (it raised IndexError: fixed);
- `collect` gives each component ``round(fraction * total)`` and the last one what the others left;
- a replay component takes its stream's episodes in the seeded order; a non-replay one refuses "every transition";
- `behaviour`: random actions span the action box; a behaviour without an action function is refused;
- `rollouts` reseeds each episode with ``seed * 1_000_000 + index`` and ends an episode at truncation too;
  dict observations are stacked per key;
- `load_stream`: a stream ending on an episode end has no extra episode; too many final observations are refused;
- `without_model_file` deletes only a model file in the temp folder; `temp_files_kept_apart` restores the temp dir.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import methods.offline_rl.datasets.collect as collect_mod
from methods.offline_rl.datasets.collect import Episode, load_stream
from methods.offline_rl.datasets.specs import Component, DatasetSpec


def _episode(steps: int, seed: int | None = None) -> Episode:
    return Episode(np.arange(steps + 1, dtype=np.float64)[:, None], np.zeros((steps, 1), np.float32),
                   np.ones(steps), np.zeros(steps, bool), np.zeros(steps, bool), seed=seed)


def test_a_cut_keeps_dict_observations_one_row_longer_and_the_seed():
    ep = Episode({"a": np.arange(5), "b": np.arange(10, 15)}, np.zeros((4, 1), np.float32), np.ones(4),
                 np.zeros(4, bool), np.zeros(4, bool), seed=7)
    cut = ep.truncated_to(2)
    np.testing.assert_array_equal(cut.observations["a"], [0, 1, 2])
    np.testing.assert_array_equal(cut.observations["b"], [10, 11, 12])
    assert cut.seed == 7 and cut.cut
    np.testing.assert_array_equal(cut.truncations, [False, True])


def test_a_cut_at_a_termination_is_not_marked_truncated():
    ep = Episode(np.zeros((5, 1)), np.zeros((4, 1), np.float32), np.ones(4), np.array([0, 1, 0, 0], bool),
                 np.zeros(4, bool))
    cut = ep.truncated_to(2)
    np.testing.assert_array_equal(cut.terminations, [False, True])
    np.testing.assert_array_equal(cut.truncations, [False, False])


@pytest.mark.parametrize(("budget", "lengths", "last_cut"), [(6, [3, 3], False), (7, [3, 3, 1], True),
                                                             (2, [2], True), (None, [3, 3, 3], False)])
def test_a_budget_takes_whole_episodes_then_cuts_the_last(budget, lengths, last_cut):
    out = collect_mod._budgeted(iter([_episode(3), _episode(3), _episode(3)]), budget)
    assert [len(e) for e in out] == lengths
    assert out[-1].cut is last_cut
    assert not any(e.cut for e in out[:-1])


def _spec(fractions, total) -> DatasetSpec:
    comps = tuple(Component("random", fraction=f, seed=i) for i, f in enumerate(fractions))
    return DatasetSpec("toy", "hopper", "Toy-v0", comps, {"test": total, "quick": total, "full": total})


def test_each_component_gets_its_rounded_share_and_the_last_gets_the_rest(monkeypatch):
    budgets = []

    def episodes(spec, comp, budget):
        budgets.append((comp.seed, budget))
        return [_episode(budget - 1), _episode(1)] if comp.seed == 0 else [_episode(budget)]

    monkeypatch.setattr(collect_mod, "_component_episodes", episodes)
    out = collect_mod.collect(_spec((0.35, 0.35, 0.3), 10), "test")
    assert budgets == [(0, 4), (1, 4), (2, 2)]  # round(3.5) = 4, twice; 10 - 8 = 2 left for the last
    assert sum(len(e) for e in out) == 10 and len(out) == 4


def test_a_short_component_leaves_its_shortfall_to_the_last(monkeypatch):
    budgets = []

    def episodes(spec, comp, budget):
        budgets.append(budget)
        return [_episode(1)] if comp.seed == 0 else [_episode(budget)]

    monkeypatch.setattr(collect_mod, "_component_episodes", episodes)
    collect_mod.collect(_spec((0.5, 0.5), 8), "test")
    assert budgets == [4, 7]


def test_a_replay_component_takes_the_stream_in_seeded_order(monkeypatch):
    stream = [_episode(n) for n in (1, 2, 3, 4, 5)]
    monkeypatch.setattr(collect_mod, "load_stream", lambda path: stream)
    comp = Component("replay", stream="s.npz", seed=0)
    spec = DatasetSpec("toy", "hopper", "Toy-v0", (comp,), {"test": 10, "quick": 10, "full": None})
    everything = collect_mod._component_episodes(spec, comp, None)
    assert [len(e) for e in everything] == [3, 5, 4, 1, 2]  # numpy.random.default_rng(0).permutation(5)
    assert [len(e) for e in collect_mod._component_episodes(spec, comp, 10)] == [3, 5, 2]


def test_only_a_replay_stream_can_give_every_transition():
    spec = _spec((1.0,), 10)
    with pytest.raises(ValueError, match="toy: only a replay stream can give 'every transition'"):
        collect_mod._component_episodes(spec, spec.components[0], None)


def test_random_actions_span_the_action_box():
    env = SimpleNamespace(action_space=SimpleNamespace(low=np.array([-1.0, 0.0]), high=np.array([2.0, 0.5])))
    act = collect_mod.behaviour(Component("random"), env)
    draws = np.stack([act(None, np.random.default_rng(s)) for s in range(200)])
    assert draws.min(axis=0)[0] >= -1.0 and draws.max(axis=0)[0] <= 2.0
    assert draws.max(axis=0)[0] > 1.5 and draws.min(axis=0)[0] < -0.5
    assert draws.max(axis=0)[1] > 0.4 and draws.min(axis=0)[1] >= 0.0


def test_a_behaviour_without_an_action_function_is_refused():
    with pytest.raises(ValueError, match="behaviour 'replay' has no action function"):
        collect_mod.behaviour(Component("replay"), SimpleNamespace())


class _CountingEnv:
    """Episodes of ``steps`` steps, ended by truncation (``truncate``) or termination; records reset seeds."""

    def __init__(self, steps: int, truncate: bool) -> None:
        self.steps, self.truncate, self.seeds, self.t = steps, truncate, [], 0

    def reset(self, seed):
        self.seeds.append(seed)
        self.t = 0
        return np.array([float(seed)]), {}

    def step(self, action):
        assert self.t < self.steps, "stepped past the end of the episode"
        self.t += 1
        end = self.t >= self.steps
        return np.array([float(self.t)]), 1.0, end and not self.truncate, end and self.truncate, {}


@pytest.mark.parametrize("truncate", [True, False])
def test_rollouts_reseed_every_episode_and_end_at_truncation_or_termination(truncate):
    env = _CountingEnv(3, truncate)
    source = collect_mod.rollouts(env, lambda obs, rng: np.array([0.5], np.float64), seed=3)
    first, second = next(source), next(source)
    assert env.seeds == [3_000_000, 3_000_001]
    assert first.seed == 3_000_000 and second.seed == 3_000_001
    assert len(first) == 3 and first.actions.dtype == np.float32
    np.testing.assert_array_equal(first.observations[:, 0], [3_000_000, 1, 2, 3])
    assert bool(first.truncations[-1]) is truncate and bool(first.terminations[-1]) is not truncate


def test_dict_observations_are_stacked_per_key():
    stacked = collect_mod._stack([{"a": 1, "b": [1, 2]}, {"a": 2, "b": [3, 4]}])
    assert set(stacked) == {"a", "b"}
    np.testing.assert_array_equal(stacked["a"], [1, 2])
    np.testing.assert_array_equal(stacked["b"], [[1, 2], [3, 4]])


def _save_stream(path, term, trunc, finals):
    rows = len(term)
    np.savez(path, observations=np.zeros((rows, 1), np.float32), actions=np.zeros((rows, 1), np.float32),
             rewards=np.ones(rows, np.float32), terminations=np.array(term, bool), truncations=np.array(trunc, bool),
             final_observations=np.arange(finals, dtype=np.float32)[:, None])


def test_a_stream_ending_at_an_episode_end_has_no_extra_episode(tmp_path):
    _save_stream(tmp_path / "s.npz", [0, 1, 0, 0], [0, 0, 0, 1], 2)
    episodes = load_stream(tmp_path / "s.npz")
    assert [len(e) for e in episodes] == [2, 2]
    np.testing.assert_array_equal([e.observations[-1, 0] for e in episodes], [0, 1])


@pytest.mark.parametrize("finals", [1, 3])
def test_a_stream_with_the_wrong_number_of_final_observations_is_refused(tmp_path, finals):
    _save_stream(tmp_path / "s.npz", [0, 1, 0, 0], [0, 0, 0, 1], finals)
    with pytest.raises(ValueError, match=f"{finals} final observations for 2 episodes"):
        load_stream(tmp_path / "s.npz")


def test_only_a_model_file_in_the_temp_folder_is_deleted(tmp_path):
    outside = tmp_path / "model.xml"
    outside.write_text("x")
    env = SimpleNamespace(unwrapped=SimpleNamespace(tmp_xml_file_path=str(outside)))
    assert collect_mod.without_model_file(env) is env and outside.exists()
    with tempfile.NamedTemporaryFile(suffix=".xml", delete=False) as handle:
        inside = handle.name
    env = SimpleNamespace(unwrapped=SimpleNamespace(tmp_xml_file_path=inside))
    collect_mod.without_model_file(env)
    assert not Path(inside).exists()


def test_temp_files_go_to_a_private_folder_removed_after_and_the_temp_dir_is_restored():
    before = tempfile.tempdir
    with collect_mod.temp_files_kept_apart():
        private = tempfile.gettempdir()
        assert tempfile.tempdir == private and "effml-temp-" in private
    assert tempfile.tempdir == before
    assert not Path(private).exists()


def test_a_zero_budget_takes_no_episode():
    assert collect_mod._budgeted(iter([_episode(3), _episode(3)]), 0) == []


def test_a_component_whose_share_rounds_to_zero_gives_nothing_and_the_last_gets_every_transition(monkeypatch):
    monkeypatch.setattr(collect_mod, "rollouts", lambda env, act, seed: iter([_episode(3, seed=seed)] * 5))
    monkeypatch.setattr(collect_mod, "make_env", lambda env_id, kwargs: SimpleNamespace(close=lambda: None))
    monkeypatch.setattr(collect_mod, "behaviour", lambda comp, env: None)
    out = collect_mod.collect(_spec((0.04, 0.96), 10), "test")  # round(0.4) = 0 for the first component
    assert [len(e) for e in out] == [3, 3, 3, 1]
    assert {e.seed for e in out} == {1}
