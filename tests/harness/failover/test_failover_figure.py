"""The `harness.failover` verdict: computed from the figure's own table, failing where a check fails."""

from __future__ import annotations

import pandas as pd

from plots.papers.harness_failover import verdict_of


def _table(error_pp: float, shards: int = 400, detect_s: float = 2.1, jump: float = -0.01) -> pd.DataFrame:
    return pd.DataFrame([{"mode": "mecefo", "steps": 100, "timeout_s": 2.0, "detect_s_max": detect_s,
                          "error_pp": error_pp, "loss_jump_max": jump, "shards_counted": shards}])


def test_every_check_holding_reproduces():
    assert verdict_of(_table(-3.0)).status == "reproduced"


def test_each_failed_check_spoils_the_verdict():
    for table in (_table(7.0), _table(1.0, shards=401), _table(1.0, detect_s=3.5), _table(1.0, jump=0.4)):
        verdict = verdict_of(table)
        assert verdict.status != "reproduced"
        assert any(not check.holds for check in verdict.checks)
