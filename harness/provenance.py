"""Provenance of a run: the code version of its kind and the hashes of the timing tables it may replay.

Both go into the run-id (DESIGN.md "Run output"), so editing the code a run uses or re-measuring a table gives
new runs instead of silently reusing stale ones, while an edit elsewhere keeps every cached run.

The code version of a kind is a sha256 over the project modules that kind can execute: the transitive closure
of its module (``harness.workloads.<kind>``) and of the run machinery (`harness.executors`, which seeds, runs
and stores a point), found statically by walking ``import`` and ``from ... import`` statements with `ast`
(imports inside functions included) and keeping only the packages ``harness``, ``methods`` and ``kernels``.
Importing ``a.b.c`` runs ``a/__init__.py`` and ``a/b/__init__.py``, so those are in the closure too; a package
also stands for its data files (``harness/data/devices.yaml``). Plug-in registries that import modules by name
are followed: in a module that calls ``import_module``, every string constant naming a project module, and
every constant appended to an f-string prefix (``f"methods.compress.{name}"`` over a literal tuple of names),
counts as an import (`kernels.ops.OP_MODULES`, `methods.compress.base.load_compressors`). Package-wide
discovery (``pkgutil.iter_modules``, as in ``harness.workloads.load_all``) is not followed: it only registers
every kind by name, and a run calls its own kind's module, which the closure already holds.

A timing-table hash is a sha256 over the files of ``results/timings/<table_set>/`` (sorted names and bytes),
or ``"absent"`` when that folder does not exist.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CODE_PACKAGES = ("harness", "methods", "kernels")
#: modules every run executes besides its kind's module (planning, seeding, running and storing a point)
RUN_MACHINERY = ("harness.executors",)
DATA_SUFFIXES = (".yaml", ".yml", ".json")
ABSENT = "absent"


def project_root() -> Path:
    """The checkout holding the ``harness`` package (where ``results/timings/`` and ``scenarios/`` live)."""
    return Path(__file__).resolve().parent.parent


def default_timings_root() -> Path:
    """``results/timings`` of the project checkout (the committed timing tables)."""
    return project_root() / "results" / "timings"


def shown_project_path(path: Path | str) -> str:
    """``path`` relative to the project when it lies in it (``results/timings/cpu``: records, captions and the
    gallery name the project's own files without this machine's checkout path); any other path as given."""
    try:
        return str(Path(path).resolve().relative_to(project_root()))
    except ValueError:
        return str(path)


# ----------------------------------------------------------------------------------------- module closure


def module_file(name: str, root: Path, packages: tuple[str, ...] = CODE_PACKAGES) -> Path | None:
    """The source file of module ``name`` of one of ``packages`` under ``root`` (``__init__.py`` for a package),
    or None."""
    parts = name.split(".")
    if parts[0] not in packages or not all(part.isidentifier() for part in parts):
        return None
    base = root.joinpath(*parts)
    for candidate in (base / "__init__.py", base.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _dynamic_names(tree: ast.AST) -> set[str]:
    """Module names a plug-in registry may import by name: constants, and f-string prefixes + constants."""
    calls_import_module = any(
        isinstance(node, ast.Call)
        and (getattr(node.func, "attr", None) == "import_module" or getattr(node.func, "id", None) == "import_module")
        for node in ast.walk(tree)
    )
    if not calls_import_module:
        return set()
    constants = {node.value for node in ast.walk(tree)
                 if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    prefixes = {
        node.values[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant)
        and str(node.values[0].value).endswith(".")
    }
    return constants | {prefix + name for prefix in prefixes for name in constants}


def imported_names(name: str, path: Path) -> set[str]:
    """Every module name module ``name`` (source ``path``) may import; not yet filtered to project modules."""
    tree = ast.parse(path.read_bytes(), filename=str(path))
    package = _package_of(name, path)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                anchor = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{anchor}.{node.module}" if node.module else anchor
            else:
                base = node.module or ""
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # ``from pkg import submodule``
    return found | _dynamic_names(tree)


def module_closure(roots: Iterable[str], root: Path | None = None,
                   packages: tuple[str, ...] = CODE_PACKAGES) -> tuple[str, ...]:
    """The sorted modules of ``packages`` reachable from ``roots`` (with every enclosing package)."""
    root = root or project_root()
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = module_file(name, root, packages)
        if path is None:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:depth]) for depth in range(1, name.count(".") + 1)]
        todo.extend(parents)
        todo.extend(candidate for candidate in imported_names(name, path) if candidate not in seen)
    return tuple(sorted(seen))


def _data_files(package_dir: Path) -> list[Path]:
    """Data files of a package: in its folder and in sub-folders that are not packages themselves."""
    files = []
    for path in sorted(package_dir.iterdir()):
        if path.is_file() and path.suffix in DATA_SUFFIXES:
            files.append(path)
        elif path.is_dir() and path.name != "__pycache__" and not (path / "__init__.py").exists():
            files.extend(_data_files(path))
    return files


# ----------------------------------------------------------------------------------------- code version


@dataclass(frozen=True)
class CodeVersion:
    """sha256 (hex) over the source of ``modules`` (dotted names; a package includes its data files)."""

    digest: str
    modules: tuple[str, ...]


def hash_modules(modules: Iterable[str], root: Path | None = None, packages: tuple[str, ...] = CODE_PACKAGES) -> str:
    """sha256 over each module's relative path and bytes (and, for a package, its data files)."""
    root = root or project_root()
    digest = hashlib.sha256()
    for name in sorted(modules):
        path = module_file(name, root, packages)
        files = [] if path is None else [path]
        if path is not None and path.name == "__init__.py":
            files += _data_files(path.parent)
        if path is None:
            digest.update(f"{name}:missing\n".encode())
        for file in files:
            data = file.read_bytes()
            digest.update(f"{file.relative_to(root).as_posix()}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


@functools.cache
def module_code_version(module: str, root: Path | None = None) -> CodeVersion:
    """The code version of the kind module ``module`` (plus the run machinery); cached per process."""
    modules = module_closure((module, *RUN_MACHINERY), root)
    return CodeVersion(hash_modules(modules, root), modules)


def kind_module(kind: str) -> str:
    """The module that registered scenario kind ``kind`` (``harness.workloads.<kind>`` if none did)."""
    from harness.workloads import WORKLOADS

    if kind in WORKLOADS:
        return WORKLOADS.get(kind).run.__module__
    return f"harness.workloads.{kind}"


def kind_code_version(kind: str) -> CodeVersion:
    """The code version of scenario kind ``kind``: what goes into its run-ids and its run.json."""
    return module_code_version(kind_module(kind))


def code_version(kind: str | None = None) -> str:
    """sha256 (hex) of the code of ``kind``; without a kind, of every kind (``harness.workloads.*``)."""
    if kind is not None:
        return kind_code_version(kind).digest
    root = project_root()
    kinds = sorted(f"harness.workloads.{p.stem}" for p in (root / "harness" / "workloads").glob("[!_]*.py"))
    return hash_modules(module_closure((*kinds, *RUN_MACHINERY), root), root)


# ----------------------------------------------------------------------------------------- timing tables


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
