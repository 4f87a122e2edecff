"""harness/provenance.py: code version and timing-table hashes."""

from __future__ import annotations

from harness.provenance import ABSENT, code_version, table_set_hash, timing_table_hashes


def test_code_version_is_a_stable_sha256():
    version = code_version()
    assert len(version) == 64 and int(version, 16) >= 0
    assert code_version() == version


def test_table_hash_covers_names_and_bytes(tmp_path):
    assert table_set_hash("cpu", tmp_path) == ABSENT
    folder = tmp_path / "cpu"
    folder.mkdir()
    (folder / "matmul.csv").write_text("a\n1\n")
    first = table_set_hash("cpu", tmp_path)
    assert first != ABSENT and len(first) == 64
    (folder / "matmul.csv").write_text("a\n2\n")
    second = table_set_hash("cpu", tmp_path)
    assert second != first
    (folder / "matmul.csv").rename(folder / "copy.csv")
    assert table_set_hash("cpu", tmp_path) not in (first, second)
    assert timing_table_hashes("cpu", tmp_path) == {"cpu": table_set_hash("cpu", tmp_path)}
