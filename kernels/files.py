"""Atomic file writes: a temp file beside the target, renamed over it, so a reader never sees a half-written file
and an interrupted write leaves the previous version intact; and `exclusive_writer`, one writer per folder at a
time. In the lowest layer so every layer writes its results this way (`harness.files` re-exports the writers)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class FolderBusy(RuntimeError):
    """Another process holds a folder's writer lock (`exclusive_writer`)."""


@contextmanager
def exclusive_writer(folder: Path | str, what: str) -> Iterator[None]:
    """Hold the writer lock of ``folder`` (a ``.<name>.lock`` file beside it) for the block, or raise `FolderBusy`
    at once if another process holds it: two profiles timing into one table set would slow each other's timings
    and overwrite each other's meta.json. ``what`` names the writer in the message."""
    from filelock import FileLock, Timeout

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder.parent / f".{folder.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise FolderBusy(f"{folder}: another process is writing here ({what} needs it alone; lock file "
                         f"{lock.lock_file}); wait for it to finish or write to another folder") from None
    try:
        yield
    finally:
        lock.release()


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path | str, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` for a temp file beside ``path``, then rename it over ``path``; return ``path``.

    The file gets the usual permissions (``0666`` less the umask), not ``mkstemp``'s private ``0600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_current_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text_atomic(path: Path | str, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; return ``path``."""
    return write_atomic(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
