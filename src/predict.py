"""Classify images with a saved network (a model.pt, or a model.onnx run by onnxruntime alone, without torch).

python src/predict.py MODEL IMAGES… [--top_k 3] [--out predictions.csv] [--batch_size 256]
IMAGES are files or folders (searched recursively) of any format Pillow reads. Each image is centre-cropped to the
model's aspect ratio and resized to its input size with Lanczos filtering, as prepare_data.py made the training
images. A folder whose sub-folders are named after the model's classes (the ImageFolder layout) is also scored:
top-1, top-3 accuracy and precision are printed. Exit code 1 when some images could not be read (they are named,
and the others are still predicted), 2 on bad input.
"""
from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from training.metrics import compute_metrics
from deploy.bundle_format import BundleError
from deploy.onnx_model import OnnxModel
from prepare_data import fit_image
from utils import OneLineParser, UsageError, atomic_write_text, fail, positive_int, setup_logging

log = logging.getLogger("predict")

EXIT_UNREADABLE = 1


@dataclass
class Item:
    """One image to classify: its path, its true class when the folder says it, and why it could not be read."""

    path: Path
    label: int | None = None
    error: str = ""


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="predict.py", description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a model.pt, model.onnx or model_int8.onnx written by main.py --save")
    parser.add_argument("images", type=Path, nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--top_k", type=positive_int, default=3, help="classes listed per image")
    parser.add_argument("--out", type=Path, default=Path("predictions.csv"), help="the CSV written")
    parser.add_argument("--batch_size", type=positive_int, default=256, help="images per forward pass")
    parser.add_argument("--threads", type=positive_int, help="CPU threads (default: the runtime's own choice)")
    return parser


def load_model(path: Path, threads: int | None = None):
    """An OnnxModel for .onnx files, else a torch Bundle (torch is imported only then)."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file" if not path.exists() else f"{path}: a folder; expected a model file")
    try:
        if path.suffix.lower() == ".onnx":
            return OnnxModel(path, threads)
        from deploy.bundle import Bundle
        from utils import set_threads

        set_threads(threads)
        return Bundle.load(path)
    except BundleError as error:
        raise UsageError(str(error)) from None


def find_images(paths: list[Path], classes: list[str]) -> list[Item]:
    """Every image under the given paths; in a folder laid out as ImageFolder with the model's classes, each
    image carries its true class."""
    readable = set(Image.registered_extensions())
    items: list[Item] = []
    for path in paths:
        if path.is_file():
            items.append(Item(path))
        elif path.is_dir():
            subfolders = [p.name for p in path.iterdir() if p.is_dir()]
            labelled = bool(subfolders) and set(subfolders) <= set(classes)
            for file in sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in readable):
                label = classes.index(file.relative_to(path).parts[0]) if labelled and file.parent != path else None
                items.append(Item(file, label))
        else:
            raise UsageError(f"{path}: no such file or folder")
    if not items:
        raise UsageError(f"no images under {', '.join(map(str, paths))}")
    return items


def read_image(item: Item, input_shape: tuple[int, int, int]) -> np.ndarray | None:
    """The image as the model takes it (float32 in [0, 1], C×H×W), or None with item.error set."""
    channels, height, width = input_shape
    try:
        with Image.open(item.path) as image:
            image = fit_image(image.convert("L" if channels == 1 else "RGB"), width, height)
    except (UnidentifiedImageError, OSError, ValueError) as error:
        item.error = f"unreadable image ({str(error).splitlines()[0][:100]})"
        log.warning("%s: %s", item.path, item.error)
        return None
    array = np.asarray(image, dtype=np.float32) / 255
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def predictions_table(items: list[Item], probabilities: np.ndarray, classes: list[str], top_k: int) -> pd.DataFrame:
    """One row per image: path, true class (when known), the top_k classes with probabilities, the error."""
    rows, read = [], iter(probabilities)
    for item in items:
        row = {"path": str(item.path), "true_class": classes[item.label] if item.label is not None else ""}
        scores = None if item.error else next(read)
        best = [] if scores is None else np.argsort(-scores, kind="stable")[:top_k]
        for rank in range(top_k):
            index = int(best[rank]) if rank < len(best) else None
            row[f"class_{rank + 1}"] = "" if index is None else classes[index]
            row[f"probability_{rank + 1}"] = np.nan if index is None else float(scores[index])
        rows.append({**row, "error": item.error})
    return pd.DataFrame(rows)


def report_accuracy(items: list[Item], probabilities: np.ndarray, num_classes: int) -> None:
    """Top-1, top-3 and precision over the readable images whose true class is known."""
    labels = [item.label for item in items if not item.error]  # in the order of the probabilities' rows
    labelled = [row for row, label in enumerate(labels) if label is not None]
    if not labelled:
        return
    metrics = compute_metrics(probabilities[labelled], np.array([labels[row] for row in labelled]), num_classes)
    print(f"{len(labelled)} labelled images: top-1 accuracy {metrics['top1_accuracy']:.4f}, top-3 accuracy "
          f"{metrics['top3_accuracy']:.4f}, precision {metrics['precision']:.4f}")


def run(args) -> int:
    model = load_model(args.model, args.threads)
    if args.top_k > len(model.classes):
        raise UsageError(f"--top_k {args.top_k} is more than the model's {len(model.classes)} classes")
    items = find_images(args.images, model.classes)
    arrays = [read_image(item, model.input_shape) for item in items]
    images = np.stack([a for a in arrays if a is not None]) if any(a is not None for a in arrays) \
        else np.zeros((0, *model.input_shape), np.float32)
    probabilities = model.probabilities(images, args.batch_size)
    table = predictions_table(items, probabilities, model.classes, args.top_k)
    for _, row in table.iterrows():
        guesses = ", ".join(f"{row[f'class_{r}']} ({row[f'probability_{r}']:.3f})" for r in range(1, args.top_k + 1))
        print(f"{row['path']}: {row['error'] or guesses}")
    report_accuracy(items, probabilities, len(model.classes))
    atomic_write_text(args.out, table.to_csv(index=False))
    unreadable = sum(bool(item.error) for item in items)
    print(f"predictions: {args.out}" + (f"; {unreadable} unreadable images" if unreadable else ""))
    return EXIT_UNREADABLE if unreadable else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        return run(args)
    except UsageError as error:
        fail(str(error), "predict.py")


if __name__ == "__main__":
    sys.exit(main())
