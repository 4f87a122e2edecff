"""What the step-cost tests share: a timing replay that prices every op call at 1 ms, so a priced step's time is
its count of op calls, worked out by hand from the op lists."""

from __future__ import annotations

from types import SimpleNamespace

from harness.timing.replay import Prediction


class OneMsPerCall:
    """Every op call takes 1 ms (no dispatch gap), so a step's time counts its calls."""

    device = SimpleNamespace(name="cpu")

    def predict(self, op, *, impl=None, dtype="float32", **shape):
        return Prediction(1.0, "exact", "")


def count_calls(calls) -> int:
    """Op calls in a list of `OpCall`s (each with its repeat count)."""
    return sum(c.count for c in calls)
