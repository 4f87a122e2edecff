"""Committed weights of the tiny Llamas trained on the synthetic long-context suite (Chelsea, arXiv 2506.11418, quality
experiments at our scale), so a fresh machine evaluates instead of training.

``results/kv_models/`` holds one ``tiny-llama-<key>.pt`` per (config, seed) and ``manifest.json``: per file the
config, seed, steps, the training command, the file's sha256, the torch version that trained it, and the final
training loss and time. `load_committed` returns the weights only when the (config, seed) key is in the manifest and
the file's sha256 matches; otherwise the caller trains (`methods.kvcache.tasks.trained_model`).

Regenerate (2500 steps: about 10 minutes per seed with three seeds in parallel on two shared cores)::

    python -m methods.kvcache.model_store --seeds 0 1 2
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from methods import weights_store
from methods.kvcache.tasks import TinyModelConfig

STORE = Path(__file__).resolve().parents[2] / "results" / "kv_models"
COMMAND = "python -m methods.kvcache.model_store --seeds {seed}"


def weights_name(cfg: TinyModelConfig, seed: int) -> str:
    return f"tiny-llama-{cfg.key(seed)}.pt"


def load_committed(cfg: TinyModelConfig, seed: int, store: Path = STORE) -> tuple[dict | None, str]:
    """(saved weights and info, why) — None with the reason when the key is absent or the sha256 differs."""
    name = weights_name(cfg, seed)
    saved, problem = weights_store.load_checked(store, name)
    if problem == "absent":
        return None, f"no committed weights for this model config and seed {seed}"
    if problem == "mismatch":
        return None, f"committed weights {name} are missing or fail their sha256 check"
    return saved, f"committed weights {name}"


def commit(model: Any, info: dict[str, float], cfg: TinyModelConfig, seed: int, store: Path = STORE,
           command: str = COMMAND) -> Path:
    """Write the weights and their manifest entry (atomically, entries of other files kept)."""
    entry = {"key": cfg.key(seed), "config": asdict(cfg), "seed": seed, "train_steps": cfg.train_steps,
             "command": command.format(seed=seed), **{k: round(float(v), 4) for k, v in info.items()}}
    return weights_store.write(store, weights_name(cfg, seed), {"state": model.state_dict(), "info": info}, entry)


def main(argv: list[str] | None = None) -> None:
    from methods.kvcache.tasks import train_model

    parser = argparse.ArgumentParser(description="Train the default tiny Llama per seed and commit its weights.")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--store", type=Path, default=STORE)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = TinyModelConfig()
    for seed in args.seeds:
        model, info = train_model(cfg, seed, progress=lambda s, loss: print(f"seed {seed} step {s} loss {loss:.3f}",
                                                                            flush=True))
        print(f"seed {seed}: {commit(model, info, cfg, seed, args.store)}")


if __name__ == "__main__":
    main()
