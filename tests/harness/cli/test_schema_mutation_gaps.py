"""Gaps in the tests of `harness.commands.schema` found by a mutation audit.

Closed here:
- `_numeric`: a unit key whose type mixes a number with a non-number is not widened; an optional number is;
  a unit key holding a list or a string is left alone.
- `_widen_units` on a hand-built object: the widened key keeps title/description/default outside its ``anyOf``,
  the description gains the unit words, the short name and the "not both" / "one of both" rules are added,
  ``required`` is rewritten (and dropped when emptied), an existing ``allOf`` is kept, and no short name is added
  where two keys share a stem or the stem is a key already.
- `finish`: ``$defs`` objects are widened too, the input is not changed, ``$schema`` and the given title are set.
- `kind_schema` refuses an unknown kind with one line; `combined_schema` is a ``oneOf`` tagged by ``kind``.
- `harness schema`: stdout lists every file written and the count line, the files' keys are sorted, the default
  folder is ``schemas/`` under the current directory, nested folders are made, and a folder or file that cannot be
  written is one line, exit 2.
"""

from __future__ import annotations

import copy
import json

import pytest

from harness.commands import schema as schema_cmd
from harness.commands.schema import _numeric, _widen_units, combined_schema, finish, kind_schema, kind_models
from harness.config.units import UNIT_STRING_PATTERN
from harness.errors import HarnessError
from tests.harness.cli_run import cli

UNIT_STRING = {"type": "string", "pattern": UNIT_STRING_PATTERN}
TIME_WORDS = "in us, or a duration with a unit (ns, us, ms, s, min, h, d)"


# ----------------------------------------------------------------------------------------- _numeric


def test_numeric_accepts_a_number_an_integer_and_an_optional_number():
    assert _numeric({"type": "number"})
    assert _numeric({"type": "integer"})
    assert _numeric({"anyOf": [{"type": "number"}, {"type": "null"}]})


def test_numeric_refuses_a_number_mixed_with_a_string_or_no_number_at_all():
    assert not _numeric({"anyOf": [{"type": "number"}, {"type": "string"}]})
    assert not _numeric({"type": "string"})
    assert not _numeric({"anyOf": [{"type": "null"}]})


# ----------------------------------------------------------------------------------------- _widen_units


def _object():
    return {
        "type": "object",
        "properties": {
            "latency_us": {"type": "number", "title": "Latency Us", "description": "one-way", "default": 2.0},
            "size_bytes": {"type": "integer", "minimum": 0},
            "name": {"type": "string"},
        },
        "required": ["size_bytes", "name"],
    }


def test_a_unit_key_keeps_its_title_description_and_default_outside_the_any_of():
    obj = _object()
    _widen_units(obj)
    assert obj["properties"]["latency_us"] == {
        "title": "Latency Us", "description": f"one-way ({TIME_WORDS})", "default": 2.0,
        "anyOf": [{"type": "number"}, UNIT_STRING],
    }
    assert obj["properties"]["size_bytes"] == {"anyOf": [{"type": "integer", "minimum": 0}, UNIT_STRING]}
    assert obj["properties"]["name"] == {"type": "string"}


def test_the_short_names_are_added_with_not_both_and_one_of_both_rules():
    obj = _object()
    _widen_units(obj)
    assert obj["properties"]["latency"] == {**UNIT_STRING, "description": "latency_us written with its unit, e.g. "
                                            "latency: 10us"}
    assert obj["properties"]["size"] == {**UNIT_STRING, "description": "size_bytes written with its unit, e.g. "
                                         "size: 10B"}
    assert obj["required"] == ["name"]
    assert obj["allOf"] == [
        {"not": {"required": ["latency", "latency_us"]}},
        {"not": {"required": ["size", "size_bytes"]}},
        {"anyOf": [{"required": ["size_bytes"]}, {"required": ["size"]}]},
    ]


def test_an_optional_unit_key_is_widened():
    obj = {"properties": {"timeout_s": {"anyOf": [{"type": "number"}, {"type": "null"}], "default": None}}}
    _widen_units(obj)
    assert obj["properties"]["timeout_s"] == {
        "default": None, "anyOf": [{"anyOf": [{"type": "number"}, {"type": "null"}]}, UNIT_STRING]}
    assert "timeout" in obj["properties"]


def test_unit_keys_that_do_not_hold_a_number_are_left_alone():
    obj = {"properties": {"sizes_bytes": {"type": "array", "items": {"type": "integer"}},
                          "mode_s": {"type": "string"}}, "required": ["sizes_bytes"]}
    before = copy.deepcopy(obj)
    _widen_units(obj)
    assert obj == before


def test_a_required_list_emptied_by_the_short_names_is_dropped_and_an_allof_kept():
    kept = {"not": {"required": ["a", "b"]}}
    obj = {"properties": {"size_bytes": {"type": "integer"}}, "required": ["size_bytes"], "allOf": [kept]}
    _widen_units(obj)
    assert "required" not in obj
    assert obj["allOf"] == [kept, {"not": {"required": ["size", "size_bytes"]}},
                            {"anyOf": [{"required": ["size_bytes"]}, {"required": ["size"]}]}]


def test_no_short_name_where_two_keys_share_a_stem_or_the_stem_is_a_key():
    obj = {"properties": {"t_us": {"type": "number"}, "t_ms": {"type": "number"},
                          "size": {"type": "string"}, "size_bytes": {"type": "integer"}},
           "required": ["size_bytes"]}
    _widen_units(obj)
    assert sorted(obj["properties"]) == ["size", "size_bytes", "t_ms", "t_us"]
    assert obj["properties"]["size"] == {"type": "string"}
    assert obj["required"] == ["size_bytes"] and "allOf" not in obj
    assert obj["properties"]["t_ms"]["anyOf"] == [{"type": "number"}, UNIT_STRING]  # still widened


# ----------------------------------------------------------------------------------------- finish


def test_finish_widens_defs_sets_dialect_and_title_and_leaves_its_input_alone():
    raw = {"title": "Model", "type": "object", "properties": {"name": {"type": "string"}},
           "$defs": {"Net": {"type": "object", "properties": {"bw_gbps": {"type": "number"}}}}}
    before = copy.deepcopy(raw)
    done = finish(raw, "my title")
    assert raw == before
    assert done["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert done["title"] == "my title"
    net = done["$defs"]["Net"]["properties"]
    assert net["bw_gbps"] == {"anyOf": [{"type": "number"}, UNIT_STRING]}
    assert net["bw"]["pattern"] == UNIT_STRING_PATTERN


# ----------------------------------------------------------------------------------------- kinds


def test_kind_schema_of_an_unknown_kind_is_one_line_naming_the_known_ones():
    with pytest.raises(HarnessError, match=r"^unknown scenario kind 'nope'; known: .*collective"):
        kind_schema("nope")


def test_kind_schema_titles_the_kind():
    assert kind_schema("collective")["title"] == "harness scenario: kind collective"


def test_combined_schema_is_a_one_of_tagged_by_kind():
    combined = combined_schema()
    assert combined["title"] == "harness scenario (any kind)"
    assert len(combined["oneOf"]) == len(kind_models())
    assert combined["discriminator"]["propertyName"] == "kind"
    assert set(combined["discriminator"]["mapping"]) == set(kind_models())


# ----------------------------------------------------------------------------------------- the command


def test_schema_prints_every_file_and_the_count_line(capsys, tmp_path):
    out = tmp_path / "a" / "b"  # nested: made with its parents
    code, stdout, err = cli(capsys, "schema", "--out", out)
    assert code == 0 and err == ""
    lines = stdout.splitlines()
    files = sorted(p for p in out.iterdir())
    n = len(kind_models()) + 1
    assert len(files) == n and sorted(lines[:-1]) == [str(p) for p in files]
    assert lines[-1].startswith(f"{n} schema files; put '# yaml-language-server: $schema={out}/scenario.schema.json'")


def test_schema_files_are_written_with_sorted_keys(capsys, tmp_path):
    assert cli(capsys, "schema", "--out", tmp_path)[0] == 0
    text = (tmp_path / "collective.schema.json").read_text()
    keys = list(json.loads(text))
    assert keys == sorted(keys) and keys[:2] == ["$defs", "$schema"]
    assert text.endswith("}\n") and text.startswith('{\n  "$defs"')


def test_schema_default_folder_is_schemas_under_the_current_directory(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli(capsys, "schema")[0] == 0
    assert (tmp_path / "schemas" / "scenario.schema.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["schemas"]


def test_schema_into_a_folder_that_cannot_be_made_is_one_line(capsys):
    code, stdout, err = cli(capsys, "schema", "--out", "/proc/no_such_folder/schemas")
    assert code == 2 and stdout == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("error: --out /proc/no_such_folder/schemas: cannot write there (")


def test_schema_file_that_cannot_be_written_is_one_line(capsys, tmp_path, monkeypatch):
    def refuse(path, text):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(schema_cmd, "write_text_atomic", refuse)
    code, stdout, err = cli(capsys, "schema", "--out", tmp_path)
    assert code == 2 and stdout == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"error: --out {tmp_path}: cannot write {tmp_path}/") and "(Read-only file system)" in line
