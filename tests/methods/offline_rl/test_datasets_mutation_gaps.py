"""Mutation-audit gaps of the dataset recipes and scores (methods/offline_rl/datasets/specs.py, references.py,
store.py), pure logic only: D4RL's normalised score against the committed references' *mean* returns (read here
from the JSON file), for a dataset name and for a family name; each recipe's transitions per size (one fifth of
D4RL's million for ``full``) and the expert checkpoint behind each family's expert reference; a spec's checks;
size names; the manifest's return statistics over complete episodes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from methods.offline_rl.datasets import DATASETS, Component, DatasetSpec, normalized_score
from methods.offline_rl.datasets.references import REFERENCES_FILE
from methods.offline_rl.datasets.specs import LOCOMOTION, REFERENCES, sac_run
from methods.offline_rl.datasets.store import _return_stats, dataset_id


@pytest.mark.parametrize("name, family", [("hopper-medium-local", "hopper"), ("walker2d", "walker2d"),
                                          ("halfcheetah-expert-local", "halfcheetah"), ("pointmaze-umaze", None)])
def test_normalized_score_uses_the_mean_reference_returns(name, family):
    table = json.loads(REFERENCES_FILE.read_text())
    family = family or name
    r_random, r_expert = table[family]["random"]["mean"], table[family]["expert"]["mean"]
    assert normalized_score(name, r_random + 0.37 * (r_expert - r_random)) == pytest.approx(37.0)
    assert normalized_score(name, r_random - (r_expert - r_random)) == pytest.approx(-100.0)


def test_recipes_sizes_and_references():
    for name, spec in DATASETS.items():
        full = None if name.endswith("medium-replay-local") else 200_000  # 1e6 / 5; medium-replay: the whole stream
        assert spec.transitions == {"test": 300, "quick": 10_000, "full": full}, name
        assert spec.recipe("quick")["transitions"] == 10_000 and spec.recipe("test")["transitions"] == 300
    for family in LOCOMOTION:
        ref = REFERENCES[family]
        assert ref.random.behaviour == "random" and ref.expert.policy == f"{sac_run(family)}/expert.pt"
        mixture = DATASETS[f"{family}-medium-expert-local"].components
        assert sorted(c.policy.rsplit("/", 1)[1] for c in mixture) == ["expert.pt", "medium.pt"]
        assert DATASETS[f"{family}-expert-local"].components[0].policy.endswith("/expert.pt")


def test_a_spec_checks_its_fractions_sizes_and_behaviours():
    sizes = {"test": 1, "quick": 2, "full": 3}
    DatasetSpec("ok", "hopper", "Hopper-v5", (Component("random", fraction=0.5), Component("random", fraction=0.5)),
                sizes)
    with pytest.raises(ValueError, match="fractions must sum to 1"):
        DatasetSpec("x", "hopper", "Hopper-v5", (Component("random", fraction=0.5),), sizes)
    with pytest.raises(ValueError, match="every size"):
        DatasetSpec("x", "hopper", "Hopper-v5", (Component("random"),), {"test": 1, "quick": 2})
    with pytest.raises(ValueError, match="behaviour must be one of"):
        DatasetSpec("x", "hopper", "Hopper-v5", (Component("scripted"),), sizes)
    with pytest.raises(ValueError, match="unknown size"):
        dataset_id("hopper-medium-local", "huge")


def test_manifest_return_statistics_count_complete_episodes_only():
    class Ep:
        def __init__(self, rewards, cut):
            self.rewards, self.cut = np.array(rewards), cut

        def __len__(self):
            return len(self.rewards)

    stats = _return_stats([Ep([1.0, 2.0], False), Ep([5.0], False), Ep([100.0, 1.0, 1.0], True)])
    assert stats == pytest.approx({"episodes": 3, "transitions": 6, "complete_episodes": 2, "mean_episode_length": 2.0,
                                   "return_mean": 4.0, "return_std": 1.0, "return_min": 3.0, "return_max": 5.0})
