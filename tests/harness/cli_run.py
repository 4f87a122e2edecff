"""Shared test helper: run the `harness` CLI in-process and return its exit code, stdout and stderr."""

from __future__ import annotations

from harness.cli import main


def cli(capsys, *argv) -> tuple[int, str, str]:
    """``harness *argv`` (arguments made strings); no traceback may reach either stream."""
    code = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err
