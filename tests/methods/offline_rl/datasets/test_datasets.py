"""Locally generated offline-RL datasets (methods/offline_rl/datasets): recipes regenerate byte-identical arrays
(and match the committed manifests), the Minari round trip keeps every array, D4RL's normalised score against our
references, the replay stream's episode split, checkpoint picking and the maze controller."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import minari
import numpy as np
import pytest

from methods.offline_rl.datasets import DATASETS, dataset_id, load, manifest, normalized_score, reference_returns
from methods.offline_rl.datasets.collect import RESET_SEED_STRIDE, Episode, collect, load_stream
from methods.offline_rl.datasets.policies import pick_checkpoints
from methods.offline_rl.datasets.specs import ROOT
from methods.offline_rl.datasets.store import committed_manifest, verify, write

# every dataset whose sources (checkpoints, stream) are committed; the maze planner needs none
AVAILABLE = [n for n, s in DATASETS.items()
             if all((ROOT / p).exists() for c in s.components for p in (c.policy, c.stream) if p)]


@pytest.fixture
def minari_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path))
    return tmp_path


def _arrays(episodes) -> dict[str, np.ndarray]:
    obs = [e.observations for e in episodes]
    if isinstance(obs[0], dict):
        out = {f"observations/{k}": np.concatenate([o[k] for o in obs]) for k in obs[0]}
    else:
        out = {"observations": np.concatenate(obs)}
    for field in ("actions", "rewards", "terminations", "truncations"):
        out[field] = np.concatenate([getattr(e, field) for e in episodes])
    return out


@pytest.mark.parametrize("name", AVAILABLE)
def test_recipe_regenerates_identical_arrays_matching_the_committed_manifest(name, minari_root):
    first = write(name, "test")
    second = write(name, "test")
    assert first["arrays"] == second["arrays"]
    assert first["returns"]["transitions"] == DATASETS[name].transitions["test"]
    committed = committed_manifest(name, "test")
    assert committed is not None, f"no committed test-size manifest for {name}"
    assert committed["recipe"] == first["recipe"]
    assert committed["arrays"] == first["arrays"]
    assert verify(name, "test") == (True, [])


@pytest.mark.parametrize("name", ["hopper-random-local", "walker2d-random-local", "halfcheetah-random-local",
                                  "pointmaze-umaze-local"])
def test_minari_round_trip_keeps_every_array(name, minari_root):
    dataset = load(name, size="test")
    again = minari.load_dataset(dataset_id(name, "test"))  # the plain Minari entry point finds it too
    direct = _arrays(collect(DATASETS[name], "test"))
    loaded = _arrays([Episode(e.observations, e.actions, e.rewards, e.terminations, e.truncations)
                      for e in again.iterate_episodes()])
    assert set(direct) == set(loaded)
    for key in direct:
        np.testing.assert_array_equal(loaded[key], direct[key].astype(loaded[key].dtype), err_msg=key)
    assert dataset.total_steps == DATASETS[name].transitions["test"]
    r_random, r_expert = reference_returns(name)
    assert minari.get_normalized_score(again, np.array([r_expert]))[0] == pytest.approx(1.0)
    assert again.spec.env_spec.id == DATASETS[name].env_id


def test_load_regenerates_a_stale_dataset_and_reuses_a_current_one(minari_root):
    load("hopper-random-local", size="test")
    path = minari_root / dataset_id("hopper-random-local", "test") / "manifest.json"
    stamp = path.stat().st_mtime_ns
    load("hopper-random-local", size="test")
    assert path.stat().st_mtime_ns == stamp
    stale = json.loads(path.read_text())
    stale["recipe"]["transitions"] = 1
    path.write_text(json.dumps(stale))
    load("hopper-random-local", size="test")
    assert manifest("hopper-random-local", "test")["recipe"]["transitions"] == 300


def test_verify_reports_a_changed_array(minari_root):
    import h5py

    write("hopper-random-local", "test")
    data = minari_root / dataset_id("hopper-random-local", "test") / "data" / "main_data.hdf5"
    with h5py.File(data, "a") as fh:
        fh["episode_0/rewards"][0] += 1.0
    ok, problems = verify("hopper-random-local", "test")
    assert not ok and any(p.startswith("rewards:") for p in problems)


def test_normalized_score_is_d4rl_formula_on_our_references():
    for name in ("hopper-medium-local", "walker2d-medium-replay-local", "halfcheetah-expert-local",
                 "pointmaze-umaze-local"):
        r_random, r_expert = reference_returns(name)
        assert r_expert > r_random
        assert normalized_score(name, r_random) == pytest.approx(0.0)
        assert normalized_score(name, r_expert) == pytest.approx(100.0)
        mid = 0.25 * r_random + 0.75 * r_expert
        assert normalized_score(name, mid) == pytest.approx(75.0)
    assert normalized_score("hopper", reference_returns("hopper")[1]) == pytest.approx(100.0)
    with pytest.raises(KeyError, match="unknown dataset"):
        normalized_score("walker-medium", 1.0)


def test_replay_stream_splits_into_episodes_and_marks_the_cut(tmp_path):
    rows = 7
    term = np.array([0, 0, 1, 0, 0, 0, 0], bool)
    trunc = np.array([0, 0, 0, 0, 1, 0, 0], bool)
    obs = np.arange(rows * 2, dtype=np.float32).reshape(rows, 2)
    final = np.array([[100, 100], [200, 200], [300, 300]], np.float32)
    np.savez(tmp_path / "s.npz", observations=obs, actions=np.zeros((rows, 1), np.float32),
             rewards=np.ones(rows, np.float32), terminations=term, truncations=trunc, final_observations=final)
    episodes = load_stream(tmp_path / "s.npz")
    assert [len(e) for e in episodes] == [3, 2, 2]
    assert episodes[0].terminations[-1] and not episodes[0].truncations.any()
    assert episodes[1].truncations[-1] and not episodes[1].terminations.any()
    assert episodes[2].truncations[-1]  # the stream stops inside this episode
    np.testing.assert_array_equal(episodes[1].observations, [[6, 7], [8, 9], [200, 200]])


def test_budget_cut_marks_truncation_and_keeps_termination():
    ep = Episode(np.zeros((5, 1)), np.zeros((4, 1), np.float32), np.ones(4), np.array([0, 0, 0, 1], bool),
                 np.zeros(4, bool))
    cut = ep.truncated_to(2)
    assert len(cut) == 2 and cut.cut and cut.truncations[-1] and len(cut.observations) == 3
    assert ep.truncated_to(4) is ep


def test_pick_checkpoints_takes_best_as_expert_and_third_as_medium():
    records = [{"step": s, "eval_return_mean": r} for s, r in
               [(10, 20.0), (20, 500.0), (30, 1100.0), (40, 2000.0), (50, 3300.0), (60, 3000.0)]]
    medium, expert = pick_checkpoints(records)
    assert expert["step"] == 50 and medium["step"] == 30
    with pytest.raises(ValueError):
        pick_checkpoints(records[:1])
    medium, expert = pick_checkpoints(records, trained_after=30)  # untrained checkpoints are never picked
    assert (medium["step"], expert["step"]) == (40, 50)
    with pytest.raises(ValueError):
        pick_checkpoints(records, trained_after=60)


def test_maze_planner_reaches_the_goal_from_seeded_starts():
    from methods.offline_rl.datasets.collect import make_env
    from methods.offline_rl.datasets.maze_planner import MazePlanner

    env = make_env("PointMaze_UMaze-v3", {"continuing_task": True, "reset_target": False})
    planner, rng = MazePlanner(env), np.random.default_rng(0)
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        reached = False
        for _ in range(env.spec.max_episode_steps):
            obs, reward, *_ = env.step(planner(obs, rng))
            reached = reached or reward > 0
        assert reached
        assert np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) < 0.45
    env.close()


def test_maze_environments_leave_no_model_file_in_the_temp_folder():
    """gymnasium-robotics writes each maze's MuJoCo model into the temp folder and never removes it."""
    import gymnasium as gym

    from methods.offline_rl.datasets.collect import make_env, without_model_file

    env = make_env("PointMaze_UMaze-v3")
    model_file = Path(env.unwrapped.tmp_xml_file_path)
    assert model_file.parent == Path(tempfile.gettempdir()) and not model_file.exists()
    env.reset(seed=0)
    env.step(env.action_space.sample())  # the simulation does not need the file once built
    env.close()

    raw = gym.make("PointMaze_UMaze-v3")  # registered by make_env above
    leaked = Path(raw.unwrapped.tmp_xml_file_path)
    assert leaked.exists()
    assert without_model_file(raw) is raw and not leaked.exists()
    raw.close()


def test_environments_built_by_others_leave_their_model_file_in_a_private_folder_deleted_after():
    import gymnasium as gym

    from methods.offline_rl.datasets.collect import make_env, temp_files_kept_apart

    make_env("PointMaze_UMaze-v3").close()  # registers the maze environments
    before = tempfile.tempdir
    with temp_files_kept_apart():
        private = Path(tempfile.gettempdir())
        env = gym.make("PointMaze_UMaze-v3")  # as Minari's dataset creation makes its own
        model_file = Path(env.unwrapped.tmp_xml_file_path)
        assert private.name.startswith("effml-temp-") and model_file.parent == private and model_file.exists()
        env.close()
    assert tempfile.tempdir == before and not private.exists()


def test_maze_environments_print_nothing_in_a_fresh_process():
    """gymnasium-robotics' first import prints a notice about its Adroit environments to stderr (a fresh
    interpreter, as the import is cached per process): through `make_env` and `evaluation_env` it prints nothing."""
    import subprocess
    import sys

    code = ("import gymnasium as gym\n"
            "from methods.offline_rl.datasets.collect import evaluation_env, make_env\n"
            "class Dataset:  # Minari's recover_environment: gym.make through the entry point's package\n"
            "    def recover_environment(self, eval_env):\n"
            "        import gymnasium_robotics\n"
            "        gym.register_envs(gymnasium_robotics)\n"
            "        return gym.make('PointMaze_UMaze-v3')\n"
            "evaluation_env(Dataset()).close()\n"
            "make_env('PointMaze_UMaze-v3').close()\n"
            "print('made')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert (done.returncode, done.stdout, done.stderr) == (0, "made\n", "")


def test_default_root_is_the_harness_cache_not_minaris_own(tmp_path, monkeypatch):
    from methods.offline_rl.datasets.store import dataset_dir

    monkeypatch.delenv("MINARI_DATASETS_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    path = dataset_dir("hopper-medium-local", "quick")
    assert path == tmp_path / ".cache/effml_harness/minari/effml/hopper-medium-local-quick-v0"
    import os

    assert os.environ["MINARI_DATASETS_PATH"] == str(tmp_path / ".cache/effml_harness/minari")


def _fake_sac_actor(path, obs_dim: int, act_dim: int, hidden: int = 8, seed: int = 0):
    """A small random actor with stable-baselines3's SAC state-dict layout (stands in for a trained one)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    shapes = {"latent_pi.0": (hidden, obs_dim), "latent_pi.2": (hidden, hidden), "mu": (act_dim, hidden),
              "log_std": (act_dim, hidden)}
    state = {}
    for key, shape in shapes.items():
        state[f"{key}.weight"] = 0.3 * torch.randn(shape, generator=gen)
        state[f"{key}.bias"] = 0.1 * torch.randn(shape[0], generator=gen)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("family", ["walker2d", "halfcheetah"])
def test_locomotion_policy_recipes_collect_with_any_actor_of_the_right_shape(family, tmp_path):
    import dataclasses

    from methods.offline_rl.datasets.specs import LOCOMOTION

    env_dims = {"walker2d": (17, 6), "halfcheetah": (17, 6)}[family]
    fakes = {role: str(_fake_sac_actor(tmp_path / f"{role}.pt", *env_dims, seed=i))
             for i, role in enumerate(("medium", "expert"))}
    spec = DATASETS[f"{family}-medium-expert-local"]
    assert spec.env_id == LOCOMOTION[family] and spec.family == family
    spec = dataclasses.replace(spec, components=tuple(
        dataclasses.replace(c, policy=fakes["expert" if c.policy.endswith("expert.pt") else "medium"])
        for c in spec.components))
    first, again = collect(spec, "test"), collect(spec, "test")
    arrays = _arrays(first)
    for key, value in _arrays(again).items():
        np.testing.assert_array_equal(value, arrays[key], err_msg=key)
    assert len(arrays["actions"]) == 300 and arrays["actions"].shape[1] == env_dims[1]
    assert arrays["observations"].shape[1] == env_dims[0]
    assert np.abs(arrays["actions"]).max() <= 1.0
    per_component = {c.seed: sum(len(e) for e in first if e.seed // RESET_SEED_STRIDE == c.seed)
                     for c in spec.components}
    assert per_component == {400: 150, 401: 150}  # each half of the mixture gets its share
    assert all(e.truncations[-1] or e.terminations[-1] for e in first)
    if family == "halfcheetah":  # never terminates: both halves are one episode cut at the budget
        assert not arrays["terminations"].any() and [len(e) for e in first] == [150, 150]


@pytest.mark.parametrize("name", ["walker2d-medium-local", "halfcheetah-medium-replay-local"])
def test_recipe_without_its_exported_run_names_the_missing_file(name, monkeypatch, tmp_path):
    from methods.offline_rl.datasets import specs, store

    monkeypatch.setattr(specs, "ROOT", tmp_path)  # a checkout without the SAC runs
    with pytest.raises(FileNotFoundError, match=f"{name}: results/offline_rl/policies/.*-sac-s0/.* is missing"):
        store.recipe(name, "test")


def test_make_holds_the_dataset_lock_that_load_takes(minari_root, monkeypatch):
    from filelock import Timeout

    from methods.offline_rl.datasets import store

    held = []

    def fake_write(name, size):
        try:
            store._lock(name, size).acquire(timeout=0)
        except Timeout:
            held.append(True)  # another holder (make) has the lock a concurrent load would wait for
        return {"recipe": {}}

    monkeypatch.setattr(store, "write", fake_write)
    store.make("hopper-medium-local", "test")
    assert held == [True]
