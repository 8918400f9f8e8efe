"""Fill micro17flower/ (16x16 Oxford 17 Flowers, ImageFolder layout) from a local copy or the original archive.

Sources, first that exists: --source DIR, env MICRO17FLOWER_SOURCE, ../shared/micro17flower next to the repo;
otherwise 17flowers.tgz and datasplits.mat are downloaded from the VGG page and the dataset is built from them
(train = trn1 + val1, test = tst1; class of image_NNNN = (NNNN - 1) // 80 + 1; centre crop, resize to 16x16).
"""
from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from utils import OneLineParser, UsageError, fail, folder_path

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR: Path = REPO_ROOT / "micro17flower"
SHARED_SOURCE: Path = REPO_ROOT.parent / "shared" / "micro17flower"
SOURCE_ENV = "MICRO17FLOWER_SOURCE"
BASE_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/"
ARCHIVE_NAME, SPLITS_NAME = "17flowers.tgz", "datasplits.mat"
IMAGES_PER_CLASS = 80
SPLITS = ("train", "test")
_IMAGE_NAME = re.compile(r"(?:^|/)jpg/image_(\d{4})\.jpg$")


class DataPreparationError(UsageError):
    """The data cannot be prepared or found; the message is one line naming the folder, file or URL."""


def is_prepared(data_dir: Path) -> bool:
    """True when data_dir/train and data_dir/test both exist and are non-empty."""
    return all((data_dir / split).is_dir() and any((data_dir / split).iterdir()) for split in SPLITS)


def find_source(explicit: Path | None = None) -> Path | None:
    """The first local copy to use: explicit, then env MICRO17FLOWER_SOURCE, then the shared copy; None: download.

    An explicit source that does not exist is an error; a missing env source is skipped with a warning.
    """
    if explicit is not None:
        if not explicit.is_dir():
            raise DataPreparationError(f"source {explicit}: no such directory")
        return explicit
    env = os.environ.get(SOURCE_ENV)
    if env:
        if Path(env).is_dir():
            return Path(env)
        log.warning("%s=%s: no such directory, ignored", SOURCE_ENV, env)
    if SHARED_SOURCE.is_dir():
        return SHARED_SOURCE
    return None


def _class_of(index: int) -> int:
    return (index - 1) // IMAGES_PER_CLASS + 1


def _read_splits(splits_mat: Path) -> dict[str, list[int]]:
    """Image indices (1-based) of split 1: train = trn1 + val1, test = tst1."""
    import numpy as np
    from scipy.io import loadmat

    try:
        mat = loadmat(str(splits_mat))
        train = np.concatenate([np.asarray(mat["trn1"]).ravel(), np.asarray(mat["val1"]).ravel()])
        test = np.asarray(mat["tst1"]).ravel()
    except KeyError as error:
        raise DataPreparationError(f"{splits_mat}: no {error.args[0]} split in the .mat file") from None
    except Exception as error:  # scipy raises several types for unreadable files
        raise DataPreparationError(f"{splits_mat}: cannot read the splits ({error})") from error
    splits = {"train": sorted({int(i) for i in train}), "test": sorted({int(i) for i in test})}
    if not splits["train"] or not splits["test"]:
        raise DataPreparationError(f"{splits_mat}: empty train or test split")
    if min(splits["train"] + splits["test"]) < 1:
        raise DataPreparationError(f"{splits_mat}: image indices must be 1-based")
    overlap = set(splits["train"]) & set(splits["test"])
    if overlap:
        raise DataPreparationError(f"{splits_mat}: {len(overlap)} images are in both train and test")
    return splits


def fit_image(image, width: int, height: int):
    """Centre-crop to the aspect ratio of width x height and resize to it with antialiasing: how the training
    images were made, and how predict.py brings any image to a model's input size."""
    from PIL import Image

    if image.size == (width, height):
        return image.copy()
    scale = min(image.width / width, image.height / height)
    crop_w, crop_h = round(width * scale), round(height * scale)
    left, top = (image.width - crop_w) // 2, (image.height - crop_h) // 2
    cropped = image.crop((left, top, left + crop_w, top + crop_h))
    return cropped.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=3.0)


def build_from_archive(archive: Path, splits_mat: Path, target: Path, size: int = 16) -> None:
    """Build target/{train,test}/<class>/image_NNNN.jpg (RGB, size x size, JPEG q95) from 17flowers.tgz.

    Also copies the splits file to target/datasplits.mat. Writes into target directly; prepare_data
    points it at a temporary folder.
    """
    from PIL import Image, UnidentifiedImageError

    splits = _read_splits(splits_mat)
    split_of = {index: split for split, indices in splits.items() for index in indices}
    done: set[int] = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                match = _IMAGE_NAME.search(member.name)
                if not member.isfile() or match is None:
                    continue
                index = int(match.group(1))
                split = split_of.get(index)
                if split is None or index in done:
                    continue
                folder = target / split / str(_class_of(index))
                folder.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as stream:  # type: ignore[union-attr]
                    try:
                        image = Image.open(stream)
                        image = image.convert("RGB")
                    except (UnidentifiedImageError, OSError) as error:
                        raise DataPreparationError(
                            f"{archive}: {member.name}: not a readable image ({error})") from None
                fit_image(image, size, size).save(folder / f"image_{index:04d}.jpg", "JPEG", quality=95)
                done.add(index)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise DataPreparationError(f"{archive}: not a readable tar archive ({error})") from None
    missing = sorted(set(split_of) - done)
    if missing:
        raise DataPreparationError(f"{archive}: {len(missing)} images named in {splits_mat.name} are missing "
                                   f"(e.g. jpg/image_{missing[0]:04d}.jpg)")
    shutil.copyfile(splits_mat, target / SPLITS_NAME)
    log.info("built %d train and %d test images (%dx%d) from %s",
             len(splits["train"]), len(splits["test"]), size, size, archive.name)


def _download(url: str, path: Path) -> None:
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(path, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise DataPreparationError(f"cannot download {url}: {reason}") from None


def _copy_source(source: Path, work: Path) -> None:
    if not is_prepared(source):
        raise DataPreparationError(f"source {source} is not an ImageFolder copy (needs non-empty train/ and test/)")
    for split in SPLITS:
        shutil.copytree(source / split, work / split)
    if (source / SPLITS_NAME).is_file():
        shutil.copyfile(source / SPLITS_NAME, work / SPLITS_NAME)


def _clear_leftovers(target: Path) -> None:
    """Remove what an interrupted preparation can leave: empty split folders, or test/ without train/.

    Splits are moved in place test/ first, train/ last, so a lone non-empty train/ is not ours: refuse.
    """
    train, test = target / "train", target / "test"
    for folder in (train, test):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if train.exists():
        raise DataPreparationError(f"{target} holds a train/ folder but no usable test/; remove it and rerun")
    if test.exists():
        log.warning("%s: removing test/ left by an interrupted preparation", target)
        shutil.rmtree(test)


def _install(work: Path, target: Path) -> None:
    """Move datasplits.mat, test/ and train/ (last, so the target only looks prepared when complete)."""
    if (work / SPLITS_NAME).is_file():
        os.replace(work / SPLITS_NAME, target / SPLITS_NAME)
    for split in ("test", "train"):
        os.rename(work / split, target / split)


def prepare_data(target: Path = DEFAULT_DATA_DIR, source: Path | None = None, base_url: str = BASE_URL) -> str:
    """Fill target with train/ and test/ unless already prepared; returns a one-line description.

    Builds in a temporary folder inside target (ignored by target's .gitignore, same file system) and moves
    train/ and test/ into place at the end; README.md and .gitignore in target are left alone.
    """
    target = Path(target)
    if source is not None and not Path(source).is_dir():
        raise DataPreparationError(f"source {source}: no such directory")
    if is_prepared(target):
        return "already prepared"
    origin = find_source(source)
    if origin is not None and origin.resolve() == target.resolve():
        raise DataPreparationError(f"source {origin} is the target itself and holds no data")
    target.mkdir(parents=True, exist_ok=True)
    _clear_leftovers(target)
    work = Path(tempfile.mkdtemp(prefix=".prepare-", dir=target))
    try:
        if origin is not None:
            log.info("copying %s to %s", origin, target)
            _copy_source(origin, work)
            description = f"copied from {origin}"
        else:
            base = base_url.rstrip("/") + "/"
            archive, splits_mat = work / ARCHIVE_NAME, work / "splits.mat"
            _download(base + SPLITS_NAME, splits_mat)
            _download(base + ARCHIVE_NAME, archive)
            build_from_archive(archive, splits_mat, work)
            description = f"built from the archive downloaded from {base}"
        try:
            _install(work, target)
        except OSError:
            if is_prepared(target):  # another process finished first
                return "already prepared"
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return description


def ensure_data(data_dir: Path) -> None:
    """Prepare the default micro17flower/ when it is empty; other folders must already be ImageFolder datasets."""
    data_dir = Path(data_dir)
    if is_prepared(data_dir):
        return
    if data_dir.resolve() == DEFAULT_DATA_DIR.resolve():
        description = prepare_data(DEFAULT_DATA_DIR)
        log.info("data were missing in %s: %s", data_dir, description)
        return
    if not (data_dir / "train").is_dir():
        raise DataPreparationError(f"{data_dir} is not an ImageFolder dataset (no train/ folder)")


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="prepare_data.py", description=__doc__,
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=folder_path, help="an ImageFolder copy (train/, test/) to copy from")
    parser.add_argument("--target", type=folder_path, default=DEFAULT_DATA_DIR,
                        help="folder to fill (default: micro17flower/ in the repo)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        description = prepare_data(args.target, args.source)
    except (DataPreparationError, OSError) as error:
        fail(str(error).replace("\n", " "), "prepare_data.py")
    except KeyboardInterrupt:
        fail("interrupted", "prepare_data.py")
    print(f"{args.target}: {description}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
