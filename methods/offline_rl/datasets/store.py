"""Write, load and verify the local datasets as Minari datasets, each with a manifest (D4RL recipes, Minari format).

Datasets live under ``$MINARI_DATASETS_PATH`` (default ``~/.cache/effml_harness/minari``, set in this process when
unset, so ``minari.load_dataset("effml/hopper-medium-local-quick-v0")`` works after `load`; other processes set
the variable themselves). Ids are ``effml/<name>-<size>-v0``. Beside Minari's ``data/`` folder, ``manifest.json``
holds the recipe (environment, behaviour components with checkpoint sha256, seeds, transitions), the package
versions, the return statistics and a sha256 per array; it is written last, so a folder without a manifest
whose recipe matches is regenerated. The committed copies in ``results/offline_rl/manifests/`` are what ``verify``
compares a local dataset against.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import time
import warnings
from pathlib import Path

import numpy as np

from kernels.files import write_text_atomic
from methods.offline_rl.datasets.specs import (DATASETS, RESULTS, ROOT, SIZES, DatasetSpec, missing_message,
                                               missing_sources)

NAMESPACE = "effml"
VERSION = 0
MANIFESTS = RESULTS / "manifests"
PACKAGES = ("numpy", "torch", "gymnasium", "mujoco", "minari", "gymnasium-robotics", "h5py")
ARRAY_FIELDS = ("observations", "actions", "rewards", "terminations", "truncations")


def datasets_root() -> Path:
    """Minari's dataset folder for our data; sets ``MINARI_DATASETS_PATH`` in this process when unset."""
    default = Path.home() / ".cache" / "effml_harness" / "minari"
    root = Path(os.environ.setdefault("MINARI_DATASETS_PATH", str(default)))
    root.mkdir(parents=True, exist_ok=True)
    return root


def spec_of(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def check_size(size: str) -> str:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; known: {', '.join(SIZES)}")
    return size


def dataset_id(name: str, size: str) -> str:
    spec_of(name)
    return f"{NAMESPACE}/{name}-{check_size(size)}-v{VERSION}"


def dataset_dir(name: str, size: str) -> Path:
    return datasets_root() / dataset_id(name, size)


def recipe(name: str, size: str) -> dict:
    """The recipe with every checkpoint's and stream's sha256 (a changed file is a changed recipe)."""
    from methods.offline_rl.datasets.policies import sha256_file

    missing = missing_sources(spec_of(name))
    if missing:
        raise FileNotFoundError(missing_message(name, missing))
    out = spec_of(name).recipe(check_size(size))
    for comp in out["components"]:
        for key in ("policy", "stream"):
            if comp[key]:
                comp[f"{key}_sha256"] = sha256_file(ROOT / comp[key])
    out["dataset_id"] = dataset_id(name, size)
    return out


def array_hashes(dataset) -> dict[str, str]:
    """sha256 per field over every episode in order (dtype, shape and bytes; dict observations key by key)."""
    hashes: dict[str, hashlib._Hash] = {}

    def feed(key: str, value: np.ndarray) -> None:
        value = np.ascontiguousarray(value)
        h = hashes.setdefault(key, hashlib.sha256())
        h.update(f"{value.dtype.str}{value.shape}".encode())
        h.update(value.tobytes())

    for episode in dataset.iterate_episodes():
        for field in ARRAY_FIELDS:
            value = getattr(episode, field)
            if isinstance(value, dict):
                for key in sorted(value):
                    feed(f"{field}/{key}", value[key])
            else:
                feed(field, value)
    return {k: h.hexdigest() for k, h in sorted(hashes.items())}


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def _return_stats(episodes) -> dict:
    full = [float(e.rewards.sum()) for e in episodes if not e.cut]
    lengths = [len(e) for e in episodes]
    stats = {"episodes": len(episodes), "transitions": int(sum(lengths)), "complete_episodes": len(full),
             "mean_episode_length": float(np.mean(lengths))}
    if full:
        stats.update(return_mean=float(np.mean(full)), return_std=float(np.std(full)),
                     return_min=float(np.min(full)), return_max=float(np.max(full)))
    return stats


def _env_spec(env_id: str, kwargs: dict):
    from methods.offline_rl.datasets.collect import make_env

    env = make_env(env_id, kwargs)  # registers the environment family
    spec = env.spec
    env.close()
    return spec


def _references(name: str) -> dict:
    """Minari's ``ref_min_score`` / ``ref_max_score`` from our reference returns (empty before they are measured)."""
    from methods.offline_rl.datasets.references import reference_returns

    try:
        r_random, r_expert = reference_returns(name)
    except KeyError:
        return {}
    return {"ref_min_score": r_random, "ref_max_score": r_expert}


def write(name: str, size: str) -> dict:
    """Generate ``name`` at ``size`` into the Minari folder (replacing what is there); returns its manifest. The
    caller holds the dataset's lock (`make`, `load`)."""
    import minari
    from minari.data_collector import EpisodeBuffer

    from methods.offline_rl.datasets.collect import collect, temp_files_kept_apart

    spec, rec = spec_of(name), recipe(name, size)
    folder = dataset_dir(name, size)
    if folder.exists():
        shutil.rmtree(folder)
    start, cpu_start = time.perf_counter(), time.process_time()
    episodes = collect(spec, size)
    collect_s = time.perf_counter() - start
    buffers = [EpisodeBuffer(id=i, seed=e.seed, observations=e.observations, actions=e.actions,
                             rewards=e.rewards, terminations=e.terminations, truncations=e.truncations)
               for i, e in enumerate(episodes)]
    refs = _references(name)
    env_spec = _env_spec(spec.env_id, spec.env_kwargs)
    eval_spec = dataclasses.replace(env_spec, kwargs={**env_spec.kwargs, **spec.eval_env_kwargs})
    requirements = ["mujoco>=3.1,<3.2"] if not spec.env_id.startswith("PointMaze") else [
        f"gymnasium-robotics=={importlib.metadata.version('gymnasium-robotics')}"]
    try:
        # minari asks for a code link and an author e-mail (we have neither) and builds environments of its own
        with warnings.catch_warnings(), temp_files_kept_apart():
            warnings.filterwarnings("ignore", message=".*(code_permalink|author_email).*", category=UserWarning)
            dataset = minari.create_dataset_from_buffers(
                dataset_id(name, size), buffers, env=env_spec, eval_env=eval_spec,
                algorithm_name=spec.components[0].behaviour, author="effml harness", description=spec.description,
                requirements=requirements, **refs)
        hashes = array_hashes(dataset)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    out = {"recipe": rec, "versions": _versions(), "returns": _return_stats(episodes), "arrays": hashes,
           "reference_returns": {"random": refs.get("ref_min_score"), "expert": refs.get("ref_max_score")},
           "generation_s": {"collect": round(collect_s, 2), "total": round(time.perf_counter() - start, 2),
                            "cpu": round(time.process_time() - cpu_start, 2)}}
    write_text_atomic(folder / "manifest.json", json.dumps(out, indent=1) + "\n")  # whole or not at all
    return out


def make(name: str, size: str) -> dict:
    """`write` under the dataset's lock, the one `load` takes: a make and a run loading the same dataset never
    delete each other's folder."""
    with _lock(name, size):
        return write(name, size)


def local_manifest(name: str, size: str) -> dict | None:
    path = dataset_dir(name, size) / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else None


def committed_manifest(name: str, size: str) -> dict | None:
    path = MANIFESTS / f"{name}-{check_size(size)}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _lock(name: str, size: str):
    from filelock import FileLock

    folder = datasets_root() / NAMESPACE
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f".{name}-{size}.lock"))


def load(name: str, *, size: str = "quick"):
    """The Minari dataset ``name`` at ``size``, generated from its recipe first when absent or stale (another
    recipe, checkpoint or stream, or other reference returns in its metadata)."""
    import minari

    check_size(size)
    with _lock(name, size):
        current = local_manifest(name, size)
        refs = _references(name)
        if (current is None or current["recipe"] != recipe(name, size)
                or current["reference_returns"] != {"random": refs.get("ref_min_score"),
                                                    "expert": refs.get("ref_max_score")}):
            write(name, size)
    return minari.load_dataset(dataset_id(name, size))


def manifest(name: str, size: str = "quick") -> dict:
    """The manifest of ``name`` at ``size``: the local one (generating the dataset if needed), else committed."""
    load(name, size=size)
    return local_manifest(name, size)


def verify(name: str, size: str) -> tuple[bool, list[str]]:
    """Compare the local dataset's array hashes (recomputed from the Minari files) and recipe with the committed
    manifest; returns (ok, problems)."""
    import minari

    expected = committed_manifest(name, size)
    if expected is None:
        return False, [f"no committed manifest for {name} ({size})"]
    if local_manifest(name, size) is None:
        return False, [f"{dataset_id(name, size)} is not generated: run `harness rl-data make {name} --size {size}`"]
    problems = []
    if expected["recipe"] != recipe(name, size):
        problems.append("recipe differs from the committed manifest (checkpoint, stream or spec changed)")
    actual = array_hashes(minari.load_dataset(dataset_id(name, size)))
    for key in sorted(set(expected["arrays"]) | set(actual)):
        if expected["arrays"].get(key) != actual.get(key):
            problems.append(f"{key}: sha256 {actual.get(key, 'missing')[:12]} != committed "
                            f"{expected['arrays'].get(key, 'missing')[:12]}")
    return not problems, problems
