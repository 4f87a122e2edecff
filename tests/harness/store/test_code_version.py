"""harness/provenance.py: a kind's code version covers exactly the project modules it imports.

The edit tests work on a temporary copy of the three code packages, never on the real files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.api import run_scenario_file
from harness.config.blocks import table_set_of
from harness.config.loader import load_scenario
from harness.provenance import (
    CODE_PACKAGES,
    RUN_MACHINERY,
    hash_modules,
    kind_code_version,
    kind_module,
    module_closure,
    timing_table_hashes,
)
from harness.store import compute_run_id
from harness.sweep import expand
from harness.workloads import WORKLOADS, load_all

ROOT = Path(__file__).resolve().parents[3]
GREEDYLORE_ONLY = "harness/workloads/greedylore_contraction.py"
SHARED = "methods/compress/base.py"


def _closure(kind: str, root: Path = ROOT) -> tuple[str, ...]:
    return module_closure((f"harness.workloads.{kind}", *RUN_MACHINERY), root)


def _arctopk_scenarios() -> list[str]:
    from plots.papers import load_all as load_figures
    from plots.registry import FIGURES

    load_figures()
    paths = sorted({path for spec in FIGURES if spec.paper == "arctopk" for path in spec.scenarios})
    assert paths, "no ARC-Top-K figure declares a scenario"
    return paths


def _points(paths: list[str]) -> dict[str, tuple[str, list]]:
    """``{path: (kind module, expanded points)}`` of every scenario file."""
    loaded = {}
    for path in paths:
        scenario = load_scenario(ROOT / path)
        loaded[path] = (kind_module(scenario.kind), [point.scenario for point in expand(scenario)])
    return loaded


def _table_hashes(scenario) -> dict[str, str]:
    """The timing-table hashes `harness.executors.plan` gives a point: none for a kind that reads no table set."""
    table_set = table_set_of(scenario)
    return timing_table_hashes(table_set) if table_set is not None else {}


def _run_ids(points: dict[str, tuple[str, list]], root: Path) -> dict[str, list[str]]:
    """Run ids of every point, with the code versions of the tree under ``root``."""
    ids, versions = {}, {}
    for path, (module, scenarios) in points.items():
        if module not in versions:
            versions[module] = hash_modules(module_closure((module, *RUN_MACHINERY), root), root)
        version = versions[module]
        ids[path] = [compute_run_id(s, version, _table_hashes(s)) for s in scenarios]
    return ids


@pytest.fixture()
def tree_copy(tmp_path):
    for package in CODE_PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def _edit(root: Path, relative: str) -> None:
    path = root / relative
    path.write_text(path.read_text() + "\n# an edit\n")


def test_closure_follows_static_lazy_and_registry_imports():
    training = _closure("compressed_training")
    # a lazy import inside a function, and every enclosing package
    assert {"methods.models.gpt", "methods", "methods.models", "harness.workloads"} <= set(training)
    # the compressor registry imports every compressor by name, so the ARC kinds hold GreedyLore's compressor
    assert "methods.compress.greedylore" in training and "methods.compress.arc_topk" in training
    # kernels.ops.OP_MODULES is followed (the timing replay imports the op registry)
    from kernels.ops import OP_MODULES

    assert set(OP_MODULES) <= set(_closure("toy"))
    # the commands (CLI front end) and other kinds are not part of a kind's code
    assert not any(name.startswith("harness.commands") for name in training)
    assert "harness.workloads.greedylore_contraction" not in training
    assert "harness.workloads.compressed_training" not in _closure("greedylore_contraction")


def test_kind_code_version_differs_per_kind_and_is_stable():
    load_all()
    versions = {kind: kind_code_version(kind) for kind in WORKLOADS}
    assert len({version.digest for version in versions.values()}) == len(versions)
    for kind, version in versions.items():
        assert f"harness.workloads.{kind}" in version.modules
        assert kind_code_version(kind) == version


@pytest.fixture(scope="module")
def figure_points():
    return _points(_arctopk_scenarios()), _points(["scenarios/greedylore/contraction.yaml"])


def test_greedylore_only_edit_keeps_arctopk_run_ids_and_shared_edit_changes_both(figure_points, tree_copy):
    arc, greedylore = figure_points
    before_arc, before_gl = _run_ids(arc, tree_copy), _run_ids(greedylore, tree_copy)
    assert _run_ids(arc, ROOT) == before_arc  # the copy hashes like the checkout

    _edit(tree_copy, GREEDYLORE_ONLY)
    assert _run_ids(arc, tree_copy) == before_arc
    after_gl = _run_ids(greedylore, tree_copy)
    assert all(set(after_gl[p]).isdisjoint(before_gl[p]) for p in greedylore)

    _edit(tree_copy, SHARED)
    after_arc = _run_ids(arc, tree_copy)
    assert all(set(after_arc[p]).isdisjoint(before_arc[p]) for p in arc)
    assert all(set(_run_ids(greedylore, tree_copy)[p]).isdisjoint(after_gl[p]) for p in greedylore)


def test_data_files_of_a_package_count(tree_copy):
    modules = _closure("toy", tree_copy)
    before = hash_modules(modules, tree_copy)
    _edit(tree_copy, "harness/data/devices.yaml")
    assert hash_modules(modules, tree_copy) != before


def test_run_json_records_code_modules(tmp_path):
    result = run_scenario_file(ROOT / "scenarios/toy_example.yaml", results_root=tmp_path, progress=False)
    record = json.loads((result.runs[0].run_dir / "run.json").read_text())
    assert record["code_version"] == kind_code_version("toy").digest
    assert record["code_modules"] == list(kind_code_version("toy").modules)
    assert "harness.workloads.toy" in record["code_modules"]
    assert "harness.workloads.collective" not in record["code_modules"]
