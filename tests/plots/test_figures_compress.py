"""Every compression figure's runs really compress (ARC-Top-K issue of figures that silently ran dense).

For each ``compressed_training`` scenario of the ARC-Top-K, GreedyLore and shared compression figures, every sweep
point whose technique is not ``none`` runs a few steps at a small task size (no warm-up, no tuning stage) next to
the dense point of the same setting, and:

- run.json records no dense fallback except the 1-D tensors the compressor sends dense by design (reason
  ``"vector"``; ARC-Top-K with ``vectors: topk_of_mean`` compresses those too) and, at a ``min_compression_rate``
  of at most 1, matrices whose compressed form would be no smaller than themselves (PowerSGD's rank-2 P and Q of a
  2 x 32 head: 68 values for 64): a matrix sent dense because a higher rate judged compression unprofitable
  (``"unprofitable"``) fails the test;
- the compressor sent fewer ring bytes per worker than dense (Top-K, whose all-gather sends (N - 1) x its payload
  and passes dense from N = 6 on by design: a smaller payload than dense's), except ARC-Top-K's exact sketch
  (V = I), which sends the whole tensor as its sketch plus the selected rows by construction (a reference series
  in arctopk.fig2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.config.loader import load_scenario
from harness.executors import run_points
from harness.sweep import SweepPoint, expand
from methods.compress.base import make_compressor

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("scenarios/arctopk", "scenarios/compression", "scenarios/greedylore")
STEPS = 3
#: the bytes compared with dense's: what each worker contributes for Top-K's all-gather, ring bytes otherwise
COLUMNS = {"topk": "payload_bytes_per_worker", "*": "ring_sent_bytes_per_worker"}

#: small task sizes per task name (steps and warm-up are set for every task)
SMALL_TASKS: dict[str, dict[str, Any]] = {
    "logistic": {"n_samples": 6400},
    "tiny_gpt": {"batch_size": 2, "seq_len": 16, "n_sentences": 200, "eval_sentences": 40, "eval_batches": 1},
    "text_classification": {"n_train": 128, "n_test": 32, "batch_size": 4},
    "digits": {"batch_size": 8},
    "robust_shifted": {},
}


def _compressed_training_files() -> list[str]:
    files = []
    for folder in FOLDERS:
        for path in sorted((ROOT / folder).glob("*.yaml")):
            if "kind: compressed_training" in path.read_text():
                files.append(str(path.relative_to(ROOT)))
    return files


def _small(point: SweepPoint) -> SweepPoint:
    """The point with a few steps, no warm-up, evaluation at the end and a small task."""
    data = point.scenario.model_dump(mode="json")
    workload = data["workload"]
    workload.update(steps=STEPS, warmup_steps=0, eval_every=STEPS, record_every=1)
    workload["task"].update(SMALL_TASKS[workload["task"]["name"]])
    if workload["task"]["name"] == "logistic":
        workload["n_workers"] = min(workload["n_workers"], 8)
    return SweepPoint(point.index, point.values, type(point.scenario).model_validate(data))


def _setting(point: SweepPoint) -> str:
    """What a point shares with its dense reference: everything but the technique, its error feedback and the
    seed (none of them changes what dense sends)."""
    data = point.scenario.model_dump(mode="json")
    data.pop("technique", None)
    data.pop("seed", None)
    data["workload"].pop("error_feedback", None)
    return json.dumps(data, sort_keys=True)


def _points(path: str) -> list[SweepPoint]:
    """One point per distinct (technique, setting), seeds collapsed, each with its dense point of that setting."""
    scenario = load_scenario(ROOT / path)
    seen: dict[str, SweepPoint] = {}
    for point in expand(scenario.model_copy(update={"tune": None})):
        small = _small(point)
        key = json.dumps([small.scenario.technique.model_dump(mode="json"), _setting(small)], sort_keys=True)
        seen.setdefault(key, small)
    techniques = {p.scenario.technique.name for p in seen.values()}
    assert "none" in techniques, f"{path}: no dense point to compare bytes with"
    return [SweepPoint(i, p.values, p.scenario) for i, p in enumerate(seen.values())]


def _sent_per_step(record: Any, column: str = "ring_sent_bytes_per_worker") -> float:
    """Bytes per worker at the last step (the first compressed steps may be an EF21 dense initialisation or a
    low-rank basis refresh)."""
    return float(pd.read_csv(record.metrics_path)[column].iloc[-1])


def _rate(technique: Any) -> float:
    """The point's compressor's ``min_compression_rate`` (its default where the file sets none)."""
    return float(getattr(make_compressor(technique.name, **technique.params), "min_compression_rate", 0.0))


@pytest.mark.slow
@pytest.mark.parametrize("path", _compressed_training_files())
def test_every_compressed_run_compresses(path: str, tmp_path: Path) -> None:
    points = _points(path)
    records = run_points(points, workers=1, results_root=tmp_path, progress=False)
    dense = {(_setting(p), column): _sent_per_step(r, column) for p, r in zip(points, records)
             if p.scenario.technique.name == "none" for column in COLUMNS.values()}
    problems = []
    for point, record in zip(points, records):
        technique = point.scenario.technique
        if technique.name == "none":
            continue
        info = json.loads((record.run_dir / "run.json").read_text())["info"]
        label = f"{technique.name} {technique.params}"
        if "dense_fallback_calls" not in info:
            problems.append(f"{label}: run.json has no dense_fallback_calls")
            continue
        # at a rate <= 1 an "unprofitable" matrix is one whose compressed form would not be smaller than itself
        allowed = {"vector"} | ({"unprofitable"} if _rate(technique) <= 1 else set())
        unwanted = {name: entry for name, entry in info["dense_fallbacks"].items()
                    if entry["dense"] and entry["reason"] not in allowed}
        if unwanted:
            problems.append(f"{label}: tensors sent dense instead of compressed: {unwanted}")
        column = COLUMNS.get(technique.name, COLUMNS["*"])
        sent, reference = _sent_per_step(record, column), dense[(_setting(point), column)]
        if not technique.params.get("exact_sketch") and not sent < reference:
            problems.append(f"{label}: {sent:.0f} {column} per step, dense {reference:.0f}")
    assert not problems, f"{path}:\n" + "\n".join(problems)
