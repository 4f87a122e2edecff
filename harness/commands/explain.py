"""`harness explain KIND[.block...]`: every key of a scenario kind, as a table for the terminal.

Generated from the kind's pydantic model (``model_json_schema``): per key its type, unit (from the key-name
suffix, `harness.config.units`), default, allowed values (choices, bounds, patterns) and its description; one
section per block, nested blocks after their parent. ``harness explain data_parallel_step.workload`` shows one
block (and the blocks inside it); a tagged union (``workload.task``) shows each variant.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from dataclasses import dataclass
from typing import Any

from harness.config.units import suffix_of
from harness.errors import HarnessError

MAX_DEFAULT_CHARS = 36


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "explain",
        help="show every key of a scenario kind (type, unit, default, allowed values, description)",
        description="Show the keys of a scenario kind, or of one block of it (e.g. 'collective.network.inter_node'), "
        "with type, unit, default, allowed values and description. Unit keys (bandwidth_gbps, size_bytes, ...) "
        "also take a value with a unit (50GB/s), and their short name (bandwidth: 400Gbit/s).",
    )
    parser.add_argument("target", metavar="KIND[.BLOCK...]", help="a scenario kind, optionally with a block path")
    parser.set_defaults(func=main)


@dataclass
class Block:
    """One object schema to show: its dotted path, title and description, and the schema itself."""

    path: str
    schema: dict[str, Any]
    note: str = ""


# ----------------------------------------------------------------------------------------- schema walking


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target = defs[schema["$ref"].rsplit("/", 1)[-1]]
        schema = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
    return schema


def _members(schema: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a value schema (``anyOf``/``oneOf``), each resolved; the schema itself if none."""
    schema = _resolve(schema, defs)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return [m for member in schema[key] for m in _members(member, defs)]
    return [schema]


def _is_block(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "object" and "properties" in schema


def _blocks_in(path: str, schema: dict[str, Any], defs: dict[str, Any]) -> list[Block]:
    """The blocks a key holds: one per object alternative (a tagged union gives one per tag)."""
    objects = [m for m in _members(schema, defs) if _is_block(m)]
    blocks = []
    for member in objects:
        note = ""
        if len(objects) > 1:
            tags = [f"{k}: {v['const']}" for k, v in member["properties"].items() if "const" in v]
            note = ", ".join(tags) or member.get("title", "")
        blocks.append(Block(path, member, note))
    return blocks


def _nested(block: Block, defs: dict[str, Any]) -> list[Block]:
    """``block`` and every block inside it, depth first."""
    found = [block]
    for key, schema in block.schema["properties"].items():
        for child in _blocks_in(f"{block.path}.{key}", schema, defs):
            found.extend(_nested(child, defs))
    return found


# ----------------------------------------------------------------------------------------- cells


def _type_text(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    texts = []
    for member in _members(schema, defs):
        kind = member.get("type")
        if _is_block(member):
            text = "block"
        elif kind == "array":
            if "prefixItems" in member:
                text = "list of " + ", ".join(_type_text(item, defs) for item in member["prefixItems"])
            else:
                text = "list of " + _type_text(member.get("items", {}), defs) if member.get("items") else "list"
        elif kind == "object":
            values = member.get("additionalProperties")
            text = f"mapping of {_type_text(values, defs)}" if isinstance(values, dict) and values else "mapping"
        elif kind is None:
            text = "any"
        elif kind == "string" and member.get("format") == "path":  # `DataFile`
            text = "file path"
        else:
            text = {"integer": "integer", "number": "number", "string": "string", "boolean": "bool",
                    "null": "null"}.get(kind, str(kind))
        if text not in texts:
            texts.append(text)
    return " | ".join(texts)


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _allowed(schema: dict[str, Any], defs: dict[str, Any]) -> str:
    parts = []
    for member in _members(schema, defs):
        if member.get("type") == "array" and isinstance(member.get("items"), dict):
            member = {**_resolve(member["items"], defs), **{k: v for k, v in member.items() if k != "items"}}
        if "enum" in member:
            parts.append(" | ".join(json.dumps(v) if not isinstance(v, str) else v for v in member["enum"]))
        if "const" in member and not _is_block(member):
            parts.append(str(member["const"]))
        for key, symbol in (("exclusiveMinimum", ">"), ("minimum", ">="), ("exclusiveMaximum", "<"),
                            ("maximum", "<=")):
            if key in member:
                parts.append(f"{symbol} {_number(member[key])}")
        for key, words in (("minLength", "length >="), ("maxLength", "length <="), ("minItems", "items >="),
                           ("maxItems", "items <=")):
            if key in member:
                parts.append(f"{words} {member[key]}")
        if "pattern" in member:
            parts.append(f"matches {member['pattern']}")
    return ", ".join(dict.fromkeys(parts))


def _default(key: str, schema: dict[str, Any], required: list[str]) -> str:
    if key in required:
        return "required"
    if "default" not in schema:
        return "-"
    text = json.dumps(schema["default"], separators=(", ", ": "))
    return text if len(text) <= MAX_DEFAULT_CHARS else text[: MAX_DEFAULT_CHARS - 3] + "..."


def _unit(key: str, type_text: str) -> str:
    unit = suffix_of(key)
    numeric = any(word in type_text for word in ("integer", "number"))
    return unit.unit if unit is not None and numeric else ""


def block_rows(block: Block, defs: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """``(key, type, unit, default, allowed, description)`` per key of ``block``."""
    rows = []
    required = block.schema.get("required", [])
    for key, schema in block.schema["properties"].items():
        type_text = _type_text(schema, defs)
        description = schema.get("description") or _resolve(schema, defs).get("description", "")
        description = " ".join(inspect.cleandoc(description).split()) if description else ""
        rows.append((key, type_text, _unit(key, type_text), _default(key, schema, required),
                     _allowed(schema, defs), description))
    return rows


def render_block(block: Block, defs: dict[str, Any]) -> str:
    title = block.path + (f"  ({block.note})" if block.note else "")
    about = " ".join(inspect.cleandoc(block.schema.get("description", "")).split("\n\n")[0].split())
    header = ("key", "type", "unit", "default", "allowed", "description")
    rows = [header, *block_rows(block, defs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [title, f"  {about}"] if about else [title]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths)]
        lines.append(("  " + "  ".join([*cells, row[-1]])).rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- the command


def _kind_doc(kind: Any) -> str:
    """The first paragraph of the kind module's docstring (what it simulates, which paper it follows)."""
    doc = inspect.getdoc(inspect.getmodule(kind.run)) or inspect.getdoc(kind.model) or ""
    return " ".join(doc.split("\n\n")[0].split())


def explain(target: str) -> str:
    """The text `harness explain TARGET` prints; raises `HarnessError` for an unknown kind, block or key."""
    from harness.workloads import WORKLOADS, load_all

    load_all()
    kind_name, *parts = target.split(".")
    if kind_name not in WORKLOADS:
        raise HarnessError(f"unknown scenario kind {kind_name!r}; known: {', '.join(WORKLOADS)}")
    kind = WORKLOADS.get(kind_name)
    schema = kind.model.model_json_schema()
    defs = schema.get("$defs", {})
    blocks = [Block(kind_name, schema)]
    for depth, part in enumerate(parts):
        where = ".".join([kind_name, *parts[:depth]])
        properties = {k: v for block in blocks for k, v in block.schema["properties"].items()}
        if part not in properties:
            known = sorted({k for k, v in properties.items() if _blocks_in("", v, defs)})
            blocks_text = f"its blocks: {', '.join(known) or '(none)'}"
            if depth < len(parts) - 1:
                raise HarnessError(f"{where} has no block {part!r}; {blocks_text}")
            keys = ", ".join(k for k in properties if k not in known) or "(none)"  # the last part may be a key
            raise HarnessError(f"{where} has no key or block {part!r}; {blocks_text}; its keys: {keys}")
        children = _blocks_in(f"{where}.{part}", properties[part], defs)
        if not children:
            if depth == len(parts) - 1:  # a plain key: show its row
                owner = next(block for block in blocks if part in block.schema["properties"])
                key_block = Block(f"{where}.{part}", {**owner.schema, "properties": {part: properties[part]}})
                return render_block(key_block, defs)
            raise HarnessError(f"{where}.{part} is a key, not a block; see harness explain {where}")
        blocks = children
    sections = [section for block in blocks for section in _nested(block, defs)]
    text = [f"{kind_name}: {_kind_doc(kind)}", ""] if not parts else []
    text.append("\n\n".join(render_block(section, defs) for section in sections))
    text.append("\nUnit keys also take a value with a unit (bandwidth_gbps: 50GB/s) or their short name "
                "(bandwidth: 400Gbit/s); see harness/config/units.py.")
    return "\n".join(text)


def main(args: argparse.Namespace) -> int:
    sys.stdout.write(explain(args.target) + "\n")
    return 0
