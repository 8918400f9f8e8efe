"""Shared fixtures: src/ on the path, tiny generated ImageFolder datasets, the real data when present."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))

from prepare_data import SHARED_SOURCE, SOURCE_ENV, find_source, is_prepared  # noqa: E402


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


@pytest.fixture
def tiny_data(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "tiny")


@pytest.fixture
def real_data() -> Path:
    """The prepared micro17flower, found where prepare_data.py looks: env MICRO17FLOWER_SOURCE, then ../shared."""
    source = find_source()
    if source is None or not is_prepared(source):
        pytest.fail(f"the real data are expected at ${SOURCE_ENV} or {SHARED_SOURCE}")
    return source
