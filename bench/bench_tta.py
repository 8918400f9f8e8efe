"""Flip test-time augmentation and the warm-start portfolio: cross-validated top-3 accuracy with and without TTA.

Trains each portfolio configuration with 3-fold cross-validation on train/ only for --epochs
epochs and prints the mean validation top-3 accuracy with plain logits and with logits averaged over the image
and its mirror image (what FoldRun.scores does for networks trained with random flips); with several --seeds
(folds and initialisations), also the mean over them.
Usage: python bench/bench_tta.py [--epochs 50] [--seeds 0] [--data_dir micro17flower]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from training.data import load_dataset  # noqa: E402
from training.metrics import compute_metrics  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR, ensure_data  # noqa: E402
from search.space import PORTFOLIO, load_config  # noqa: E402
from status import Mode  # noqa: E402
from target import Target  # noqa: E402


def measure(target: Target, config: dict, epochs: int) -> dict:
    """Validation top-3 accuracy (mean over folds) of one configuration, with and without flip TTA."""
    started = time.perf_counter()
    runs = target.trained_runs(config, epochs)
    plain, tta = [], []
    for fold, run in enumerate(runs):
        x_val, y_val = target.validation(fold)
        labels = y_val.cpu().numpy()
        plain.append(compute_metrics(run.scores(x_val, flip_tta=False), labels, target.num_classes)["top3_accuracy"])
        tta.append(compute_metrics(run.scores(x_val), labels, target.num_classes)["top3_accuracy"])
    return {"parameters": target.model_size(config), "seconds": round(time.perf_counter() - started, 1),
            "cv_top3": np.mean(plain), "cv_top3_tta": np.mean(tta)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args()
    ensure_data(args.data_dir)
    train, _ = load_dataset(args.data_dir)
    configs = {f"portfolio_{i}": load_config(entry) for i, entry in enumerate(PORTFOLIO)}
    rows = []
    for seed in args.seeds:
        target = Target(train, mode=Mode.CV, seed=seed, max_budget=args.epochs, device="cpu")
        rows += [{"configuration": name, "seed": seed, **measure(target, config, args.epochs)}
                 for name, config in configs.items()]
    table = pd.DataFrame(rows)
    table["gain"] = table["cv_top3_tta"] - table["cv_top3"]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{args.epochs} epochs, 3-fold CV on train/, seeds {args.seeds}")
    print(table.to_string(index=False, float_format="%.4f"))
    if len(args.seeds) > 1:
        print("mean over seeds:")
        means = table.drop(columns="seed").groupby("configuration").mean()
        print(means.to_string(float_format="%.4f"))


if __name__ == "__main__":
    main()
