"""Provenance of a run: the code version and the hashes of the timing tables it may replay.

Both go into the run-id (DESIGN.md "Run output"), so editing the code or re-measuring a table gives new runs
instead of silently reusing stale ones. The code version is a sha256 over the sorted source files of the
packages ``harness``, ``methods`` and ``kernels`` (relative paths and bytes; the CLI front end
``harness/commands`` is left out, it cannot change results), computed once per process.
A timing-table hash is a sha256 over the files of ``results/timings/<table_set>/`` (sorted names and bytes),
or ``"absent"`` when that folder does not exist.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

CODE_PACKAGES = ("harness", "methods", "kernels")
#: sub-packages that cannot change a run's results (the CLI front end, the fidelity study's own tooling)
EXCLUDED_SUBPACKAGES = (("harness", "commands"),)
SOURCE_SUFFIXES = (".py", ".yaml", ".yml", ".json")
ABSENT = "absent"


def project_root() -> Path:
    """The checkout holding the ``harness`` package (where ``results/timings/`` and ``scenarios/`` live)."""
    return Path(__file__).resolve().parent.parent


def default_timings_root() -> Path:
    """``results/timings`` of the project checkout (the committed timing tables)."""
    return project_root() / "results" / "timings"


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _source_files(package_dir: Path) -> list[Path]:
    return sorted(
        path
        for path in package_dir.rglob("*")
        if path.is_file() and path.suffix in SOURCE_SUFFIXES and "__pycache__" not in path.parts
    )


@functools.cache
def code_version() -> str:
    """sha256 (hex) over the source files of ``harness``, ``methods`` and ``kernels``; cached per process."""
    digest = hashlib.sha256()
    for name in CODE_PACKAGES:
        package_dir = _package_dir(name)
        if package_dir is None:
            digest.update(f"{name}:missing\n".encode())
            continue
        excluded = [package_dir / sub for pkg, sub in EXCLUDED_SUBPACKAGES if pkg == name]
        for path in _source_files(package_dir):
            if any(path.is_relative_to(folder) for folder in excluded):
                continue
            relative = f"{name}/{path.relative_to(package_dir).as_posix()}"
            data = path.read_bytes()
            digest.update(f"{relative}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def table_set_hash(table_set: str, timings_root: Path | None = None) -> str:
    """sha256 (hex) over the files of ``<timings_root>/<table_set>/`` (names + bytes), or ``"absent"``."""
    folder = (timings_root or default_timings_root()) / table_set
    if not folder.is_dir():
        return ABSENT
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def timing_table_hashes(table_set: str, timings_root: Path | None = None) -> dict[str, str]:
    """``{table_set: hash}`` for run.json and the run-id (a dict so a kind may later replay several sets)."""
    return {table_set: table_set_hash(table_set, timings_root)}
