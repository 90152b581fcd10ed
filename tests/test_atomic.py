"""Atomic writes: the destination is either the old file or the complete new one."""

from __future__ import annotations

from pathlib import Path

import pytest

from wtmkws.audio_pipeline.atomic import atomic_path, atomic_write_bytes, atomic_write_text


def test_success_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "out.json"
    dest.write_text("old")
    atomic_write_text(dest, "new")
    assert dest.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    assert dest.stat().st_mode & 0o777 == 0o644


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "out.bin"
    atomic_write_bytes(dest, b"old")
    with pytest.raises(RuntimeError), atomic_path(dest) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_suffix_is_kept_for_writers_that_infer_the_format(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.npy", suffix=".npy") as tmp:
        assert tmp.suffix == ".npy" and tmp.parent == tmp_path
        tmp.write_bytes(b"x")
    assert (tmp_path / "a.npy").read_bytes() == b"x"
