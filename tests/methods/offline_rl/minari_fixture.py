"""A tiny Minari dataset made in a test: a seeded uniform-random Hopper-v5 policy, a few short episodes, written
with ``minari.create_dataset_from_buffers`` into a temporary Minari root and loaded back with
``minari.load_dataset`` (the form every method trains from)."""

from __future__ import annotations

import numpy as np


def make_tiny_hopper(root, episodes: int = 6, max_steps: int = 40, dataset_id: str = "test/hopper-tiny-v0"):
    """Write and load back the tiny dataset under ``root`` (sets ``MINARI_DATASETS_PATH`` for the process)."""
    import os

    import gymnasium as gym
    import minari
    from minari.data_collector import EpisodeBuffer

    os.environ["MINARI_DATASETS_PATH"] = str(root)
    env = gym.make("Hopper-v5", max_episode_steps=max_steps)
    env.action_space.seed(0)
    buffers = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        o, a, r, te, tr = [obs], [], [], [], []
        done = False
        while not done:
            action = env.action_space.sample()
            obs, reward, terminated, truncated, _ = env.step(action)
            o.append(obs)
            a.append(action)
            r.append(reward)
            te.append(terminated)
            tr.append(truncated)
            done = terminated or truncated
        buffers.append(EpisodeBuffer(id=ep, observations=np.array(o), actions=np.array(a), rewards=np.array(r),
                                     terminations=np.array(te), truncations=np.array(tr), infos={}))
    minari.create_dataset_from_buffers(dataset_id, buffers, env=env, eval_env=env.spec, algorithm_name="uniform-random",
                                       author="tests", author_email="tests@localhost", code_permalink="local",
                                       description="tiny random Hopper dataset for tests")
    env.close()
    return minari.load_dataset(dataset_id)


def serve_from_the_kind(monkeypatch, dataset, models_dir) -> None:
    """Make the offline_rl kind load ``dataset`` as "tiny-hopper" (normalized score: 2 x return) and keep its trained
    models under ``models_dir``."""
    from harness.workloads import offline_rl

    monkeypatch.setattr(offline_rl, "known_datasets", lambda: ["tiny-hopper"])
    monkeypatch.setattr(offline_rl, "load_dataset", lambda name, size: dataset)
    monkeypatch.setattr(offline_rl, "normalized_score", lambda name, ret: 100.0 * ret / 50.0)
    monkeypatch.setenv("HARNESS_OFFLINE_RL_MODELS", str(models_dir))
