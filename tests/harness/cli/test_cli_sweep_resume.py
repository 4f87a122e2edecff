"""An interrupted `harness sweep` (kill -9 of its process group, or Ctrl-C) resumes without redoing finished
points, and nothing half-written is ever read as a result.

The sweeps run from a frozen copy of the code: the run-id includes the code version, and a source file edited
in the checkout between the runs would (correctly) make every point new.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.store import RunStore

N_POINTS = 8
CHECKOUT = Path(__file__).resolve().parents[3]


def frozen_code_env(folder: Path) -> dict[str, str]:
    """Environment whose PYTHONPATH puts a copy of harness/methods/kernels ahead of the checkout.

    The sweeps must run in another directory than the checkout: ``python -m`` puts the current one first.
    """
    for package in ("harness", "methods", "kernels"):
        shutil.copytree(CHECKOUT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    return {**os.environ, "PYTHONPATH": str(folder)}


def write_slow_sweep(folder: Path) -> Path:
    path = folder / "toy_slow.yaml"
    path.write_text(
        "name: toy_slow\nkind: toy\nworkload: {n_messages: 4, sleep_ms: 500}\n"
        f"sweep:\n  product:\n    seed: {list(range(N_POINTS))}\n"
    )
    return path


def sweep_command(scenario: Path, root: Path) -> list[str]:
    return [sys.executable, "-m", "harness", "sweep", str(scenario), "--workers", "2", "--out", str(root)]


def default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored and children inherit that; Python then installs no
    # KeyboardInterrupt handler, so Ctrl-C would do nothing. The sweep must see SIGINT as a terminal delivers it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_sweep(scenario: Path, root: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(sweep_command(scenario, root), env=env, cwd=scenario.parent, start_new_session=True,
                            preexec_fn=default_sigint, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(root: Path) -> dict[str, dict]:
    """run-id -> run.json of every run the store accepts as finished."""
    folder = root / "toy_slow"
    store = RunStore(root)
    runs = {}
    for path in folder.iterdir() if folder.is_dir() else []:
        record = store.read_run(path)
        if record is not None:
            runs[path.name] = record
    return runs


def wait_for(condition, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def interrupt(process: subprocess.Popen, sig: int) -> tuple[int, str]:
    os.killpg(process.pid, sig)
    _, err = process.communicate(timeout=60)
    return process.returncode, err


def test_killed_then_interrupted_sweep_resumes_without_recomputing(tmp_path):
    scenario, root = write_slow_sweep(tmp_path), tmp_path / "runs"
    env = frozen_code_env(tmp_path / "code")

    first = start_sweep(scenario, root, env)
    wait_for(lambda: len(finished(root)) >= 2)
    code, _ = interrupt(first, signal.SIGKILL)
    assert code == -signal.SIGKILL
    after_kill = finished(root)
    assert 2 <= len(after_kill) < N_POINTS
    # Whatever else is on disk (a temp folder of a point in flight) is not a finished run.
    for path in (root / "toy_slow").iterdir():
        assert path.name in after_kill or path.name.startswith(".tmp-")

    second = start_sweep(scenario, root, env)
    wait_for(lambda: len(finished(root)) > len(after_kill))
    code, err = interrupt(second, signal.SIGINT)
    assert code == 130 and "interrupted; finished runs are kept" in err and "Traceback" not in err
    after_interrupt = finished(root)
    assert len(after_interrupt) > len(after_kill)

    third = subprocess.run(sweep_command(scenario, root), env=env, cwd=scenario.parent, capture_output=True, text=True,
                           timeout=120)
    assert third.returncode == 0, third.stderr
    n_done = len(after_interrupt)
    assert third.stdout.splitlines()[0].startswith(
        f"toy_slow: {N_POINTS} points, {N_POINTS - n_done} computed, {n_done} reused")
    final = finished(root)
    assert len(final) == N_POINTS
    assert len({record["code_version"] for record in final.values()}) == 1
    for run_id, record in after_interrupt.items():  # finished points were not redone
        assert final[run_id]["finished_at"] == record["finished_at"]
    left = sorted(p.name for p in (root / "toy_slow").iterdir())  # temp folders cleaned; one combined table
    assert [name for name in left if not name.startswith("sweep-")] == sorted(final)
    assert len([name for name in left if name.startswith("sweep-") and name.endswith(".csv")]) == 1
    seeds = sorted(json.loads((root / "toy_slow" / rid / "run.json").read_text())["seed"] for rid in final)
    assert seeds == list(range(N_POINTS))
