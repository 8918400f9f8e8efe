"""The model card of a saved network: what it is, what it costs to run (size, multiply-accumulates, activation
memory, CPU latency and throughput) and how well it does on test/, in fp32 and int8, as JSON and Markdown."""
from __future__ import annotations

import datetime
import os
import statistics
import sys
import time
from typing import Any, Callable

import numpy as np

from training.metrics import compute_metrics, objective_label
from utils import cpu_name

LATENCY_BATCH, THROUGHPUT_BATCH = 1, 256
LATENCY_SECONDS, THROUGHPUT_SECONDS = 2.0, 3.0  # time spent timing each runtime, after warming it up


def median_seconds(run: Callable[[], Any], seconds: float, most: int = 500, warmup: int = 5) -> float:
    """Median wall time of `run` over as many calls as fit in `seconds` (at least 5, at most `most`)."""
    for _ in range(warmup):
        run()
    times: list[float] = []
    stop = time.perf_counter() + seconds
    while len(times) < most and (len(times) < 5 or time.perf_counter() < stop):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def speed(predict: Callable[[np.ndarray], Any], input_shape: tuple[int, int, int]) -> dict[str, float]:
    """Batch-1 latency (median, ms) and batch-256 throughput (images per second) of a predict function."""
    rng = np.random.default_rng(0)
    one = rng.random((LATENCY_BATCH, *input_shape), dtype=np.float32)
    many = rng.random((THROUGHPUT_BATCH, *input_shape), dtype=np.float32)
    latency = median_seconds(lambda: predict(one), LATENCY_SECONDS)
    batch = median_seconds(lambda: predict(many), THROUGHPUT_SECONDS, most=50, warmup=2)
    return {"latency_ms": 1000 * latency, "images_per_second": THROUGHPUT_BATCH / batch}


def test_figures(probabilities: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Top-1, top-3 and macro precision on the test set (the metrics the search uses)."""
    metrics = compute_metrics(probabilities, labels, probabilities.shape[1])
    return {key: metrics[key] for key in ("top1_accuracy", "top3_accuracy", "precision")}


def constraint_checks(limits: dict[str, float | None], values: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Each given limit with the network's value and whether it holds (precision is a minimum, the rest maxima)."""
    checks = {}
    for name, limit in limits.items():
        if limit is None:
            continue
        value = values[name]
        ok = value >= limit if name == "min_precision" else value <= limit
        checks[name] = {"limit": limit, "value": value, "ok": bool(ok)}
    return checks


def environment() -> dict[str, Any]:
    """Machine and versions the figures were measured with."""
    import onnx
    import onnxruntime
    import torch

    return {"date": datetime.date.today().isoformat(), "cpu": cpu_name(), "cpu_cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0], "torch": torch.__version__,
            "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "numpy": np.__version__}


def _measured(size: dict[str, Any], key: str, where: str) -> str:
    return f" ({size[key]:,} {where})" if key in size else ""


def card_markdown(card: dict[str, Any]) -> str:
    """The card for people: one table per part."""
    size, files = card["cost"], card["files"]
    lines = [f"# Model card: {card['name']}", "",
             f"A CNN for {card['dataset']['classes']} classes of {'x'.join(map(str, card['input_shape']))} images "
             f"(channels x height x width), trained {card['training']['epochs']} epochs on all "
             f"{card['dataset']['train_images']} images of {card['dataset']['data_dir']}/train "
             f"(seed {card['training']['seed']}); origin of the configuration: {card['origin']}; searched for "
             f"{objective_label(card.get('objective'))}.", "",
             "| cost per image | value |", "|---|---|",
             f"| parameters | {size['parameters']:,} |",
             f"| multiply-accumulates (one pass) | {size['macs']:,} |",
             f"| multiply-accumulates with flip test-time augmentation | {size['inference_macs']:,} |",
             f"| peak activation memory (bytes, float32, batch 1) | {size['peak_activation_bytes']:,} |",
             f"| flash of the int8 network (bytes it stores) | {size['flash_bytes']:,}"
             f"{_measured(size, 'flash_bytes_int8_file', 'in model_int8.onnx')} |",
             f"| RAM of the int8 network (bytes of activations alive at once) | {size['ram_bytes']:,}"
             f"{_measured(size, 'ram_bytes_int8_graph', 'planned on model_int8.onnx')} |", "",
             "| file | bytes |", "|---|---|", *(f"| {name} | {n:,} |" for name, n in files.items()), "",
             f"| runtime | test top-1 | test top-3 | test precision | batch-1 latency (ms) | images/s at batch "
             f"{THROUGHPUT_BATCH} |", "|---|---|---|---|---|---|"]
    for name, figures in card["runtimes"].items():
        lines.append(f"| {name} | {figures['top1_accuracy']:.4f} | {figures['top3_accuracy']:.4f} | "
                     f"{figures['precision']:.4f} | {figures['latency_ms']:.3f} | "
                     f"{figures['images_per_second']:,.0f} |")
    lines += ["", "| constraint | limit | value | holds |", "|---|---|---|---|"]
    lines += [f"| {name} | {c['limit']:g} | {c['value']:g} | {'yes' if c['ok'] else 'NO'} |"
              for name, c in card["constraints"].items()] or ["| (none given) | | | |"]
    env = card["environment"]
    lines += ["", f"Measured on {env['date']} on {env['cpu']} ({env['cpu_cores']} cores, {env['torch_threads']} "
              f"threads for torch and onnxruntime), Python {env['python']}, torch {env['torch']}, onnx {env['onnx']}, "
              f"onnxruntime {env['onnxruntime']}. Latency is the median of many calls on random images.", ""]
    return "\n".join(lines)
