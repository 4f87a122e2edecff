"""`harness schema [--out DIR]`: JSON Schema files of the scenario kinds, for editors (YAML language server).

One file per kind (``<kind>.schema.json``) and ``scenario.schema.json`` for any kind (a ``oneOf`` tagged by
``kind``), generated from the kinds' pydantic models (``model_json_schema``). The models' unit keys are widened
the way `harness.config.units` reads them: ``bandwidth_gbps`` takes a number or a unit string (``50GB/s``), and
the short name ``bandwidth`` (a unit string) is allowed in its place, never both. Checks the schema cannot
express (cross-key rules, sweep points) stay with ``harness validate``. A scenario file points at its schema
with a first line ``# yaml-language-server: $schema=<path or URL of the .schema.json>``.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from harness.commands._paths import path_arg
from harness.config.units import UNIT_STRING_PATTERN, suffix_of
from harness.errors import HarnessError
from harness.files import write_text_atomic

DEFAULT_OUT = Path("schemas")
COMBINED = "scenario.schema.json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "schema",
        help="write JSON Schema files of the scenario kinds (editor completion and checks)",
        description="Write one JSON Schema file per scenario kind (<kind>.schema.json) and scenario.schema.json "
        "for any kind. Point the YAML language server at one with a first line "
        "'# yaml-language-server: $schema=<path>' in a scenario file, the path relative to that file or absolute "
        "(for scenarios/x.yaml and the default --out: ../schemas/scenario.schema.json).",
    )
    parser.add_argument("--out", type=path_arg, default=DEFAULT_OUT, metavar="DIR",
                        help=f"folder to write into (default: {DEFAULT_OUT}/ under the current directory)")
    parser.set_defaults(func=main)


# ----------------------------------------------------------------------------------------- unit keys


def _numeric(schema: dict[str, Any]) -> bool:
    members = schema.get("anyOf", [schema])
    types = {member.get("type") for member in members}
    return bool(types & {"integer", "number"}) and types <= {"integer", "number", "null"}


def _widen_units(obj: dict[str, Any]) -> None:
    """In one object schema: unit keys take unit strings, and their short names are allowed instead."""
    properties = obj.get("properties")
    if not isinstance(properties, dict):
        return
    unit_string = {"type": "string", "pattern": UNIT_STRING_PATTERN}
    stems: dict[str, list[str]] = {}
    for key, schema in list(properties.items()):
        unit = suffix_of(key)
        if unit is None or not _numeric(schema):
            continue
        words = f"in {unit.unit}, or a {unit.quantity.name} with a unit ({unit.quantity.allowed()})"
        kept = {k: schema.pop(k) for k in ("title", "description", "default") if k in schema}
        if "description" in kept:
            kept["description"] = f"{kept['description']} ({words})"
        properties[key] = {**kept, "anyOf": [schema, unit_string]}
        stems.setdefault(key[: -len(unit.suffix)], []).append(key)
    rules = []
    required = obj.get("required", [])
    for stem, keys in stems.items():
        if len(keys) != 1 or stem in properties:
            continue
        full = keys[0]
        properties[stem] = {**unit_string, "description": f"{full} written with its unit, e.g. "
                            f"{stem}: 10{suffix_of(full).unit}"}
        rules.append({"not": {"required": [stem, full]}})
        if full in required:
            required.remove(full)
            rules.append({"anyOf": [{"required": [full]}, {"required": [stem]}]})
    if "required" in obj and not required:
        del obj["required"]
    if rules:
        obj["allOf"] = [*obj.get("allOf", []), *rules]


def _objects(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [schema, *schema.get("$defs", {}).values()]


def finish(schema: dict[str, Any], title: str) -> dict[str, Any]:
    """A pydantic JSON Schema made editor-ready: unit keys widened, dialect and title set."""
    schema = copy.deepcopy(schema)
    for obj in _objects(schema):
        _widen_units(obj)
    return {"$schema": DIALECT, "title": title, **{k: v for k, v in schema.items() if k != "title"}}


# ----------------------------------------------------------------------------------------- schemas


def kind_models() -> dict[str, Any]:
    from harness.workloads import WORKLOADS, load_all

    load_all()
    return {name: kind.model for name, kind in WORKLOADS.items()}


def kind_schema(kind: str) -> dict[str, Any]:
    models = kind_models()
    if kind not in models:
        raise HarnessError(f"unknown scenario kind {kind!r}; known: {', '.join(models)}")
    return finish(models[kind].model_json_schema(), f"harness scenario: kind {kind}")


def combined_schema() -> dict[str, Any]:
    """One schema for every kind: a ``oneOf`` of the kinds' models tagged by their ``kind`` key."""
    models = list(kind_models().values())
    union = models[0] if len(models) == 1 else Annotated[Union[tuple(models)], Field(discriminator="kind")]
    return finish(TypeAdapter(union).json_schema(), "harness scenario (any kind)")


def write_schemas(out: Path) -> list[Path]:
    """Write every kind's schema and the combined one into ``out`` (each file atomically); returns the files.

    A folder in the place of one of the files is refused before any file is written.
    """
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out}: is a file, not a folder")
    schemas = {f"{k}.schema.json": kind_schema(k) for k in kind_models()}
    schemas[COMBINED] = combined_schema()
    blocked = [out / name for name in schemas if (out / name).is_dir()]
    if blocked:
        raise HarnessError(f"--out {out}: {blocked[0]} is a folder; expected a schema file there (or nothing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HarnessError(f"--out {out}: cannot write there ({err.strerror or err})") from None
    written = []
    for name, schema in schemas.items():
        path = out / name
        try:
            write_text_atomic(path, json.dumps(schema, indent=2, sort_keys=True) + "\n")
        except OSError as err:
            raise HarnessError(f"--out {out}: cannot write {path} ({err.strerror or err})") from None
        written.append(path)
    return written


def main(args: argparse.Namespace) -> int:
    written = write_schemas(args.out)
    for path in written:
        print(path)
    print(f"{len(written)} schema files; put '# yaml-language-server: $schema={args.out / COMBINED}' (a path "
          "relative to the scenario file, or absolute) on a scenario file's first line")
    return 0
