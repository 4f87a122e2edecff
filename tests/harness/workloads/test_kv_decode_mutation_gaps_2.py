"""Gaps in the tests of `kv_decode` found by a mutation audit.

Closed here (round 2), on a stub cost model (prefill 1 s; a decode iteration of b requests 60 ms of
weights, 20 x b ms of attention and 20 ms of merge) and hand-set
arrival gaps, so the serving timeline is worked out by hand:

- requests that join the batch in the same iteration each pay their own prefill (two joining cost two prefills,
  not one shared);
- a request joins only at the start of an iteration: one arriving while the batch runs waits for the next (and
  is not counted as queued: it never waited for memory or a batch slot);
- an iteration's time is the decode step of the whole running batch, merge included.
"""

from __future__ import annotations

import pytest

from harness.workloads.kv_decode import KVDecodeWorkload, serve


class _Cost:
    """Prefill 1000 ms, no compression; a decode iteration (60 + 20 b + 20) ms at batch b; 1-byte reservations."""

    def kv_bytes(self, method: str, entries: int) -> int:
        return 1

    def max_entries(self, method: str, prompt: int) -> int:
        return prompt

    def budget(self, prompt: int) -> int:
        return prompt

    def prefill_ms(self, prompt: int) -> float:
        return 1000.0

    def prefill_compress_ms(self, prompt: int, target: int) -> float:
        return 0.0

    def tpot_ms(self, method: str, prompt: int, batch: int = 1) -> tuple[float, float, float]:
        return 60.0, 20.0 * batch, 20.0


class _Gaps:
    """An rng whose exponential draws are the given inter-arrival gaps (seconds)."""

    def __init__(self, gaps: list[float]) -> None:
        self.gaps = list(gaps)

    def exponential(self, scale: float) -> float:
        return self.gaps.pop(0)


def _serve(gaps: list[float], decode_tokens: int = 1) -> dict[str, float]:
    w = KVDecodeWorkload(output="serving", decode_tokens=decode_tokens,
                         serving={"requests": len(gaps), "prompt_tokens": 4096, "max_batch": 8})
    return serve(w, _Cost(), "full", _Gaps(gaps))


def test_two_requests_joining_together_each_pay_a_prefill():
    # arrivals at 0.01, 0.11, 0.21 s. 0.01: the first joins alone, 1 s prefill + 0.1 s decode -> done at 1.11;
    # the other two arrive meanwhile and join together at 1.11: 2 x 1 s + 0.12 s -> 3.23 s (one shared: 2.23 s)
    out = _serve([0.01, 0.1, 0.1])
    assert out["makespan_s"] == pytest.approx(3.23)
    assert out["admitted"] == 3 and out["tokens"] == 3
    assert out["latency_mean_s"] == pytest.approx((1.1 + 3.12 + 3.02) / 3)


def test_a_request_arriving_mid_iteration_waits_for_the_next_one():
    # two decode tokens each. 0.0: the first joins, 1 s + 0.1 s -> 1.1; the second (0.5 s) joins at 1.1 and its
    # prefill runs with a batch-of-two step: 1 s + 0.12 s -> 2.22 (first done); its second token alone -> 2.32 s
    out = _serve([0.0, 0.5], decode_tokens=2)
    assert out["makespan_s"] == pytest.approx(2.32)
    assert out["latency_mean_s"] == pytest.approx((2.22 + 1.82) / 2)
    assert out["queued"] == 0  # waiting for the iteration boundary is not waiting for memory or a batch slot
