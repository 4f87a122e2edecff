"""Scenario keys whose value is a data file the run reads: declared once per kind, found, resolved and hashed here.

A kind declares such a key by its type, `DataFile` (or ``DataFile | None``, ``list[DataFile]``) in its config
model: a failure trace, an empirical repair CSV, a signal CSV. No other list of file keys exists; from that one
declaration

- the loader (`harness.config.loader`) resolves a relative path (against the scenario file's folder; a value given
  with ``--set`` against the current directory) and refuses a missing or unreadable file at validation, one line
  naming the key and the file;
- the run store (`harness.store`) puts each file's sha256 into the run-id, so an edited file is a new run, and
  run.json records every file that went into the run (``data_files``: key, path, sha256).

A config model only marks the keys (config objects never touch disk); the reading happens here, called by the
loader and the store.

Example::

    class Failures(Strict):
        trace: DataFile | None = Field(None, description="CSV trace ...")

    data_files(scenario)          # [("failures.trace", "/abs/trace.csv")]
    data_file_records(scenario)   # [{"key": "failures.trace", "path": "/abs/trace.csv", "sha256": "9f2c..."}]
"""

from __future__ import annotations

import hashlib
import os
import stat
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, Field

from harness.errors import ScenarioError


class _DataFileMark:
    """Marks a ``str`` key as the path of a data file (`DataFile`)."""

    def __repr__(self) -> str:
        return "DataFile"


DATA_FILE = _DataFileMark()

#: The type of a key naming a data file the run reads (a path; relative paths are resolved by the loader).
DataFile = Annotated[str, DATA_FILE, Field(min_length=1, json_schema_extra={"format": "path"})]

_CHUNK_BYTES = 1 << 20


# ----------------------------------------------------------------------------------------- finding the keys


def _marked(annotation: Any) -> bool:
    """True if ``annotation`` is `DataFile`, or a union with a `DataFile` member (``DataFile | None``)."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        return any(isinstance(item, _DataFileMark) for item in metadata) or _marked(base)
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_marked(member) for member in get_args(annotation))
    return False


def marks_data_file(annotation: Any) -> bool:
    """True if a key of type ``annotation`` holds a data file's path (`DataFile`, ``DataFile | None``)."""
    return _marked(annotation)


def _marked_items(annotation: Any) -> bool:
    """True if ``annotation`` is a list / tuple of `DataFile` (or a union with one)."""
    if get_origin(annotation) is Annotated:
        return _marked_items(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_marked_items(member) for member in get_args(annotation))
    if get_origin(annotation) in (list, tuple):
        return any(_marked(arg) for arg in get_args(annotation) if arg is not Ellipsis)
    return False


def _walk(value: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            child = getattr(value, name, None)
            is_file = any(isinstance(item, _DataFileMark) for item in info.metadata) or _marked(info.annotation)
            if is_file and isinstance(child, str):
                yield (*path, name), child
            elif _marked_items(info.annotation) and isinstance(child, (list, tuple)):
                yield from (((*path, name, i), item) for i, item in enumerate(child) if isinstance(item, str))
            else:
                yield from _walk(child, (*path, name))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _walk(item, (*path, key))


def data_file_paths(model: BaseModel) -> list[tuple[tuple[str | int, ...], str]]:
    """``(key path, file path)`` of every `DataFile` key set in ``model`` (a scenario or any block of one)."""
    return list(_walk(model, ()))


def dotted_key(path: tuple[str | int, ...]) -> str:
    """``("failures", "device", "repair", "csv")`` -> ``"failures.device.repair.csv"``."""
    return ".".join(str(part) for part in path)


def data_files(model: BaseModel) -> list[tuple[str, str]]:
    """``(dotted key, file path)`` of every `DataFile` key set in ``model``, in field order."""
    return [(dotted_key(path), value) for path, value in data_file_paths(model)]


def declares_data_files(model: type[BaseModel]) -> bool:
    """True if ``model`` (a scenario kind's model) has a `DataFile` key anywhere, at any depth."""
    return _declares(model, set())


def _is_model(annotation: Any) -> bool:
    try:
        return isinstance(annotation, type) and issubclass(annotation, BaseModel)
    except TypeError:  # a parametrised generic such as list[int]
        return False


def _declares(annotation: Any, seen: set[type]) -> bool:
    if _marked(annotation) or _marked_items(annotation):
        return True
    if _is_model(annotation):
        if annotation in seen:
            return False
        seen.add(annotation)
        return any(any(isinstance(item, _DataFileMark) for item in info.metadata) or _declares(info.annotation, seen)
                   for info in annotation.model_fields.values())
    return any(_declares(arg, seen) for arg in get_args(annotation))


# ----------------------------------------------------------------------------------------- paths on disk


def resolve_path(value: str, base_dir: str | Path) -> str:
    """``value`` as an absolute, normalised path: ``~`` expanded, a relative path joined to ``base_dir``."""
    expanded = os.path.expanduser(value)
    return os.path.normpath(os.path.join(os.path.abspath(base_dir), expanded))


def unreadable_reason(path: str | Path) -> str | None:
    """Why the data file ``path`` cannot be read (``no such file``, ``is a folder``, ...), or None if it can."""
    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            return "is a folder, not a file"
        if not stat.S_ISREG(mode):  # a FIFO or a device: reading could block or never end
            return "not a regular file (a pipe, device or socket)"
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        return "no such file"
    except NotADirectoryError:
        return "no such file (a part of the path is not a folder)"
    except PermissionError:
        return "permission denied"
    except OSError as err:
        return f"cannot read it ({err.strerror or err})"
    return None


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of the file's bytes; raises `OSError` if it cannot be read."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def data_file_records(model: BaseModel) -> list[dict[str, str]]:
    """``{"key", "path", "sha256"}`` of every data file ``model`` names, in field order (run.json ``data_files``).

    Raises:
        ScenarioError: one line per file that cannot be read, naming the key and the file.
    """
    records, problems = [], []
    for key, path in data_files(model):
        reason = unreadable_reason(path)
        if reason is None:
            try:
                records.append({"key": key, "path": path, "sha256": file_sha256(path)})
                continue
            except OSError as err:
                reason = f"cannot read it ({err.strerror or err})"
        problems.append(f"{key}: {path}: {reason}")
    if problems:
        raise ScenarioError(problems)
    return records

