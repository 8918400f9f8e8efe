"""Shared fixtures: src/ on the path, tiny generated ImageFolder datasets, the real data where a user keeps it."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))

from prepare_data import (DEFAULT_DATA_DIR, SHARED_SOURCE, SOURCE_ENV, DataPreparationError,  # noqa: E402
                          find_source, is_prepared, prepare_data)

REAL_DATA = pytest.StashKey[Path]()
REAL_DATA_MISSING = pytest.StashKey[str]()


def make_image_folder(root: Path, n_classes: int = 4, per_class: int = 9, size: int = 8, mode: str = "RGB",
                      test_per_class: int = 3, seed: int = 0) -> Path:
    """An ImageFolder dataset whose classes differ in colour, so a tiny CNN can learn it."""
    rng = np.random.default_rng(seed)
    channels = 3 if mode == "RGB" else 1
    for split, count in (("train", per_class), ("test", test_per_class)):
        for c in range(n_classes):
            folder = root / split / f"class{c}"
            folder.mkdir(parents=True)
            base = rng.uniform(0, 255, channels)
            for i in range(count):
                pixels = np.clip(base + rng.normal(0, 25, (size, size, channels)), 0, 255).astype(np.uint8)
                image = Image.fromarray(pixels[:, :, 0] if channels == 1 else pixels, mode)
                image.save(folder / f"image_{i:04d}.png")
    return root


def run_in_process(capsys: pytest.CaptureFixture, main, args) -> subprocess.CompletedProcess:
    """A script's main(argv) in this process (torch is imported once); its exit code and stderr as a run's."""
    try:
        code = main([str(arg) for arg in args])
    except SystemExit as exit_:
        code = exit_.code
    return subprocess.CompletedProcess(args, code, "", capsys.readouterr().err)


def is_one_line_error(done: subprocess.CompletedProcess, needle: str) -> bool:
    """Exit code 2 and a single line on stderr that contains needle, no traceback."""
    lines = done.stderr.strip().splitlines()
    return done.returncode == 2 and len(lines) == 1 and needle in lines[0] and "Traceback" not in done.stderr


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "tiny")


def locate_real_data() -> Path:
    """micro17flower where a user's copy is: the repository's prepared micro17flower/, then $MICRO17FLOWER_SOURCE,
    then ../shared/micro17flower; where none exists, prepared into micro17flower/ as prepare_data.py does."""
    if is_prepared(DEFAULT_DATA_DIR):
        return DEFAULT_DATA_DIR
    source = find_source()
    if source is not None and is_prepared(source):
        return source
    prepare_data(DEFAULT_DATA_DIR)
    return DEFAULT_DATA_DIR


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Find the real data once; if it cannot be had, leave out the tests that need it and fail the run with
    one line saying how to provide it (instead of one error per test)."""
    needing = [item for item in items if "real_data" in getattr(item, "fixturenames", ())]
    if not needing:
        return
    try:
        config.stash[REAL_DATA] = locate_real_data()
    except (DataPreparationError, OSError) as error:
        config.stash[REAL_DATA_MISSING] = (
            f"{len(needing)} tests need micro17flower and it could not be prepared ({error}); provide it with "
            f"`python src/prepare_data.py --source DIR`, ${SOURCE_ENV}=DIR or a copy at {SHARED_SOURCE}")
        items[:] = [item for item in items if item not in needing]
        config.hook.pytest_deselected(items=needing)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if REAL_DATA_MISSING in config.stash:
        terminalreporter.write_line(f"FAILED: {config.stash[REAL_DATA_MISSING]}", red=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if REAL_DATA_MISSING in session.config.stash and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def real_data(request: pytest.FixtureRequest) -> Path:
    """The prepared micro17flower, found (or prepared) once per session by locate_real_data."""
    return request.config.stash[REAL_DATA]
