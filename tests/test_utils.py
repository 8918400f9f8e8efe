"""Shared helpers: the atomic writes leave files with the permissions the user's umask gives any other file."""
import os
import stat

import pytest
import torch

from utils import atomic_torch_save, atomic_write_json, atomic_write_text


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
@pytest.mark.parametrize("write", [lambda path: atomic_write_text(path, "text"),
                                   lambda path: atomic_write_json(path, {"a": 1}),
                                   lambda path: atomic_torch_save({"a": torch.zeros(1)}, path)])
def test_an_atomic_write_gives_the_file_the_mode_the_umask_gives(tmp_path, umask, mode, write):
    previous = os.umask(umask)
    try:
        write(tmp_path / "file")
        write(tmp_path / "file")  # replacing an existing file too
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "file").stat().st_mode) == mode
    assert [path.name for path in tmp_path.iterdir()] == ["file"]  # no temporary file left
