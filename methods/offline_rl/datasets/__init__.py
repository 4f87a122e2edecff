"""Offline-RL datasets generated on this machine in the Minari format (D4RL's recipes, arXiv 2004.07219).

``load(name, size=...)`` returns a ``minari.MinariDataset`` (generated from its recipe on first use),
``normalized_score`` applies D4RL's formula against our own random / expert reference returns, ``manifest`` gives the
recipe, versions, return statistics and array hashes. ``harness rl-data {list,make,verify,references}`` is the CLI.
"""

from methods.offline_rl.datasets.references import normalized_score, reference_returns
from methods.offline_rl.datasets.specs import DATASETS, SIZES, Component, DatasetSpec
from methods.offline_rl.datasets.store import dataset_id, load, manifest, verify

__all__ = ["DATASETS", "SIZES", "Component", "DatasetSpec", "dataset_id", "load", "manifest", "normalized_score",
           "reference_returns", "verify"]
