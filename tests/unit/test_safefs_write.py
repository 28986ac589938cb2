"""Whole-file writes in a directory a job could have touched (bmlocal/runtime/storage/
safefs.py): the name is replaced, a link in its place is never written through, and no
partial file is left."""
import os
from pathlib import Path

import pytest

from bmlocal.runtime.storage.safefs import open_dir, write_bytes, write_file


@pytest.fixture
def room(tmp_path: Path) -> tuple[Path, Path]:
    outside = tmp_path / "host-secret"
    outside.write_text("not the job's")
    inside = tmp_path / "job"
    inside.mkdir()
    (inside / "bml-run.json").symlink_to(outside)  # what a job could leave there
    return inside, outside


def test_write_bytes_replaces_a_link_and_leaves_its_target_alone(room: tuple[Path, Path]
                                                                   ) -> None:
    inside, outside = room
    fd = open_dir(inside)
    try:
        write_bytes(fd, "bml-run.json", b'{"bml_run": 1}\n')
    finally:
        os.close(fd)
    written = inside / "bml-run.json"
    assert not written.is_symlink() and written.read_bytes() == b'{"bml_run": 1}\n'
    assert written.stat().st_mode & 0o777 == 0o644
    assert outside.read_text() == "not the job's"
    assert sorted(p.name for p in inside.iterdir()) == ["bml-run.json"]


def test_write_file_copies_content_mode_and_mtime(room: tuple[Path, Path],
                                                  tmp_path: Path) -> None:
    inside, outside = room
    source = tmp_path / "node-0.log"
    source.write_bytes(b"x" * 100_000)
    source.chmod(0o4750)  # a set-id bit is never copied
    os.utime(source, ns=(1_000_000_000, 2_000_000_000))
    fd, src = open_dir(inside), os.open(source, os.O_RDONLY)
    try:
        write_file(fd, "bml-run.json", src)
    finally:
        os.close(fd)
        os.close(src)
    written = inside / "bml-run.json"
    assert written.read_bytes() == source.read_bytes() and outside.read_text() == "not the job's"
    assert written.stat().st_mode & 0o7777 == 0o750 and written.stat().st_mtime_ns == 2_000_000_000
