"""prepare_data: copying a local ImageFolder copy, building from a (local, file://) archive, ensure_data, CLI."""
from __future__ import annotations

import io
import logging
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.io import savemat

import prepare_data as pd
from prepare_data import DataPreparationError, build_from_archive, ensure_data, find_source, is_prepared, prepare_data

REPO_ROOT = Path(__file__).resolve().parent.parent

# split 1 of a tiny archive: classes by (N - 1) // 80 + 1 -> 1, 2 and 3
TRN1, VAL1, TST1 = [1, 81, 161], [2, 3, 82], [4, 160]
UNUSED = [5]  # in the archive, in no split
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)


@pytest.fixture(autouse=True)
def no_sources(monkeypatch, tmp_path):
    """No env source and no shared copy unless a test sets one; the real micro17flower/ is never the default."""
    monkeypatch.delenv(pd.SOURCE_ENV, raising=False)
    monkeypatch.setattr(pd, "SHARED_SOURCE", tmp_path / "no-shared")
    monkeypatch.setattr(pd, "DEFAULT_DATA_DIR", tmp_path / "default-data")


def make_copy(root: Path) -> Path:
    """A tiny prepared ImageFolder copy with a datasplits.mat."""
    rng = np.random.default_rng(0)
    for split, indices in (("train", [1, 2, 81]), ("test", [3, 82])):
        for index in indices:
            folder = root / split / str((index - 1) // 80 + 1)
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"image_{index:04d}.jpg")
    (root / "datasplits.mat").write_bytes(b"splits")
    return root


def files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def framed(width: int, height: int, centre, edge) -> Image.Image:
    """A non-square image: the centred square is one colour, the rest another."""
    pixels = np.empty((height, width, 3), np.uint8)
    pixels[:] = edge
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    pixels[top:top + side, left:left + side] = centre
    return Image.fromarray(pixels)


def make_remote(folder: Path, corrupt: bool = False) -> Path:
    """A folder holding 17flowers.tgz (jpg/image_NNNN.jpg, files.txt) and datasplits.mat, like the VGG page."""
    folder.mkdir(parents=True)
    savemat(folder / "datasplits.mat", {name: np.array([values], dtype=np.uint16)
                                        for name, values in (("trn1", TRN1), ("val1", VAL1), ("tst1", TST1),
                                                             ("trn2", [2]), ("val2", [3]), ("tst2", [4]))})
    if corrupt:
        (folder / "17flowers.tgz").write_bytes(b"not a tar file at all")
        return folder
    with tarfile.open(folder / "17flowers.tgz", "w:gz") as tar:
        for index in sorted(TRN1 + VAL1 + TST1 + UNUSED):
            if index == 1:
                image = framed(60, 40, RED, BLUE)  # wide: blue left and right
            elif index == 4:
                image = framed(40, 60, GREEN, BLUE)  # tall: blue top and bottom
            else:
                image = Image.new("L", (50, 50), index % 256)  # grey: converted to RGB
            data = io.BytesIO()
            image.save(data, "JPEG", quality=95)
            info = tarfile.TarInfo(f"jpg/image_{index:04d}.jpg")
            info.size = len(data.getvalue())
            tar.addfile(info, io.BytesIO(data.getvalue()))
        listing = b"image_0001.jpg\n"
        info = tarfile.TarInfo("jpg/files.txt")
        info.size = len(listing)
        tar.addfile(info, io.BytesIO(listing))
    return folder


def expected_files() -> set[str]:
    out = {f"train/{(i - 1) // 80 + 1}/image_{i:04d}.jpg" for i in TRN1 + VAL1}
    out |= {f"test/{(i - 1) // 80 + 1}/image_{i:04d}.jpg" for i in TST1}
    return out | {"datasplits.mat"}


def target_with_readme(path: Path) -> Path:
    path.mkdir()
    (path / "README.md").write_text("readme\n")
    (path / ".gitignore").write_text("*\n!README.md\n!.gitignore\n")
    return path


def test_prepare_from_explicit_copy(tmp_path):
    source = make_copy(tmp_path / "copy")
    target = target_with_readme(tmp_path / "target")
    assert not is_prepared(target)
    assert prepare_data(target, source) == f"copied from {source}"
    assert is_prepared(target)
    assert files(target) == files(source) | {"README.md", ".gitignore"}
    assert (target / "README.md").read_text() == "readme\n"
    assert not [p for p in target.iterdir() if p.name.startswith(".prepare-")]


def test_prepare_from_env_source(tmp_path, monkeypatch):
    source = make_copy(tmp_path / "env-copy")
    monkeypatch.setenv(pd.SOURCE_ENV, str(source))
    target = tmp_path / "new" / "target"  # created as needed
    assert "env-copy" in prepare_data(target, base_url="file:///nonexistent")
    assert files(target) == files(source)


def test_find_source_order(tmp_path, monkeypatch):
    explicit, env, shared = (make_copy(tmp_path / name) for name in ("explicit", "env", "shared"))
    assert find_source() is None
    monkeypatch.setattr(pd, "SHARED_SOURCE", shared)
    assert find_source() == shared
    monkeypatch.setenv(pd.SOURCE_ENV, str(tmp_path / "missing"))
    assert find_source() == shared  # a missing env source is skipped
    monkeypatch.setenv(pd.SOURCE_ENV, str(env))
    assert find_source() == env
    assert find_source(explicit) == explicit
    with pytest.raises(DataPreparationError, match="missing-explicit"):
        find_source(tmp_path / "missing-explicit")


def test_source_that_is_not_an_image_folder(tmp_path):
    (tmp_path / "empty-source").mkdir()
    target = tmp_path / "target"
    with pytest.raises(DataPreparationError, match="empty-source"):
        prepare_data(target, tmp_path / "empty-source")
    assert not is_prepared(target)


def test_build_from_archive(tmp_path):
    remote = make_remote(tmp_path / "remote")
    out = tmp_path / "built"
    out.mkdir()
    build_from_archive(remote / "17flowers.tgz", remote / "datasplits.mat", out)
    assert files(out) == expected_files()
    assert sorted(p.name for p in (out / "train").iterdir()) == ["1", "2", "3"]
    assert sorted(p.name for p in (out / "test").iterdir()) == ["1", "2"]
    for path in out.rglob("*.jpg"):
        with Image.open(path) as image:
            assert (image.size, image.mode, image.format) == ((16, 16), "RGB", "JPEG")
    # centre crop: the blue frame of the non-square images is cut away
    for path, colour in (("train/1/image_0001.jpg", RED), ("test/1/image_0004.jpg", GREEN)):
        pixels = np.asarray(Image.open(out / path), dtype=float)
        assert np.abs(pixels - colour).max() < 40, path


def test_build_size_parameter(tmp_path):
    remote = make_remote(tmp_path / "remote")
    build_from_archive(remote / "17flowers.tgz", remote / "datasplits.mat", tmp_path / "out", size=8)
    assert Image.open(tmp_path / "out/test/2/image_0160.jpg").size == (8, 8)


def test_build_missing_image_and_bad_archive(tmp_path):
    remote = make_remote(tmp_path / "remote")
    savemat(remote / "more.mat", {"trn1": np.array([[1, 900]], np.uint16), "val1": np.array([[2]], np.uint16),
                                  "tst1": np.array([[4]], np.uint16)})
    with pytest.raises(DataPreparationError, match="image_0900"):
        build_from_archive(remote / "17flowers.tgz", remote / "more.mat", tmp_path / "out")
    bad = make_remote(tmp_path / "bad", corrupt=True)
    with pytest.raises(DataPreparationError, match="tar archive"):
        build_from_archive(bad / "17flowers.tgz", bad / "datasplits.mat", tmp_path / "out2")


def test_prepare_downloads_and_builds(tmp_path):
    remote = make_remote(tmp_path / "remote")
    target = target_with_readme(tmp_path / "target")
    description = prepare_data(target, base_url=remote.as_uri())
    assert description.startswith("built from the archive downloaded from file://")
    assert files(target) == expected_files() | {"README.md", ".gitignore"}  # no archive, no temp folder left


def test_download_failure_leaves_target_unprepared(tmp_path):
    (tmp_path / "empty-remote").mkdir()
    target = target_with_readme(tmp_path / "target")
    with pytest.raises(DataPreparationError, match="cannot download"):
        prepare_data(target, base_url=(tmp_path / "empty-remote").as_uri())
    assert files(target) == {"README.md", ".gitignore"} and not list(target.glob(".prepare-*"))
    bad = make_remote(tmp_path / "bad", corrupt=True)
    with pytest.raises(DataPreparationError, match="tar archive"):
        prepare_data(target, base_url=bad.as_uri())
    assert not is_prepared(target) and not list(target.glob(".prepare-*"))


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    remote = make_remote(tmp_path / "remote")

    def half_build(archive, splits_mat, target, size=16):
        (target / "train" / "1").mkdir(parents=True)
        (target / "train" / "1" / "image_0001.jpg").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd, "build_from_archive", half_build)
    target = tmp_path / "target"
    with pytest.raises(KeyboardInterrupt):
        prepare_data(target, base_url=remote.as_uri())
    assert not is_prepared(target) and not any(target.iterdir())


def test_leftover_test_folder_is_replaced(tmp_path):
    source = make_copy(tmp_path / "copy")
    target = tmp_path / "target"
    (target / "test" / "9").mkdir(parents=True)
    (target / "test" / "9" / "stale.jpg").write_bytes(b"x")
    (target / "train").mkdir()  # empty
    prepare_data(target, source)
    assert files(target) == files(source)


def test_lone_train_folder_is_not_deleted(tmp_path):
    source = make_copy(tmp_path / "copy")
    target = tmp_path / "target"
    (target / "train" / "a").mkdir(parents=True)
    (target / "train" / "a" / "mine.jpg").write_bytes(b"x")
    with pytest.raises(DataPreparationError, match="train/"):
        prepare_data(target, source)
    assert (target / "train" / "a" / "mine.jpg").exists()


def test_already_prepared_is_a_no_op(tmp_path):
    target = make_copy(tmp_path / "target")
    before = {p: p.stat().st_mtime_ns for p in target.rglob("*")}
    assert prepare_data(target, source=None, base_url="file:///nonexistent") == "already prepared"
    assert {p: p.stat().st_mtime_ns for p in target.rglob("*")} == before
    with pytest.raises(DataPreparationError, match="missing"):  # a wrong --source is still reported
        prepare_data(target, source=tmp_path / "missing")


def test_ensure_data_prepares_the_default_dir(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(pd, "SHARED_SOURCE", make_copy(tmp_path / "shared"))
    caplog.set_level(logging.INFO, logger=pd.__name__)
    ensure_data(tmp_path / "x" / ".." / "default-data")  # the same folder, spelt differently
    assert is_prepared(pd.DEFAULT_DATA_DIR)
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO and "missing" in r.getMessage()]
    assert len(lines) == 1 and "copied from" in lines[0]
    caplog.clear()
    ensure_data(pd.DEFAULT_DATA_DIR)  # now silent
    assert not [r for r in caplog.records if "missing" in r.getMessage()]


def test_ensure_data_other_dirs(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(DataPreparationError) as error:
        ensure_data(plain)
    assert str(plain) in str(error.value) and "\n" not in str(error.value)
    assert isinstance(error.value, ValueError)
    ensure_data(make_copy(tmp_path / "copy"))  # an ImageFolder: nothing to do
    assert not (pd.DEFAULT_DATA_DIR).exists()


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "src/prepare_data.py", *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=60)


def test_cli_bad_source(tmp_path):
    result = run_cli("--source", str(tmp_path / "missing"), "--target", str(tmp_path / "target"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("prepare_data.py: error: ") and "missing" in lines[0]
    assert not (tmp_path / "target").exists()


def test_cli_copies(tmp_path):
    source = make_copy(tmp_path / "copy")
    result = run_cli("--source", str(source), "--target", str(tmp_path / "target"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == [f"{tmp_path / 'target'}: copied from {source}"]
    assert files(tmp_path / "target") == files(source)
