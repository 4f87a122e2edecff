"""Our own reference returns and D4RL's normalised score (arXiv 2004.07219, ``d4rl/offline_env.py``).

D4RL normalises a return R as ``100 * (R - R_random) / (R_expert - R_random)`` with the returns of a uniform
random policy and of its expert policy. We cannot use D4RL's numbers (other environment versions, our own expert),
so both references are measured here in the evaluation environment (`REFERENCES`) and committed in
``results/offline_rl/references.json``.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

import numpy as np

from methods.offline_rl.datasets.specs import (DATASETS, REFERENCES, RESULTS, ROOT, ReferenceSpec, missing_message,
                                               missing_sources)

REFERENCES_FILE = RESULTS / "references.json"


def family_of(name: str) -> str:
    """The reference family of a dataset name (``hopper-medium-local``) or a family name (``hopper``)."""
    if name in DATASETS:
        return DATASETS[name].family
    if name in REFERENCES:
        return name
    known = ", ".join(sorted(set(DATASETS) | set(REFERENCES)))
    raise KeyError(f"unknown dataset or environment {name!r}; known: {known}")


def measure(ref: ReferenceSpec) -> dict:
    """Mean, std and count of the random and expert returns of ``ref`` (measured now)."""
    from methods.offline_rl.datasets.collect import behaviour, make_env, rollouts
    from methods.offline_rl.datasets.policies import sha256_file

    missing = missing_sources(ref)
    if missing:
        raise FileNotFoundError(missing_message(ref.family, missing))
    out = {"env_id": ref.env_id, "eval_env_kwargs": dict(ref.eval_env_kwargs), "episodes": ref.episodes}
    for role, comp in (("random", ref.random), ("expert", ref.expert)):
        env = make_env(ref.env_id, ref.eval_env_kwargs)
        start = time.perf_counter()
        returns = [float(ep.rewards.sum()) for ep in itertools.islice(rollouts(env, behaviour(comp, env), comp.seed),
                                                                        ref.episodes)]
        env.close()
        entry = {"behaviour": comp.behaviour, "seed": comp.seed, "mean": float(np.mean(returns)),
                 "std": float(np.std(returns)), "min": float(np.min(returns)), "max": float(np.max(returns)),
                 "seconds": round(time.perf_counter() - start, 2)}
        if comp.policy:
            entry.update(policy=comp.policy, policy_sha256=sha256_file(ROOT / comp.policy),
                         stochastic=comp.stochastic)
        out[role] = entry
    return out


def _read(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def write_references(families: list[str] | None = None, path: Path = REFERENCES_FILE) -> dict:
    """Measure the given families (default: all) and merge them into the committed file."""
    table = _read(path)
    for family in families or list(REFERENCES):
        table[family] = measure(REFERENCES[family])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
    return table


def reference_returns(name: str, path: Path = REFERENCES_FILE) -> tuple[float, float]:
    """(R_random, R_expert) of a dataset's family, measured here (run ``harness rl-data references`` first)."""
    family = family_of(name)
    table = _read(path)
    if family not in table:
        raise KeyError(f"no reference returns for {family!r} in {path.name}: run `harness rl-data references`")
    return table[family]["random"]["mean"], table[family]["expert"]["mean"]


def normalized_score(dataset_or_env_name: str, episode_return: float) -> float:
    """D4RL's normalised score against our own references: 0 = random policy, 100 = our expert."""
    r_random, r_expert = reference_returns(dataset_or_env_name)
    return 100.0 * (float(episode_return) - r_random) / (r_expert - r_random)
