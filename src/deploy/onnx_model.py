"""A saved network as an ONNX graph, run with onnxruntime alone (no torch): images in [0, 1] in, class
probabilities out."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from deploy.bundle_format import INPUT_NAME, OUTPUT_NAME, BundleError, check_format


class OnnxModel:
    """A model.onnx or model_int8.onnx: images in [0, 1] (N, C, H, W) float32 → class probabilities."""

    def __init__(self, path: Path, threads: int | None = None):
        path = Path(path)
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception types for any unreadable file
            raise BundleError(f"{path}: not an ONNX model ({str(error).splitlines()[0][:120]})") from error
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        check_format(meta, path)
        self.path = path
        self.classes: list[str] = json.loads(meta["classes"])
        self.input_shape: tuple[int, int, int] = tuple(json.loads(meta["input_shape"]))  # type: ignore[assignment]
        self.config: dict[str, Any] = json.loads(meta["config"])

    def probabilities(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, classes) of float32 images in [0, 1]."""
        chunks = [self.session.run([OUTPUT_NAME], {INPUT_NAME: np.ascontiguousarray(images[i:i + batch_size],
                                                                                   dtype=np.float32)})[0]
                  for i in range(0, len(images), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes)), np.float32)
