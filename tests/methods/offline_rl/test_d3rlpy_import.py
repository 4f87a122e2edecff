"""d3rlpy loads without the legacy gym package's notice on stderr (it would print in every figure worker)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_import_d3rlpy_prints_nothing_and_returns_the_module():
    program = "from methods.offline_rl.baselines import import_d3rlpy; print(import_d3rlpy().__name__)"
    done = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "d3rlpy"
    assert "Gym has been unmaintained" not in done.stderr
