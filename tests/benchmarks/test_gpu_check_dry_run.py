"""The prepared GPU check (scripts/gpu_check.sh) runs end to end on this CPU with --dry-run: every correctness
check passes, the bench writes its targets, and each profile group writes its tables (bf16 GEMMs, the
training-step ops, the project's kernels) into $OUT/timings, where a cut-off device run would still leave them."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_check_dry_run_writes_checks_bench_and_tables(tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "OUT": str(out)}
    done = subprocess.run(["bash", "scripts/gpu_check.sh", "--dry-run"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    passed, failed = map(int, re.search(r"(\d+) PASS, (\d+) FAIL", done.stdout).groups())
    assert passed >= 30 and failed == 0, done.stdout
    assert {"env.txt", "check.log", "bench.log", "bench.json", "summary.txt", "profile.log"} <= {
        path.name for path in out.iterdir()}
    assert json.loads((out / "bench.json").read_text())
    tables = out / "timings" / "dryrun"
    matmul = pd.read_csv(tables / "matmul.csv")
    assert set(matmul["dtype"]) == {"bfloat16"}  # --dtypes bfloat16: only those rows measured
    for op in ("sdpa_bwd", "adamw_step", "moc_decode", "tah_quantize", "arc_select"):
        assert len(pd.read_csv(tables / f"{op}.csv")) >= 1, op
    assert set(json.loads((tables / "meta.json").read_text())["ops"]) >= {"matmul", "sdpa_bwd", "moc_decode"}
    assert "exit 0" in done.stdout and "exit 124" not in done.stdout  # no group hit its limit
