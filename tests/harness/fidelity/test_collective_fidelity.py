"""The new collective model (startup + busbw, leave-one-size-out) re-predicts the committed fidelity measurements:
median |error| <= 10% over every point, no point worse than +100%; and no point takes part in its own fit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.fidelity.study import compare_group, result_from_raw

RAW = Path(__file__).resolve().parents[3] / "results" / "fidelity" / "raw"


@pytest.fixture(scope="module")
def tables() -> pd.DataFrame:
    parts = [result_from_raw(json.loads((RAW / f"{s}.json").read_text())) for s in ("loopback", "netns")]
    return pd.concat([parts[0].loopback, parts[1].netns], ignore_index=True)


def test_committed_measurements_meet_the_target(tables):
    errors = tables["error_pct_startup_bw"]
    assert len(tables) == 56
    assert np.median(errors.abs()) <= 10.0
    assert errors.max() <= 100.0


def test_a_point_never_enters_its_own_fit():
    raw = json.loads((RAW / "netns.json").read_text())
    frames = {k: pd.DataFrame(raw[k]) for k in ("pingpong", "allreduce", "dp_step", "compute")}
    group = {k: f[(f["rate_mbit"] == 1000.0) & (f["n_ranks"] == 4)] for k, f in frames.items() if k != "compute"}
    _, before = compare_group("netns", 4, group, frames["compute"], 2, 1000.0, 9000)
    changed = dict(group)
    target = changed["allreduce"].index[3]
    changed["allreduce"] = changed["allreduce"].copy()
    changed["allreduce"].loc[target, "time_ms_median"] *= 10  # only this point's own measurement changes
    _, after = compare_group("netns", 4, changed, frames["compute"], 2, 1000.0, 9000)
    row = before.index[(before["op"] == "all_reduce")][3]
    assert after.loc[row, "predicted_ms_startup_bw"] == before.loc[row, "predicted_ms_startup_bw"]
    assert after.loc[row - 1, "predicted_ms_startup_bw"] != before.loc[row - 1, "predicted_ms_startup_bw"]
