"""Gaps in the tests of `kernels.files` found by a mutation audit.

Closed here:
- `write_text_atomic` creates missing parent folders, replaces an existing file, writes UTF-8, leaves no temp
  file, and gives the file ``0666`` less the umask (not ``mkstemp``'s ``0600``);
- a writer that fails (an exception or Ctrl-C) leaves the previous version and no temp file behind;
- `exclusive_writer` refuses a second writer at once (no waiting), names the folder, keeps its lock file beside
  the folder (``.<name>.lock``, creating missing parents), and releases the lock when the block ends or raises.
"""

from __future__ import annotations

import os
from pathlib import Path

import filelock
import pytest

from kernels.files import FolderBusy, exclusive_writer, write_atomic, write_text_atomic


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_write_text_atomic_creates_missing_folders_and_returns_the_path(tmp_path):
    target = tmp_path / "a" / "b" / "table.csv"
    assert write_text_atomic(target, "x,y\n1,2\n") == target
    assert target.read_text() == "x,y\n1,2\n"
    assert _leftovers(target.parent) == []


def test_write_text_atomic_replaces_an_existing_file(tmp_path):
    target = tmp_path / "meta.json"
    target.write_text("old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json"]


def test_write_text_atomic_writes_utf8(tmp_path):
    target = tmp_path / "note.txt"
    write_text_atomic(target, "µs, €, é")
    assert target.read_bytes() == "µs, €, é".encode("utf-8")


def test_written_files_get_the_usual_permissions_not_mkstemps_private_ones(tmp_path):
    old = os.umask(0o022)
    try:
        target = write_text_atomic(tmp_path / "t.csv", "1\n")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("error", [RuntimeError("disk full"), KeyboardInterrupt()])
def test_a_failing_writer_keeps_the_previous_version_and_leaves_no_temp_file(tmp_path, error):
    target = tmp_path / "table.csv"
    target.write_text("previous")

    def write(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise error

    with pytest.raises(type(error)):
        write_atomic(target, write)
    assert target.read_text() == "previous"
    assert _leftovers(tmp_path) == []


def test_a_second_writer_is_refused_at_once_naming_the_folder(tmp_path, monkeypatch):
    waits = []
    acquire = filelock.FileLock.acquire

    def recording_acquire(self, timeout=None, *args, **kwargs):
        waits.append(timeout)
        return acquire(self, timeout, *args, **kwargs)

    monkeypatch.setattr(filelock.FileLock, "acquire", recording_acquire)
    folder = tmp_path / "cpu"
    with exclusive_writer(folder, "a profile"):
        with pytest.raises(FolderBusy, match="another process is writing here") as info:
            with exclusive_writer(folder, "an import"):
                pass  # pragma: no cover - never entered
    assert waits == [0, 0]  # neither writer waits for the lock (a None or positive timeout would)
    message = str(info.value)
    assert str(folder) in message and "an import needs it alone" in message


def test_the_lock_file_sits_beside_the_folder_and_missing_parents_are_made(tmp_path):
    folder = tmp_path / "results" / "timings" / "cpu"
    with exclusive_writer(folder, "a profile"):
        assert (tmp_path / "results" / "timings" / ".cpu.lock").exists()


def test_the_lock_is_released_after_the_block_even_when_it_raises(tmp_path):
    folder = tmp_path / "cpu"
    with pytest.raises(ValueError):
        with exclusive_writer(folder, "a profile"):
            raise ValueError("boom")
    with exclusive_writer(folder, "a profile"):
        pass
    with exclusive_writer(folder, "a profile"):
        pass
