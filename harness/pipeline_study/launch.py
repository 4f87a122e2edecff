"""Start one run's stage processes where they belong, wait, and kill every one of them if any fails.

The placements are the fidelity study's (`harness.fidelity.launch.Loopback`, `InNamespaces` over a
`harness.fidelity.netns.StarNetwork`), and so are the deadline and failure handling (`harness.fidelity.launch`'s
wait loop and `MeasurementError` with each failing rank's log tail). What differs from
`harness.fidelity.launch.run_ranks` is only the program started: ``python -m harness.pipeline_study.worker``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.fidelity.launch import Loopback, MeasurementError, Placement, _wait_all, free_port

__all__ = ["MeasurementError", "run_stages"]


def run_stages(config, placement: Placement | None = None, port: int | None = None,
               on_start: Callable[[list[int]], None] | None = None) -> list[dict]:
    """Run ``config`` (a `harness.pipeline_study.plan.RunConfig`) as ``config.run.stages`` processes; return
    their records (rank order). Raises `MeasurementError` if a process fails or ``config.timeout_s`` passes;
    every started process is killed and reaped before this returns either way. ``on_start`` gets the pids."""
    placement = placement or Loopback()
    port = port or (free_port() if isinstance(placement, Loopback) else 29500)
    world = config.run.stages
    with tempfile.TemporaryDirectory(prefix="pipeline-study-") as tmp:
        out_dir = Path(tmp)
        config_path = out_dir / "config.json"
        config_path.write_text(config.model_dump_json())
        procs: list[subprocess.Popen] = []
        logs = []
        try:
            for rank in range(world):
                env = dict(os.environ)
                env.update(placement.rank_env(rank))
                env.update(MASTER_ADDR=placement.master_addr, MASTER_PORT=str(port), RANK=str(rank),
                           WORLD_SIZE=str(world), OMP_NUM_THREADS="1")
                cmd = placement.exec_prefix(rank) + [sys.executable, "-m", "harness.pipeline_study.worker",
                                                     "--config", str(config_path), "--out", str(out_dir)]
                log = open(out_dir / f"rank{rank}.log", "w+")
                logs.append(log)
                procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT))
            if on_start is not None:
                on_start([proc.pid for proc in procs])
            _wait_all(procs, logs, config.timeout_s)
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
            for log in logs:
                log.close()
        return [json.loads((out_dir / f"rank{rank}.json").read_text()) for rank in range(world)]
