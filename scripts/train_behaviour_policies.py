"""Train the behaviour policies of our locally generated offline-RL datasets (D4RL's recipe, arXiv 2004.07219).

One SAC run (stable-baselines3) on a MuJoCo task, time-boxed in process CPU seconds and wall seconds. Every
``--every`` environment steps it writes the actor's weights (``actor_<step>.pt``), a deterministic evaluation
(``eval.jsonl``: mean/std return over a few seeded episodes) and the replay-buffer rows collected since the last
checkpoint (``replay_<step>.npz``), so the stream of the run up to any checkpoint (D4RL's medium-replay) survives
the time box. ``--export DEST`` then picks the expert (best evaluation) and the medium policy (the earlier
checkpoint closest to a third of the expert's evaluation, `methods.offline_rl.datasets.policies.pick_checkpoints`),
copies both actors to ``DEST/{medium,expert}.pt`` and writes the replay stream up to the medium checkpoint as
``DEST/medium_replay_stream.npz`` (rows: observations, actions, rewards, terminations, truncations; one final
observation per episode) plus ``DEST/selection.json``.

    python scripts/train_behaviour_policies.py --env Hopper-v5 --seed 0 --cpu-minutes 45 --out DIR
    python scripts/train_behaviour_policies.py --out DIR --export results/offline_rl/policies/hopper-sac-s0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback


LEARNING_STARTS = 10_000  # rl-baselines3-zoo's SAC setting for the MuJoCo tasks (uniform actions before it)


class Checkpoints(BaseCallback):
    """Saves actor weights, a deterministic evaluation and the new replay rows every ``every`` steps."""

    def __init__(self, out: Path, every: int, env_id: str, seed: int, cpu_s: float, wall_s: float,
                 eval_episodes: int) -> None:
        super().__init__()
        self.out, self.every, self.env_id, self.seed = out, every, env_id, seed
        self.cpu_s, self.wall_s, self.eval_episodes = cpu_s, wall_s, eval_episodes
        self.cpu0, self.wall0, self.saved_rows = time.process_time(), time.time(), 0

    def _evaluate(self) -> tuple[float, float]:
        env = gym.make(self.env_id)
        returns = []
        for episode in range(self.eval_episodes):
            obs, _ = env.reset(seed=10_000 + episode)
            total, done = 0.0, False
            while not done:
                action, _ = self.model.predict(obs, deterministic=True)
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
        env.close()
        return float(np.mean(returns)), float(np.std(returns))

    def _checkpoint(self) -> None:
        step = self.num_timesteps
        actor = {k: v.detach().cpu().clone() for k, v in self.model.policy.actor.state_dict().items()}
        torch.save(actor, self.out / f"actor_{step:07d}.pt")
        buf = self.model.replay_buffer
        end = buf.pos if not buf.full else buf.buffer_size
        rows = slice(self.saved_rows, end)
        np.savez_compressed(
            self.out / f"replay_{step:07d}.npz",
            observations=buf.observations[rows, 0].astype(np.float32),
            next_observations=buf.next_observations[rows, 0].astype(np.float32),
            actions=buf.actions[rows, 0].astype(np.float32),
            rewards=buf.rewards[rows, 0].astype(np.float32),
            dones=buf.dones[rows, 0].astype(np.float32),
            timeouts=buf.timeouts[rows, 0].astype(np.float32),
        )
        self.saved_rows = end
        mean, std = self._evaluate()
        record = {"step": step, "eval_return_mean": mean, "eval_return_std": std,
                  "cpu_s": round(time.process_time() - self.cpu0, 1), "wall_s": round(time.time() - self.wall0, 1)}
        with open(self.out / "eval.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)

    def _on_step(self) -> bool:
        if self.num_timesteps % self.every == 0:
            self._checkpoint()
            if time.process_time() - self.cpu0 > self.cpu_s or time.time() - self.wall0 > self.wall_s:
                print("time box reached", flush=True)
                return False
        return True


def export(run: Path, dest: Path) -> dict:
    """Pick medium and expert checkpoints of ``run`` and write them and the medium-replay stream to ``dest``."""
    from methods.offline_rl.datasets.policies import pick_checkpoints, read_evaluations

    records = read_evaluations(run)
    medium, expert = pick_checkpoints(records, trained_after=LEARNING_STARTS)
    dest.mkdir(parents=True, exist_ok=True)
    for role, record in (("medium", medium), ("expert", expert)):
        shutil.copyfile(run / f"actor_{record['step']:07d}.pt", dest / f"{role}.pt")
    chunks = [np.load(p) for p in sorted(run.glob("replay_*.npz")) if int(p.stem.split("_")[1]) <= medium["step"]]
    cat = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0].files}
    done, timeout = cat["dones"] > 0.5, cat["timeouts"] > 0.5
    inside = ~done[:-1]  # within an episode the next observation is the following row's observation
    if not np.array_equal(cat["next_observations"][:-1][inside], cat["observations"][1:][inside]):
        raise ValueError("replay rows are not contiguous")
    ends = np.flatnonzero(done)
    if len(ends) == 0 or ends[-1] != len(done) - 1:
        ends = np.append(ends, len(done) - 1)
    np.savez_compressed(dest / "medium_replay_stream.npz", observations=cat["observations"],
                        actions=cat["actions"], rewards=cat["rewards"], terminations=done & ~timeout,
                        truncations=timeout, final_observations=cat["next_observations"][ends])
    command = json.loads((run / "command.json").read_text())
    command["out"] = command["out"].replace(str(Path.home()), "~")
    selection = {"env": command["env"], "seed": command["seed"], "algorithm": "SAC (stable-baselines3)",
                 "command": command, "medium": medium, "expert": expert, "stream_rows": int(len(done)),
                 "stream_episodes": int(len(ends)), "evaluations": records,
                 "sha256": {f.name: hashlib.sha256(f.read_bytes()).hexdigest()
                            for f in sorted(dest.glob("*")) if f.suffix in (".pt", ".npz")}}
    (dest / "selection.json").write_text(json.dumps(selection, indent=1) + "\n")
    return selection


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Hopper-v5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=1_000_000, help="upper bound; the time box usually ends first")
    parser.add_argument("--every", type=int, default=10_000)
    parser.add_argument("--cpu-minutes", type=float, default=45.0)
    parser.add_argument("--wall-minutes", type=float, default=60.0)
    parser.add_argument("--eval-episodes", type=int, default=5)
    parser.add_argument("--out", type=Path, required=True, help="the run's folder")
    parser.add_argument("--export", type=Path, default=None, metavar="DEST",
                        help="pick medium/expert from the run in --out and write them to DEST (no training)")
    args = parser.parse_args()
    if args.export:
        selection = export(args.out, args.export)
        print(json.dumps({k: selection[k] for k in ("medium", "expert", "stream_rows", "stream_episodes")}))
        return
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "command.json").write_text(json.dumps(vars(args), default=str, indent=1))
    env = gym.make(args.env)
    # rl-baselines3-zoo's SAC settings for the MuJoCo tasks: learning_starts 10000, the rest SB3 defaults.
    model = SAC("MlpPolicy", env, seed=args.seed, learning_starts=LEARNING_STARTS, device="cpu", verbose=0)
    callback = Checkpoints(args.out, args.every, args.env, args.seed, 60 * args.cpu_minutes,
                           60 * args.wall_minutes, args.eval_episodes)
    model.learn(total_timesteps=args.steps, callback=callback)
    model.save(args.out / "sac_final.zip")


if __name__ == "__main__":
    main()
