"""Ctrl-C and SIGTERM held back while files that must agree are written (a timing table and its meta.json), so an
interrupt lands before or after the group of writes, never between two of them. It lives in the lowest layer so
the profiler and the harness's importers share it."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

DEFERRED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM arriving inside the block take effect when it ends, with the handlers installed before it.

    Signals this process ignores stay ignored; outside the main thread (where Python runs no signal handlers)
    nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {}
    for signum in DEFERRED_SIGNALS:
        handler = signal.getsignal(signum)
        if handler is not None and handler != signal.SIG_IGN:
            previous[signum] = signal.signal(signum, lambda received, _frame: caught.append(received))
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)
