"""Gaps in the tests of `harness.timing.op_profile` found by a mutation audit (its own tests live with the studies
that use it, `tests/harness/fidelity` and `tests/harness/pipeline_study`; none in this folder).

Closed here: `StudyOpReplay` raises a profiled time below the kernel floor to it, answers only float32 calls and
only the implementation profiled from the profile (the rest from its base); `OpProfile.frame` keeps the median of
the passes (not the mean) and an op's default implementation is ``torch`` where it has one.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from harness.timing.op_profile import OP_TIME_COLUMNS, OpProfile, StudyOpReplay, shape_key
from harness.timing.replay import Prediction


class _Base:
    device = SimpleNamespace(kernel_floor_ms=0.005)

    def predict(self, op, *, impl=None, dtype="float32", **shape):
        return Prediction(1.0, "exact", "base")


def _study() -> StudyOpReplay:
    rows = [("copy", "torch", shape_key({"numel": 64}), 0.001, 0.001, 0.001, 3),
            ("copy", "torch", shape_key({"numel": 4096}), 0.02, 0.02, 0.02, 3)]
    return StudyOpReplay(pd.DataFrame(rows, columns=OP_TIME_COLUMNS), _Base())


def test_a_profiled_time_below_the_kernel_floor_is_raised_to_it():
    p = _study().predict("copy", numel=64)
    assert (p.time_ms, p.source) == (0.005, "study")
    assert _study().predict("copy", numel=4096).time_ms == 0.02


def test_other_dtypes_and_other_implementations_come_from_the_base():
    study = _study()
    assert study.predict("copy", numel=4096, dtype="bfloat16").source == "exact"
    assert study.predict("copy", impl="triton", numel=4096).source == "exact"
    assert study.predict("copy", impl="torch", numel=4096).source == "study"
    assert study.summary() == {"copy": {"exact": 2, "study": 1}}


def test_the_frame_keeps_the_median_of_the_passes_and_the_default_impl_is_torch():
    profile = OpProfile([("copy", None, {"numel": 8})])
    assert profile.impls == ["torch"]
    profile.times = [[1.0, 2.0, 9.0]]  # three passes
    row = profile.frame().iloc[0]
    assert (row["time_ms"], row["time_ms_min"], row["time_ms_max"], row["n_passes"]) == (2.0, 1.0, 9.0, 3)


def test_the_default_impl_is_torch_even_where_another_sorts_first():
    # arc_select has flat_topk, torch and triton
    assert OpProfile([("arc_select", None, {"rows": 4, "cols": 16, "r": 2, "k": 4})]).impls == ["torch"]
