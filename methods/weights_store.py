"""A folder of committed model weights with a ``manifest.json``: sha256-checked loading and atomic writes.

Shared by the stores of trained weights that a fresh machine loads instead of training (Chelsea's tiny Llamas,
`methods.kvcache.model_store`; MISA's pre-trained base, `methods.misa.base_store`). The manifest maps each weights
file name to its entry (the store's own fields plus ``sha256``); a file is used only when its entry exists and its
sha256 matches.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch

from kernels.files import write_atomic, write_text_atomic


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_manifest(store: Path) -> dict[str, dict[str, Any]]:
    """The manifest's entries by weights file name ({} when there is none)."""
    path = store / "manifest.json"
    return json.loads(path.read_text())["models"] if path.exists() else {}


def load_checked(store: Path, name: str) -> tuple[dict | None, str | None]:
    """(saved object, None), or (None, ``"absent"`` | ``"mismatch"``): no manifest entry, or the file is missing or
    fails its sha256 check."""
    entry = read_manifest(store).get(name)
    if entry is None:
        return None, "absent"
    path = store / name
    if not path.exists() or sha256(path) != entry["sha256"]:
        return None, "mismatch"
    return torch.load(path, weights_only=True), None


def write(store: Path, name: str, saved: dict, entry: dict[str, Any]) -> Path:
    """Write ``saved`` as ``store/name`` and its manifest entry (``entry`` plus sha256 and torch version), both
    atomically; entries of other files are kept."""
    store.mkdir(parents=True, exist_ok=True)
    path = store / name
    write_atomic(path, lambda tmp: torch.save(saved, tmp))
    models = read_manifest(store)
    models[name] = {**entry, "sha256": sha256(path), "torch_version": torch.__version__}
    write_text_atomic(store / "manifest.json",
                      json.dumps({"models": dict(sorted(models.items()))}, indent=1, sort_keys=True) + "\n")
    return path
