"""Write a trained network's folder: model.pt, model.onnx (checked against torch on test/), model_int8.onnx on
request, and the model card. Everything goes to a temporary sibling folder that replaces the target at the end,
so a stopped save leaves either the old folder or the new one, never half of one."""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from deploy.bundle import Bundle
from training.data import ImageData
from budget.traced_cost import counted_macs, measured_peak_bytes
from training.metrics import DEFAULT_OBJECTIVE
from deploy.model_card import card_markdown, constraint_checks, environment, speed, test_figures
from budget.closed_forms import (count_flash_bytes, count_macs, count_parameters, count_ram_bytes,
                                 peak_activation_bytes)
from deploy.bundle_format import FORMAT_VERSION
from deploy.onnx_costs import initializer_bytes, planned_activation_bytes
from deploy.onnx_export import check_export, export_onnx, quantize_int8
from deploy.onnx_model import OnnxModel
from status import Runtime
from utils import UsageError, atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

MODEL_PT, MODEL_ONNX, MODEL_INT8 = "model.pt", "model.onnx", "model_int8.onnx"
CARD_JSON, CARD_MD = "model_card.json", "model_card.md"


def as_float(data: ImageData) -> np.ndarray:
    """A split's images as the models take them: float32 in [0, 1], (N, C, H, W)."""
    return data.images.float().div(255).numpy()


MEASURED = {"macs": "macs_counted", "peak_activation_bytes": "peak_activation_bytes_measured",
            "flash_bytes": "flash_bytes_int8_file", "ram_bytes": "ram_bytes_int8_graph"}  # closed form: measured


def cost(bundle: Bundle, int8_file: Path | None = None) -> dict[str, int]:
    """Parameters, multiply-accumulates, float32 peak activation memory per image and the int8 network's flash and
    RAM bytes, in closed form and measured (on the module; flash and RAM on the int8 file, when there is one). They
    must agree: a disagreement is logged, and both are kept."""
    shape, classes = bundle.input_shape, len(bundle.classes)
    network = bundle.network().network
    figures = {"parameters": count_parameters(bundle.config, shape, classes),
               "macs": count_macs(bundle.config, shape, classes),
               "macs_counted": counted_macs(network, shape),
               "peak_activation_bytes": peak_activation_bytes(bundle.config, shape, classes),
               "peak_activation_bytes_measured": measured_peak_bytes(network, shape),
               "flash_bytes": count_flash_bytes(bundle.config, shape, classes),
               "ram_bytes": count_ram_bytes(bundle.config, shape, classes)}
    if int8_file is not None:
        figures |= {"flash_bytes_int8_file": initializer_bytes(int8_file),
                    "ram_bytes_int8_graph": planned_activation_bytes(int8_file)}
    figures["inference_macs"] = figures["macs"] * (2 if bundle.flip_tta else 1)
    for name, measured in MEASURED.items():
        if measured in figures and figures[measured] != figures[name]:
            log.warning("%s: closed form %d, measured %d", name, figures[name], figures[measured])
    return figures


def runtimes(bundle: Bundle, models: dict[str, OnnxModel], test: ImageData) -> dict[str, dict[str, float]]:
    """Test figures and speed of torch and of each ONNX model; the fp32 graph is checked against torch first."""
    images, labels = as_float(test), test.labels.numpy()
    expected = bundle.probabilities(images)
    check_export(expected, models[Runtime.ONNX].probabilities(images), models[Runtime.ONNX].path)
    results = {Runtime.TORCH: {**test_figures(expected, labels), **speed(bundle.probabilities, bundle.input_shape)}}
    for name, model in models.items():
        results[name] = {**test_figures(model.probabilities(images), labels),
                         **speed(model.probabilities, bundle.input_shape)}
    return results


def write_model_folder(out: Path, bundle: Bundle, train: ImageData, test: ImageData, *, int8: bool,
                       limits: dict[str, float | None], origin: str, threads: int | None = None,
                       objective: str = DEFAULT_OBJECTIVE) -> dict[str, Any]:
    """Write the folder `out` and return its model card."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--save {out}: a file is in the way; expected a folder")
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        bundle.save(work / MODEL_PT)
        export_onnx(bundle, work / MODEL_ONNX)
        models = {Runtime.ONNX: OnnxModel(work / MODEL_ONNX, threads or torch.get_num_threads())}
        if int8:
            quantize_int8(work / MODEL_ONNX, work / MODEL_INT8, as_float(train))
            models[Runtime.ONNX_INT8] = OnnxModel(work / MODEL_INT8, threads or torch.get_num_threads())
        card = build_card(out.name, bundle, train, test, runtimes(bundle, models, test), limits, origin, objective,
                          work / MODEL_INT8 if int8 else None)
        card["files"] = {path.name: path.stat().st_size for path in sorted(work.glob("*.*"))}
        atomic_write_json(work / CARD_JSON, card)
        atomic_write_text(work / CARD_MD, card_markdown(card))
        _replace_folder(work, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return card


def build_card(name: str, bundle: Bundle, train: ImageData, test: ImageData, figures: dict[str, dict[str, float]],
               limits: dict[str, float | None], origin: str, objective: str = DEFAULT_OBJECTIVE,
               int8_file: Path | None = None) -> dict[str, Any]:
    """The model card: what the network is, costs and scores, and whether each limit holds (flash and RAM as the
    closed forms count them and, with an int8 file, as measured on it)."""
    sizes = cost(bundle, int8_file)
    values = {"max_model_size": sizes["parameters"], "max_macs": sizes["macs"], "max_flash": sizes["flash_bytes"],
              "max_ram": sizes["ram_bytes"], "min_precision": figures[Runtime.TORCH]["precision"]}
    checks = constraint_checks(limits, values)
    if Runtime.ONNX_INT8 in figures:
        int8 = constraint_checks({key: limits.get(key) for key in ("min_precision", "max_flash", "max_ram")},
                                 {"min_precision": figures[Runtime.ONNX_INT8]["precision"],
                                  "max_flash": sizes["flash_bytes_int8_file"],
                                  "max_ram": sizes["ram_bytes_int8_graph"]})
        checks |= {f"{key} (int8)": check for key, check in int8.items()}
    return {"name": name, "format_version": FORMAT_VERSION,
            "configuration": bundle.config, "origin": origin, "objective": objective, "classes": bundle.classes,
            "input_shape": list(bundle.input_shape), "normalisation": {"mean": bundle.mean, "std": bundle.std},
            "flip_tta": bundle.flip_tta, "training": bundle.training,
            "dataset": {"data_dir": bundle.training.get("data_dir", ""), "classes": len(bundle.classes),
                        "train_images": len(train.labels), "test_images": len(test.labels)},
            "cost": sizes, "runtimes": figures, "constraints": checks, "files": {},
            "environment": environment()}


def _replace_folder(work: Path, out: Path) -> None:
    """Put the finished folder in place of `out` (the old one is removed only once the new one is there)."""
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    work.rename(out)
    shutil.rmtree(old, ignore_errors=True)
