"""Benchmark our kernels against their baselines, side by side in one run (same as `harness bench`).

    python benchmarks/bench_kernels.py --device cuda --grid default --json results/bench_kernels.json

Prints per op and shape: our time, the baseline's time, the speedup, achieved GB/s and % of the copy bandwidth
measured at the start of the run. Timing assertions never live in tests; this is where speed is measured.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing
    from harness.cli import main

    raise SystemExit(main(["bench", *sys.argv[1:]]))
