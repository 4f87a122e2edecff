"""Start one run's stage processes where they belong, wait, and kill every one of them if any fails.

The placements are the fidelity study's (`harness.fidelity.launch.Loopback`, `InNamespaces` over a
`harness.fidelity.netns.StarNetwork`), and so are the deadline and failure handling (`harness.fidelity.launch`'s
wait loop and `MeasurementError` with each failing rank's log tail, via `harness.fidelity.launch.run_module_ranks`);
only the program started differs: ``python -m harness.pipeline_study.worker``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from harness.fidelity.launch import MeasurementError, Placement, run_module_ranks

__all__ = ["MeasurementError", "run_stages"]


def run_stages(config, placement: Placement | None = None, port: int | None = None,
               on_start: Callable[[list[int]], None] | None = None) -> list[dict]:
    """Run ``config`` (a `harness.pipeline_study.plan.RunConfig`) as ``config.run.stages`` processes; return
    their records (rank order). Raises `MeasurementError` if a process fails or ``config.timeout_s`` passes;
    every started process is killed and reaped before this returns either way. ``on_start`` gets the pids."""

    def args_for(out_dir: Path) -> list[str]:
        config_path = out_dir / "config.json"
        config_path.write_text(config.model_dump_json())
        return ["--config", str(config_path), "--out", str(out_dir)]

    return run_module_ranks("harness.pipeline_study.worker", config.run.stages, args_for, placement=placement,
                            timeout_s=config.timeout_s, port=port, on_start=on_start)
