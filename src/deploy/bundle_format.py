"""What a saved network says about itself, in model.pt and model.onnx alike: the format and its version, the
class names, the input shape and the configuration (no torch, no onnxruntime)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from utils import UsageError

FORMAT = "small-cnn-automl model"  # what every model.pt and model.onnx of this project says it is
FORMAT_VERSION = 1  # raised when a bundle changes so that older code cannot read it
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"


class BundleError(UsageError):
    """A model file that cannot be used; the message says what the file is."""


def check_format(meta: dict[str, Any], path: Path) -> None:
    """A bundle written by this project, in a format version this code reads."""
    if meta.get("format") != FORMAT:
        raise BundleError(f"{path}: not a model written by this project's main.py --save ({describe(meta)})")
    version = int(meta.get("format_version", 0))
    if version > FORMAT_VERSION:
        raise BundleError(f"{path}: model format version {version} is newer than this code reads "
                          f"({FORMAT_VERSION}); update the project")


def describe(meta: dict[str, Any]) -> str:
    keys = ", ".join(sorted(map(str, meta))[:6]) or "none"
    return f"its metadata keys: {keys}"


def metadata(classes: list[str], input_shape: tuple[int, int, int], config: dict[str, Any]) -> dict[str, str]:
    """What a model file says about itself (ONNX metadata holds strings only)."""
    return {"format": FORMAT, "format_version": str(FORMAT_VERSION), "classes": json.dumps(classes),
            "input_shape": json.dumps(list(input_shape)), "config": json.dumps(config)}
