"""model.onnx and model_int8.onnx from a trained network: the export of its inference network as one graph, the
check that onnxruntime's probabilities match torch's, and int8 static quantisation calibrated on training
images."""
from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

import numpy as np
import onnx
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from deploy.bundle import Bundle
from deploy.bundle_format import INPUT_NAME, OUTPUT_NAME, BundleError, metadata
from training.metrics import TOP_K
from utils import atomic_write_bytes

ONNX_OPSET = 17
ONNX_TOLERANCE = 1e-4  # largest difference allowed between onnxruntime's and torch's probabilities
QUANTIZED_OPS = ["Conv", "Gemm", "MatMul"]  # the weights; softmax and the averaging stay in float


def export_onnx(bundle: Bundle, path: Path) -> None:
    """model.onnx: the InferenceNet as one graph with a dynamic batch dimension and the bundle's metadata.

    The TorchScript-based exporter (dynamo=False) is used on purpose: for this static feed-forward network it
    writes plain Conv/MaxPool/Gemm/Softmax nodes that onnxruntime runs to float precision and quantises, and it
    needs no onnxscript; torch 2.14 still ships it (with a deprecation warning, silenced here)."""
    buffer = io.BytesIO()
    example = torch.rand(1, *bundle.input_shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(bundle.network(), (example,), buffer, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}})
    model = onnx.load_from_string(buffer.getvalue())
    onnx.helper.set_model_props(model, metadata(bundle.classes, bundle.input_shape, bundle.config))
    compact_names(model)
    onnx.checker.check_model(model)
    atomic_write_bytes(path, model.SerializeToString())


def check_export(expected: np.ndarray, exported: np.ndarray, path: Path) -> float:
    """The largest difference between torch's and the exported graph's probabilities; a BundleError when it is over
    ONNX_TOLERANCE or any image's three most likely classes differ."""
    difference = float(np.abs(expected - exported).max()) if len(expected) else 0.0
    top = np.sort(np.argsort(-expected, axis=1)[:, :TOP_K], axis=1)
    same_top = np.array_equal(top, np.sort(np.argsort(-exported, axis=1)[:, :TOP_K], axis=1))
    if difference > ONNX_TOLERANCE or not same_top:
        raise BundleError(f"{path}: onnxruntime's probabilities differ from torch's by up to {difference:.2e}"
                          f"{'' if same_top else ' and change some top-3 classes'}")
    return difference


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
