"""Gaps in the tests of `harness.timing.cache_state` found by a mutation audit.

Closed here: between a 0-byte flush (placed one octave below the next set) and that set, a step touching less
than half of the next flush gets all its weight from the 0-byte set, never a negative weight. A blend of two
sets is as little exact as its least exact part (a roofline part makes it roofline, whether the other part was
exact or interpolated); a view's device (kernel floor, dispatch gap) is the smallest-flush set's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from harness.timing.cache_state import CacheStateReplay, blend_weights
from tests.harness.timing.table_edits import set_rows, update_roofline

TIMINGS = Path(__file__).parents[2] / "data" / "timings"
MIB = 1 << 20


def test_below_the_octave_under_the_next_set_a_0_byte_flush_takes_all_the_weight():
    # 4 MiB sits at log2 = 22, the 0-byte set at 21 (2 MiB); 1 MiB (20) lies below both: weight 1 on the 0-byte set
    assert blend_weights([0, 4 * MIB], 1 * MIB) == [(0, 1.0), (1, 0.0)]
    assert blend_weights([0, 4 * MIB], 1) == [(0, 1.0), (1, 0.0)]
    assert blend_weights([0, 4 * MIB], 2 * MIB) == [(0, 1.0), (1, 0.0)]
    (_, w_lo), (_, w_hi) = blend_weights([0, 4 * MIB], 2**21.5)
    assert (w_lo, w_hi) == (0.5, 0.5)


def _family(tmp_path: Path, f64_copy_rows: bool = True, f64_gap_us: float = 3.0) -> CacheStateReplay:
    """The fixture family (cpu-f4, cpu-f64: twice its times); cpu-f64's copy rows optionally removed; dispatch gaps
    of 1 us (cpu-f4) and ``f64_gap_us`` (cpu-f64)."""
    for name, gap in (("cpu-f4", 1.0), ("cpu-f64", f64_gap_us)):
        shutil.copytree(TIMINGS / name, tmp_path / name)
        update_roofline(tmp_path / name, kernel_floor_us=0.0, dispatch_gap_us=gap)
    if not f64_copy_rows:
        set_rows(tmp_path / "cpu-f64", "copy", pd.read_csv(tmp_path / "cpu-f64" / "copy.csv").iloc[:0])
    return CacheStateReplay(tmp_path, "cpu")


def test_a_blend_with_a_roofline_part_is_roofline_whatever_the_other_part(tmp_path):
    view = _family(tmp_path, f64_copy_rows=False).at(16 * MIB)  # halfway between 4 and 64 MiB in log2
    assert view.predict("copy", numel=65536).source == "roofline"  # exact in cpu-f4, roofline in cpu-f64
    assert view.predict("copy", numel=100_000).source == "roofline"  # interpolated in cpu-f4
    assert view.summary() == {"copy": {"roofline": 2}}


def test_the_view_device_is_the_smallest_flush_sets(tmp_path):
    view = _family(tmp_path, f64_gap_us=3.0).at(64 * MIB)  # all the weight on cpu-f64
    assert view.device.dispatch_gap_us == 1.0
