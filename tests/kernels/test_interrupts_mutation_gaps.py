"""Gaps in the tests of `kernels.interrupts` found by a mutation audit.

Closed here:
- a SIGINT or SIGTERM sent inside `interrupts_deferred` reaches the handler only when the block ends, once per
  signal even when sent twice, and the handlers installed before the block are back afterwards;
- an ignored signal stays ignored (not deferred, not re-raised);
- outside the main thread the block changes nothing (no handler is installed there).
"""

from __future__ import annotations

import signal
import threading

import pytest

from kernels.interrupts import interrupts_deferred


@pytest.fixture
def recording_handlers():
    received: list[int] = []
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def record(signum, _frame):
        received.append(signum)

    for s in before:
        signal.signal(s, record)
    try:
        yield received, record
    finally:
        for s, handler in before.items():
            signal.signal(s, handler)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_lands_when_it_ends(recording_handlers, signum):
    received, record = recording_handlers
    with interrupts_deferred():
        signal.raise_signal(signum)
        assert received == []
        assert signal.getsignal(signum) is not record
    assert received == [signum]
    assert signal.getsignal(signum) is record


def test_a_signal_sent_twice_lands_once_and_each_kind_lands(recording_handlers):
    received, _ = recording_handlers
    with interrupts_deferred():
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
    assert received == [signal.SIGTERM, signal.SIGINT]


def test_an_ignored_signal_stays_ignored(recording_handlers):
    received, _ = recording_handlers
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with interrupts_deferred():
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.raise_signal(signal.SIGTERM)
    assert received == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN


def test_outside_the_main_thread_nothing_changes(recording_handlers):
    _, record = recording_handlers
    seen: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            with interrupts_deferred():
                seen.append("inside")
        except BaseException as err:  # noqa: BLE001 - reported to the main thread below
            errors.append(err)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert errors == [] and seen == ["inside"]
    assert signal.getsignal(signal.SIGINT) is record and signal.getsignal(signal.SIGTERM) is record
