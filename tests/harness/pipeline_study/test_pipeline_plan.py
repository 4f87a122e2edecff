"""The pipeline study's plan file: the committed plans load; a bad key or value is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ScenarioError
from harness.pipeline_study.plan import load_plan, network_rate_mbit

SCENARIOS = Path(__file__).resolve().parents[3] / "harness" / "pipeline_study" / "plans"


@pytest.mark.parametrize("name", ["pipeline_fidelity.yaml", "pipeline_fidelity_quick.yaml"])
def test_committed_plans_load(name):
    plan = load_plan(SCENARIOS / name)
    assert plan.networks()[0] == "loopback"
    assert all(run.stages <= plan.model.n_layers for run in plan.runs)


def test_network_names():
    assert network_rate_mbit("loopback") is None
    assert network_rate_mbit("300mbit") == 300.0
    with pytest.raises(ValueError, match="'100Mbps'"):
        network_rate_mbit("100Mbps")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("runs: [{stages: 2, networks: [loopback], colour: red}]", "runs.0.colour: no such key"),
        ("runs: [{stages: 9, networks: [loopback]}]", "runs.0.stages: expected an integer <= 4, got 9"),
        ("runs: [{stages: 2, networks: [10gbps]}]", "runs.0.networks: expected 'loopback' or '<rate>mbit'"),
        ("runs: [{stages: 2, networks: [loopback], forward: {name: zip}}]", "runs.0.forward.name: expected one of"),
        ("runs: [{stages: 2, networks: [loopback], backward: {name: tahquant}}]",
         "runs.0.backward.name: tahquant is a forward-activation codec"),
        ("model: {d_model: 32, n_heads: 2}\nruns: [{stages: 2, networks: [loopback], forward: {name: tahquant}}]",
         "runs.0.forward: channels (32) must be a multiple of tile_size (64)"),
        ("micro_batch: 0\nruns: [{stages: 2, networks: [loopback]}]", "micro_batch: expected an integer > 0, got 0"),
        # the scenario files' YAML reader: a date that cannot be built was a traceback, a second key won silently
        ("seed: 2020-13-45\nruns: [{stages: 2, networks: [loopback]}]",
         "line 1, column 7: cannot build a value from '2020-13-45' (month must be in 1..12)"),
        ("seed: 1\nseed: 2\nruns: [{stages: 2, networks: [loopback]}]", "line 2, column 1: duplicate key 'seed'"),
        ("", "the file is empty; expected a mapping of plan keys"),  # was "got NoneType"
        ("- runs", "got a list; expected a mapping of plan keys"),
    ],
)
def test_bad_plan_is_one_line_and_exit_2(tmp_path, capsys, text, line):
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    with pytest.raises(ScenarioError):
        load_plan(plan)
    code = main(["pipeline-fidelity", "--plan", str(plan), "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 2 and "Traceback" not in out + err
    (printed,) = err.strip().splitlines()
    assert printed.startswith(f"error: {plan}: {line}"), printed
    assert not (tmp_path / "out").exists()


def test_bad_flag_value_is_exit_2(tmp_path, capsys):
    code = main(["pipeline-fidelity", "--max-wait-s", "-1", "--out", str(tmp_path)])
    assert code == 2
    assert "--max-wait-s" in capsys.readouterr().err
