"""Gaps in the tests of `methods.weights_store` found by a mutation audit.

- a folder without a manifest reads as no entries, and a name without an entry is ``"absent"``;
- a listed file that is missing or altered is a ``"mismatch"``; an intact one loads;
- writing keeps the entries of other files, adds the file's real sha256 and the torch version over the caller's
  fields, and keeps the caller's own fields.
"""

from __future__ import annotations

import hashlib
import json

import torch

from methods import weights_store


def _save(store, name, value, **entry):
    return weights_store.write(store, name, {"w": torch.full((3,), float(value))}, {"note": name, **entry})


def test_a_folder_without_a_manifest_has_no_entries(tmp_path):
    assert weights_store.read_manifest(tmp_path) == {}
    assert weights_store.load_checked(tmp_path, "a.pt") == (None, "absent")


def test_writing_keeps_other_entries_and_records_the_real_sha256(tmp_path):
    store = tmp_path / "store"
    path_b = _save(store, "b.pt", 2.0)
    path_a = _save(store, "a.pt", 1.0, sha256="not the hash", torch_version="0.0")
    models = weights_store.read_manifest(store)
    assert sorted(models) == ["a.pt", "b.pt"]
    for name, path in (("a.pt", path_a), ("b.pt", path_b)):
        assert path == store / name
        assert models[name]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert models[name]["torch_version"] == torch.__version__ and models[name]["note"] == name
    raw = (store / "manifest.json").read_text()
    assert raw.endswith("\n") and list(json.loads(raw)["models"]) == ["a.pt", "b.pt"]


def test_an_intact_file_loads_and_a_missing_or_altered_one_does_not(tmp_path):
    _save(tmp_path, "a.pt", 1.0)
    _save(tmp_path, "b.pt", 2.0)
    saved, problem = weights_store.load_checked(tmp_path, "a.pt")
    assert problem is None and torch.equal(saved["w"], torch.ones(3))
    (tmp_path / "a.pt").unlink()
    assert weights_store.load_checked(tmp_path, "a.pt") == (None, "mismatch")
    (tmp_path / "b.pt").write_bytes((tmp_path / "b.pt").read_bytes() + b"\0")
    assert weights_store.load_checked(tmp_path, "b.pt") == (None, "mismatch")
    assert weights_store.load_checked(tmp_path, "c.pt") == (None, "absent")
