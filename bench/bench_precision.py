"""Why do high precision limits end "not met" on validation while the same answers pass on test? Separates the two
readings: cross-validation measures models trained on two thirds of train/ (less data), on a held-out third
(another sample of images).

For each configuration (opt_cfg files or run folders), with the search's folds (--seed), trains each fold's model
on its two thirds for --epochs epochs and measures it on its held-out third (what the search sees) and on test/;
then trains on all of train/ and measures on test/ (what `main.py -t` reports). If the fold models are as precise
on test/ as on their held-out thirds, the gap to the full model is the data it lacks; if they are more precise on
test/, the held-out thirds are harder than test/. Run once, after the search: the test set is read here, never by
a search.
Usage: python bench/bench_precision.py CONFIGS... [--epochs 50] [--seed 0] [--data_dir micro17flower] [--out CSV]
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from training.data import load_dataset  # noqa: E402
from reporting.holdout import candidate_from  # noqa: E402
from training.metrics import compute_metrics  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR, ensure_data  # noqa: E402
from status import Mode  # noqa: E402
from target import Target  # noqa: E402


def metrics(run, images: torch.Tensor, labels: torch.Tensor, classes: int) -> dict:
    measured = compute_metrics(run.scores(images), labels.cpu().numpy(), classes)
    return {"precision": measured["precision"], "top3": measured["top3_accuracy"]}


def measure(name: str, config: dict, train, test, epochs: int, seed: int) -> list[dict]:
    cv = Target(train, mode=Mode.CV, seed=seed, max_budget=epochs, device="cpu")
    full = Target(train, test, mode=Mode.TEST, seed=seed, max_budget=epochs, device="cpu")
    x_test, y_test = full.validation(0)
    rows = []
    for fold, run in enumerate(cv.trained_runs(config, epochs)):
        held_out = metrics(run, *cv.validation(fold), cv.num_classes)
        on_test = metrics(run, x_test, y_test, cv.num_classes)
        rows.append({"configuration": name, "model": f"fold {fold} (2/3 of train/)",
                     "precision, held-out third": held_out["precision"], "precision, test/": on_test["precision"],
                     "top-3, held-out third": held_out["top3"], "top-3, test/": on_test["top3"]})
    (run,) = full.trained_runs(config, epochs)
    on_test = metrics(run, x_test, y_test, full.num_classes)
    rows.append({"configuration": name, "model": "all of train/", "precision, test/": on_test["precision"],
                 "top-3, test/": on_test["top3"]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="+", type=Path, help="opt_cfg JSON files or run folders")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0, help="the searches' seed: the same folds")
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, help="also write the table here (CSV), for the reports")
    args = parser.parse_args()
    ensure_data(args.data_dir)
    train, test = load_dataset(args.data_dir, with_test=True)
    rows = []
    for path in args.configs:
        candidate = candidate_from(path)
        rows += measure(candidate.name, candidate.config, train, test, args.epochs, args.seed)
    table = pd.DataFrame(rows)
    if args.out is not None:
        table.to_csv(args.out, index=False)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; {args.epochs} epochs, folds of seed {args.seed}")
    print(table.round(4).to_string(index=False))
    folds = table[table["model"] != "all of train/"]
    print("\nmean over folds:")
    print(folds.groupby("configuration")[["precision, held-out third", "precision, test/", "top-3, held-out third",
                                          "top-3, test/"]].mean().round(4).to_string())


if __name__ == "__main__":
    main()
