"""Output paths checked before a long command starts, so that a path it cannot write is one line, exit 2, before
any measurement is made (not a traceback after it, with the measurements lost). Nothing is created here. Also
`path_arg`, the argparse type of every path flag (an empty one is refused, not read as the current directory), and
`shown_path`: how the CLI prints a path it wrote."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.errors import HarnessError


def path_arg(text: str) -> Path:
    """argparse ``type`` of a path flag: ``--out ''`` would otherwise be ``Path('.')``, the current directory."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return Path(text)


def check_out_folder(flag: str, path: Path, *, writable: bool = True, shown: Path | None = None,
                     inside: Sequence[str] = ()) -> None:
    """Refuse (`HarnessError`) a folder to write into that is a file, lies under a file, or (``writable``) cannot be
    written, or whose sub-folders ``inside`` (where the command writes too) are files. The message names ``flag``
    and ``shown`` (default: ``path``)."""
    path = Path(path).expanduser()
    shown = path if shown is None else shown
    existing = path
    while not existing.exists() and existing != existing.parent:  # the nearest part of the path that exists
        existing = existing.parent
    if not existing.is_dir():
        where = "" if existing == shown else f" ({existing} is a file)"
        raise HarnessError(f"{flag} {shown}: a file is in the way{where}; expected a folder (or a path to create one)")
    for name in inside:
        if (path / name).exists() and not (path / name).is_dir():
            raise HarnessError(f"{flag} {shown}: {path / name} is a file; expected a folder there (or nothing)")
    if not writable:
        return
    try:  # os.access is not enough: root passes it, a read-only file system does not
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise HarnessError(f"{flag} {shown}: cannot write there ({err.strerror or err})") from None


def check_out_file(flag: str, path: Path) -> None:
    """Refuse (`HarnessError`) a file to write that is a folder or whose folder cannot be made or written."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise HarnessError(f"{flag} {path}: is a folder, expected a file")
    check_out_folder(flag, path.parent, shown=path)


def shown_path(path: Path) -> str:
    """``path`` relative to the current directory when it lies below it, else as given (what the CLI prints)."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
