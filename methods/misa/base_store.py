"""Committed weights of the tiny LLaMA base that MISA's fine-tuning runs start from (MISA, arXiv 2511.00056, at our
scale), so a fresh machine fine-tunes instead of pre-training it first.

``results/misa_base/`` holds one ``base-<key>.pt`` per pre-training setting (the key hashes the model config, the
`PretrainSettings` and the pre-training loop's version) and ``manifest.json``: per file the key, the config and
settings, the command that made it, its sha256, the torch version and the held-out loss (plus the pre-training
seconds when the command trained the weights itself).
`load_committed` returns the saved weights only when the key is in the manifest and the file's sha256 matches;
otherwise `methods.misa.train.pretrained_base` falls back to the cache, then trains.

Regenerate (2,000 AdamW steps: about 8 minutes on one loaded core)::

    python -m methods.misa.base_store

Example::

    >>> from methods.misa.train import PretrainSettings, model_config
    >>> len(base_key(model_config(32, 86, 2, 4, 40), PretrainSettings(steps=2000)))
    16
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from methods import weights_store

STORE = Path(__file__).resolve().parents[2] / "results" / "misa_base"
COMMAND = "python -m methods.misa.base_store"


def base_key(cfg: Any, settings: Any, version: int | None = None) -> str:
    """16 hex digits of sha256 over the model config, the pre-training settings and the loop's version."""
    if version is None:
        from methods.misa.train import CACHE_VERSION as version
    key = json.dumps({"cfg": asdict(cfg), "pretrain": asdict(settings), "version": version}, sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def weights_name(key: str) -> str:
    return f"base-{key}.pt"


def load_committed(key: str, store: Path = STORE) -> tuple[dict | None, str]:
    """(saved ``{"state", "info"}``, why) — None with the reason when the key is absent or the sha256 differs."""
    name = weights_name(key)
    saved, problem = weights_store.load_checked(store, name)
    if problem == "absent":
        return None, f"no committed base for settings {key}"
    if problem == "mismatch":
        return None, f"committed base {name} is missing or fails its sha256 check"
    return saved, f"committed base {name}"


def commit(saved: dict, key: str, cfg: Any, settings: Any, store: Path = STORE, command: str = COMMAND) -> Path:
    """Write ``saved`` (``{"state", "info"}``) and its manifest entry (atomically, other entries kept)."""
    entry = {"key": key, "config": asdict(cfg), "pretrain": asdict(settings), "command": command,
             **{k: round(v, 4) if isinstance(v, float) else v for k, v in saved["info"].items()}}
    return weights_store.write(store, weights_name(key), saved, entry)


def main(argv: list[str] | None = None) -> None:
    import yaml

    from methods.misa import train

    parser = argparse.ArgumentParser(description="Pre-train (or take from the cache) the base of a MISA fine-tuning "
                                                 "scenario and commit its weights.")
    parser.add_argument("--scenario", type=Path, default=STORE.parents[1] / "scenarios" / "misa" / "finetune.yaml")
    parser.add_argument("--store", type=Path, default=STORE)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    w = yaml.safe_load(args.scenario.read_text())["workload"]
    m, p = w["model"], w["pretrain"]
    cfg = train.model_config(m["d_model"], m["d_ff"], m["n_heads"], m["n_layers"], m["seq_len"])
    settings = train.PretrainSettings(**p)
    model, info = train.pretrained_base(cfg, settings, store=args.store / "absent")  # cache or train, never store
    saved = {"state": model.state_dict(), "info": {k: info[k] for k in ("held_out_loss", "steps")}}
    print(commit(saved, base_key(cfg, settings), cfg, settings, args.store))


if __name__ == "__main__":
    main()
