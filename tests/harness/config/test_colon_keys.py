"""A flow mapping typed without a space after a colon (``{ratio:0}``) is one YAML key, ``ratio:0``: the refusal
names the key where it sits (not ``(top level)``) and says how YAML read it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.harness.config.test_bad_inputs import one_error_line

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
HINT = "(YAML reads a colon without a space after it as part of the key: write 'key: value')"


@pytest.mark.parametrize(("file", "overrides", "expected"), [
    # checked by the compressor's own parameter model, behind the technique block's validator
    ("compression/dp_compressed.yaml", ["sweep=null", "technique.name=topk", "technique.params={ratio:0}"],
     "technique.params.ratio:0: no such key (allowed: ratio, rows)"),
    # checked by the scenario model itself
    ("collective_ring.yaml", ["cluster={nodes:2}"],
     "cluster.nodes:2: no such key (allowed: device, devices_per_node, nodes)"),
])
def test_a_colon_inside_a_key_is_named_in_place_with_a_hint(capsys, file, overrides, expected):
    argv = ["validate", str(SCENARIOS / file)] + [arg for item in overrides for arg in ("--set", item)]
    line = one_error_line(capsys, *argv)
    assert line.startswith(f"{SCENARIOS / file}: {expected} {HINT}"), line
    assert "(top level)" not in line


def test_an_ordinary_unknown_key_gets_no_yaml_hint(capsys):
    line = one_error_line(capsys, "validate", str(SCENARIOS / "collective_ring.yaml"), "--set", "cluster={gpus: 2}")
    assert "cluster.gpus: no such key" in line and "YAML reads" not in line
