"""`harness validate`: exit 0 for valid files; exit 2 and one precise line per problem, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

SCENARIOS = Path(__file__).resolve().parents[3] / "scenarios"
BROKEN = SCENARIOS / "broken"


def validate(capsys, *argv):
    code = main(["validate", *map(str, argv)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


@pytest.mark.parametrize(
    ("file", "line"),
    [
        ("unknown_key.yaml", "cluster.gpus: no such key (allowed: device, devices_per_node, nodes)"),
        ("wrong_type.yaml", "workload.n_messages: expected an integer, got 'many'"),
        ("negative_bandwidth.yaml", "network.inter_node.bandwidth_gbps: expected a number > 0, got -5"),
        ("bad_yaml.yaml", "line 5, column 11: YAML syntax error: expected ',' or ']', but got ':' "
                          "(while parsing a flow sequence that starts at line 4, column 15)"),
        ("unknown_kind.yaml", "kind: expected one of "),
        ("unequal_zip.yaml", "sweep.zip: expected lists of equal length"),
    ],
)
def test_broken_file_exits_2_with_a_precise_line(capsys, file, line):
    code, out, err = validate(capsys, BROKEN / file)
    assert code == 2 and out == ""
    (printed,) = err.splitlines()
    assert printed.startswith(f"{BROKEN / file}: {line}")


def test_missing_file(capsys, tmp_path):
    code, _, err = validate(capsys, tmp_path / "missing.yaml")
    assert code == 2 and err == f"{tmp_path / 'missing.yaml'}: no such file\n"


def test_bad_set(capsys):
    example = SCENARIOS / "toy_example.yaml"
    code, _, err = validate(capsys, example, "--set", "workload.n_messages")
    assert code == 2 and err == f"{example}: bad override 'workload.n_messages': expected key.path=value\n"
    code, _, err = validate(capsys, example, "--set", "workload.n_messages=-3")
    assert code == 2 and err == (f"{example}: workload.n_messages: expected an integer > 0, got -3 "
                                 f"(set by --set workload.n_messages=-3)\n")


def test_valid_files_exit_0_and_every_bad_file_is_reported(capsys):
    code, out, _ = validate(capsys, SCENARIOS / "toy_sweep.yaml", SCENARIOS / "toy_example.yaml")
    assert code == 0
    assert out.splitlines() == [f"{SCENARIOS / 'toy_sweep.yaml'}: ok (kind toy, 6 points)",
                                f"{SCENARIOS / 'toy_example.yaml'}: ok (kind toy, 1 point)"]
    broken = sorted(BROKEN.glob("*.yaml"))
    code, out, err = validate(capsys, SCENARIOS / "toy_example.yaml", *broken)
    assert code == 2 and out.count(": ok (") == 1
    assert sorted({line.split(": ", 1)[0] for line in err.splitlines()}) == [str(p) for p in broken]


def test_the_console_script_prints_no_traceback():
    result = subprocess.run([sys.executable, "-m", "harness", "validate", str(BROKEN / "bad_yaml.yaml"),
                             str(BROKEN / "wrong_type.yaml")], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 2 and "Traceback" not in result.stderr
