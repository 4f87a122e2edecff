"""Gaps in the tests of `references` found by a mutation audit.

- `measure`: each role's episodes come from its own component and seed in an evaluation environment built with
  the spec's keyword arguments and closed after; ``episodes`` episodes only; mean, population std, min and max of
  the returns (hand values); the expert's checkpoint, its SHA-256 and stochastic flag recorded; a missing
  checkpoint refused before any environment is built;
- `write_references`: measured families merged into the existing file (other families kept), every family when
  none is named, sorted keys and a final newline;
- `reference_returns`: the *mean* returns of the family, a dataset name mapped to its family, a family absent from
  the file (or no file at all) refused with the command that measures it;
- `family_of`: an unknown name refused with the known names;
- the committed reference file was measured with the specs as they stand (environment, its keyword arguments,
  episode count, each role's behaviour, seed and checkpoint with its SHA-256).

Environments, behaviours and rollouts are stand-ins (no MuJoCo or maze environment is built).
"""

from __future__ import annotations

import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest

import methods.offline_rl.datasets.collect as collect_mod
import methods.offline_rl.datasets.references as references
from methods.offline_rl.datasets.specs import ROOT, Component, ReferenceSpec

POLICY = "results/offline_rl/policies/hopper-sac-s0/expert.pt"
#: per (behaviour, seed): the returns of the episodes the stand-in rollouts yield, in order
RETURNS = {("random", 3): [1.0, 2.0, 6.0, 1000.0], ("policy", 4): [10.0, 20.0, 30.0, 1000.0]}


class FakeEnv:
    def __init__(self, env_id: str, kwargs: dict, log: list) -> None:
        self.env_id, self.kwargs, self.log, self.closed = env_id, dict(kwargs or {}), log, False
        log.append(self)

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def stand_ins(monkeypatch):
    """Stand-in make_env / behaviour / rollouts; returns the list of environments built and rollouts asked."""
    log = SimpleNamespace(envs=[], rollouts=[])
    monkeypatch.setattr(collect_mod, "make_env", lambda env_id, kwargs=None: FakeEnv(env_id, kwargs, log.envs))
    monkeypatch.setattr(collect_mod, "behaviour", lambda comp, env: (comp.behaviour, env))

    def rollouts(env, act, seed):
        behaviour, built_for = act
        assert built_for is env and not env.closed
        log.rollouts.append((behaviour, seed))
        for ret in RETURNS[(behaviour, seed)]:
            yield SimpleNamespace(rewards=np.array([ret / 2, ret / 2]))

    monkeypatch.setattr(collect_mod, "rollouts", rollouts)
    return log


def _spec(policy: str = POLICY) -> ReferenceSpec:
    return ReferenceSpec("fake", "Fake-v0", Component("random", seed=3),
                         Component("policy", policy=policy, stochastic=False, seed=4), episodes=3,
                         eval_env_kwargs={"continuing_task": True})


def test_measure_statistics_seeds_environments_and_checkpoint(stand_ins):
    out = references.measure(_spec())
    assert (out["env_id"], out["eval_env_kwargs"], out["episodes"]) == ("Fake-v0", {"continuing_task": True}, 3)
    random, expert = out["random"], out["expert"]
    # returns 1, 2, 6 (the fourth episode is not taken): mean 3, population std sqrt((4 + 1 + 9) / 3)
    assert (random["mean"], random["min"], random["max"]) == (3.0, 1.0, 6.0)
    assert random["std"] == pytest.approx((14 / 3) ** 0.5)
    assert (random["behaviour"], random["seed"]) == ("random", 3) and "policy" not in random
    assert (expert["mean"], expert["min"], expert["max"]) == (20.0, 10.0, 30.0)
    assert expert["std"] == pytest.approx((200 / 3) ** 0.5)
    assert (expert["behaviour"], expert["seed"], expert["policy"], expert["stochastic"]) == ("policy", 4, POLICY,
                                                                                             False)
    assert expert["policy_sha256"] == hashlib.sha256((ROOT / POLICY).read_bytes()).hexdigest()
    assert stand_ins.rollouts == [("random", 3), ("policy", 4)]
    assert [(e.env_id, e.kwargs, e.closed) for e in stand_ins.envs] == [("Fake-v0", {"continuing_task": True},
                                                                         True)] * 2


def test_measure_refuses_a_missing_checkpoint_before_building_anything(stand_ins):
    with pytest.raises(FileNotFoundError, match="fake: results/offline_rl/policies/none/expert.pt is missing"):
        references.measure(_spec("results/offline_rl/policies/none/expert.pt"))
    assert stand_ins.envs == []


def test_write_references_merges_into_the_existing_file(monkeypatch, tmp_path):
    monkeypatch.setattr(references, "measure", lambda ref: {"measured": ref.family})
    path = tmp_path / "refs" / "references.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"zzz": {"kept": 1}, "hopper": {"old": 1}}))
    table = references.write_references(["hopper"], path)
    assert table == {"zzz": {"kept": 1}, "hopper": {"measured": "hopper"}}
    text = path.read_text()
    assert json.loads(text) == table and text.endswith("}\n") and text.index('"hopper"') < text.index('"zzz"')
    fresh = tmp_path / "new" / "references.json"
    assert set(references.write_references(None, fresh)) == set(references.REFERENCES)
    assert json.loads(fresh.read_text())["pointmaze-medium"] == {"measured": "pointmaze-medium"}


def test_reference_returns_are_the_family_means(tmp_path):
    path = tmp_path / "references.json"
    entry = {"random": {"mean": -5.0, "max": 1.0}, "expert": {"mean": 95.0, "max": 200.0}}
    path.write_text(json.dumps({"walker2d": entry}))
    assert references.reference_returns("walker2d-medium-local", path) == (-5.0, 95.0)
    assert references.reference_returns("walker2d", path) == (-5.0, 95.0)
    with pytest.raises(KeyError, match="no reference returns for 'hopper' in references.json: run `harness rl-data"):
        references.reference_returns("hopper-expert-local", path)
    with pytest.raises(KeyError, match="no reference returns for 'hopper' in absent.json"):
        references.reference_returns("hopper", tmp_path / "absent.json")


def test_family_of_maps_datasets_and_refuses_unknown_names():
    assert references.family_of("pointmaze-umaze-local") == "pointmaze-umaze"
    assert references.family_of("pointmaze-medium") == "pointmaze-medium"
    with pytest.raises(KeyError, match="unknown dataset or environment 'ant'; known: halfcheetah, "):
        references.family_of("ant")


def test_the_committed_references_were_measured_with_the_current_specs():
    table = json.loads(references.REFERENCES_FILE.read_text())
    assert set(table) == set(references.REFERENCES)
    for family, ref in references.REFERENCES.items():
        entry = table[family]
        assert (entry["env_id"], entry["eval_env_kwargs"], entry["episodes"]) == (ref.env_id, ref.eval_env_kwargs,
                                                                                 ref.episodes), family
        for role, comp in (("random", ref.random), ("expert", ref.expert)):
            assert (entry[role]["behaviour"], entry[role]["seed"]) == (comp.behaviour, comp.seed), (family, role)
            assert entry[role].get("policy") == comp.policy, (family, role)
            if comp.policy:
                assert entry[role]["stochastic"] == comp.stochastic
                assert entry[role]["policy_sha256"] == hashlib.sha256((ROOT / comp.policy).read_bytes()).hexdigest()
