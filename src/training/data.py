"""Load an ImageFolder split once into one tensor, the way torchvision's ImageFolder orders classes."""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from utils import UsageError

log = logging.getLogger(__name__)

MEANINGFUL_CLASSES = 4  # with fewer, every image's true class is among the top 3: top-3 accuracy is always 1.0
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DataError(UsageError):
    """A dataset that cannot be used; the message names the folder or file."""


@dataclass
class ImageData:
    """One split: uint8 images (N, C, H, W), int64 labels (N,), class names in label order."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def natural_order(classes: list[str]) -> list[int]:
    """Class indices in the order a person reads the names (1, 2, …, 10, 11 rather than 1, 10, 11, …, 2): for
    tables and figures; the indices themselves stay ImageFolder's (names sorted as strings)."""
    def key(index: int) -> list:
        return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", classes[index])]
    return sorted(range(len(classes)), key=key)


def in_natural_order(confusion: np.ndarray, classes: list[str]) -> tuple[np.ndarray, list[str]]:
    """A confusion matrix (rows true, columns predicted, in ImageFolder's class order) and its class names, both
    in natural_order."""
    order = natural_order(classes)
    return np.asarray(confusion)[np.ix_(order, order)], [classes[i] for i in order]


def list_images(split_dir: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Classes sorted as strings (as ImageFolder does) and (file, label) pairs; empty classes are an error."""
    if not split_dir.is_dir():
        raise DataError(f"{split_dir}: no such folder (expected an ImageFolder split)")
    classes = sorted(entry.name for entry in split_dir.iterdir() if entry.is_dir())
    if not classes:
        raise DataError(f"{split_dir}: no class folders")
    samples = []
    for label, name in enumerate(classes):
        files = sorted(p for p in (split_dir / name).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DataError(f"{split_dir / name}: empty class folder (no images)")
        samples += [(path, label) for path in files]
    return classes, samples


def _decode(path: Path) -> Image.Image:
    try:
        with Image.open(path) as image:
            image.load()
            return image
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"{path}: unreadable image ({error})") from None


def load_split(split_dir: Path) -> ImageData:
    """Decode every image of a split once. Grayscale stays 1 channel unless any image has colour."""
    classes, samples = list_images(split_dir)
    images = [_decode(path) for path, _ in samples]
    mode = "L" if all(image.mode in ("L", "1", "I;16", "I") for image in images) else "RGB"
    size = Counter(image.size for image in images).most_common(1)[0][0]
    if any(image.size != size for image in images):
        log.info("%s: images differ in size; resizing all to %dx%d", split_dir, *size)
    arrays = [np.asarray(image.convert(mode).resize(size, Image.Resampling.BILINEAR)) for image in images]
    stacked = np.stack(arrays)
    if stacked.ndim == 3:
        stacked = stacked[:, :, :, None]
    tensor = torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous()
    labels = torch.tensor([label for _, label in samples], dtype=torch.long)
    return ImageData(tensor, labels, classes)


def class_warnings(data: ImageData, objective: str = "top3") -> list[str]:
    """Why the objective top-3 accuracy means nothing on this dataset (two or three classes), for the log and
    result files."""
    if data.num_classes >= MEANINGFUL_CLASSES or objective != "top3":
        return []
    return [f"only {data.num_classes} classes: every image's true class is among the top 3, so top-3 accuracy "
            f"is always 1.0; --objective top1 is the meaningful choice"]


def load_dataset(data_dir: Path, with_test: bool = False,
                 objective: str = "top3") -> tuple[ImageData, ImageData | None]:
    """train/ (and test/ when asked) of an ImageFolder dataset; the splits must share classes and shape.
    A single class is an error (nothing to classify); two or three are logged as a warning with top-3."""
    train = load_split(Path(data_dir) / "train")
    if train.num_classes < 2:
        raise DataError(f"{Path(data_dir) / 'train'}: only one class ({train.classes[0]}); "
                        "classification needs at least two, and top-3 accuracy at least four")
    for warning in class_warnings(train, objective):
        log.warning("%s: %s", data_dir, warning)
    if not with_test:
        return train, None
    test = load_split(Path(data_dir) / "test")
    if test.classes != train.classes:
        raise DataError(f"{data_dir}: test/ classes {test.classes} differ from train/ classes {train.classes}")
    if test.input_shape != train.input_shape:
        raise DataError(f"{data_dir}: test/ images are {test.input_shape}, train/ images {train.input_shape}")
    return train, test
