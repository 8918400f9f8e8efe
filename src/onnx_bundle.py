"""A saved network as an ONNX graph, run with onnxruntime alone (no torch): reading the bundle metadata, class
probabilities, and int8 static quantisation calibrated on training images."""
from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from utils import UsageError, atomic_write_bytes

log = logging.getLogger(__name__)

FORMAT = "small-cnn-automl model"  # what every model.pt and model.onnx of this project says it is
FORMAT_VERSION = 1  # raised when a bundle changes so that older code cannot read it
INPUT_NAME, OUTPUT_NAME = "images", "probabilities"
QUANTIZED_OPS = ["Conv", "Gemm", "MatMul"]  # the weights; softmax and the averaging stay in float


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


class _Calibration(CalibrationDataReader):
    """Training images, a batch at a time, for onnxruntime's calibration of activation ranges."""

    def __init__(self, images: np.ndarray, batch_size: int = 64):
        self.batches: Iterator[np.ndarray] = (images[i:i + batch_size] for i in range(0, len(images), batch_size))

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}


def quantize_int8(fp32: Path, out: Path, calibration_images: np.ndarray) -> None:
    """Static int8 quantisation (QDQ, per-channel weights) of the convolutions and fully connected layers,
    activation ranges calibrated on `calibration_images` (training images only: the test set stays unseen)."""
    reader = _Calibration(calibration_images)
    with tempfile.TemporaryDirectory() as work:
        prepared = Path(work) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantized = Path(work) / "int8.onnx"
        quantize_static(str(prepared), str(quantized), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=QUANTIZED_OPS)
        copy_metadata(fp32, quantized, out)


def compact_names(model: onnx.ModelProto) -> None:
    """Short tensor names and no node names (the graph's input and output keep theirs): in a small network the
    exporter's and the quantiser's long names are a large part of the file."""
    graph = model.graph
    keep = {value.name for value in graph.input} | {value.name for value in graph.output}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        return name if not name or name in keep else names.setdefault(name, "t" + np.base_repr(len(names), 36))

    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [short(name) for name in node.input]
        node.output[:] = [short(name) for name in node.output]
    for value in graph.value_info:
        value.name = short(value.name)


def copy_metadata(source: Path, model: Path, out: Path) -> None:
    """`model` with the metadata of `source` (quantisation drops it), short names and no shape annotations,
    written atomically to `out`."""
    proto = onnx.load(str(model))
    del proto.graph.value_info[:]  # shapes inferred for the quantiser; onnxruntime infers them again
    compact_names(proto)
    onnx.helper.set_model_props(proto, {p.key: p.value for p in onnx.load(str(source)).metadata_props})
    atomic_write_bytes(out, proto.SerializeToString())
