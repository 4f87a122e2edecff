"""Gaps in the tests of `harness.fidelity.quiet` found by a mutation audit.

The module had no tests of its own.

Closed here:
- ``/proc/stat``'s first line is read as (idle + iowait, user..steal) jiffies, guest columns left out, and a
  missing file gives None;
- the busy fraction is one minus the idle share of the jiffies between two samples, None when the counters
  did not advance or are unknown;
- `wait_until_quiet` samples until a fraction strictly below the bound, stops at the deadline, and returns the
  last sample.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

import harness.fidelity.quiet as quiet


def test_cpu_times_are_idle_plus_iowait_over_user_to_steal(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 5 50 1000 20 3 7 2 9 9\ncpu0 50 2 25 500 10 1 3 1 4 4\n")
    monkeypatch.setattr(quiet, "PROC_STAT", stat)
    assert quiet._cpu_times() == (1020, 1187)


def test_cpu_times_of_an_old_kernel_without_iowait(tmp_path, monkeypatch):
    stat = tmp_path / "stat"
    stat.write_text("cpu 10 0 5 100\n")
    monkeypatch.setattr(quiet, "PROC_STAT", stat)
    assert quiet._cpu_times() == (100, 115)
    stat.write_text("cpu 10 0 5 100 7\n")  # iowait present, irq and later columns not yet
    assert quiet._cpu_times() == (107, 122)


def test_cpu_times_without_proc_stat_are_unknown(tmp_path, monkeypatch):
    monkeypatch.setattr(quiet, "PROC_STAT", tmp_path / "missing")
    assert quiet._cpu_times() is None


def _samples(monkeypatch, samples):
    values = iter(samples)
    monkeypatch.setattr(quiet, "_cpu_times", lambda: next(values))
    monkeypatch.setattr(quiet, "time", SimpleNamespace(sleep=lambda seconds: None, monotonic=time.monotonic))


def test_busy_fraction_is_one_minus_the_idle_share(monkeypatch):
    _samples(monkeypatch, [(100, 200), (130, 300)])  # 30 of 100 jiffies idle
    assert quiet.cpu_busy_fraction(0.0) == pytest.approx(0.7)


@pytest.mark.parametrize("samples", [[(100, 200), (100, 200)], [None, (130, 300)], [(100, 200), None]])
def test_busy_fraction_is_unknown_without_two_advancing_samples(monkeypatch, samples):
    _samples(monkeypatch, samples)
    assert quiet.cpu_busy_fraction(0.0) is None


def _fractions(monkeypatch, fractions):
    seen = []
    values = iter(fractions)

    def sample(window_s):
        seen.append(window_s)
        return next(values)

    monkeypatch.setattr(quiet, "cpu_busy_fraction", sample)
    return seen


def test_wait_until_quiet_stops_at_the_first_fraction_below_the_bound(monkeypatch):
    seen = _fractions(monkeypatch, [0.5, 0.15, 0.1, 0.0])
    assert quiet.wait_until_quiet(busy_below=0.15, max_wait_s=60.0, window_s=0.25) == 0.1
    assert seen == [0.25, 0.25, 0.25]


def test_wait_until_quiet_returns_the_first_sample_when_there_is_no_time_to_wait(monkeypatch):
    seen = _fractions(monkeypatch, [0.9, 0.0])
    # the deadline is now, not a moment later
    monkeypatch.setattr(quiet, "time", SimpleNamespace(sleep=time.sleep, monotonic=lambda: 100.0))
    assert quiet.wait_until_quiet(busy_below=0.15, max_wait_s=0.0) == 0.9
    assert len(seen) == 1


def test_wait_until_quiet_gives_up_when_the_fraction_is_unknown(monkeypatch):
    seen = _fractions(monkeypatch, [None, 0.0])
    assert quiet.wait_until_quiet(max_wait_s=60.0) is None
    assert len(seen) == 1
