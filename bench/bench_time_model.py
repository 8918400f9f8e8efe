"""How well the cost model predicts training time: every recorded evaluation of the committed benchmark runs is
predicted before the model learns from it, run by run, as in a search.

Compares the full model (arithmetic + per optimizer step + per evaluation + per feature-map element) with the
model without the feature-map term and with arithmetic alone.
The runs are bench_search runs on micro17flower: 16x16 RGB, 17 classes, 3-fold CV on 680 training images each
(a job trains one fold or all three: its fold-epochs are recorded).
Usage: python bench/bench_time_model.py [--runs runs_precision/bench_search]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from budget.time_model import PRIORS, Coefficients, CostModel  # noqa: E402
from budget.closed_forms import Work, count_work  # noqa: E402
from member import cost_epochs  # noqa: E402
from search.space import load_config  # noqa: E402
from status import Status  # noqa: E402

SHAPE, CLASSES, IMAGES_PER_FOLD_EPOCH = (3, 16, 16), 17, 680
PREVIOUS = Coefficients(1.4e-11, 2.3e-3, 0.35, 0.0)  # the CPU prior before the feature-map term (commit 4b50e06)
MODELS = {"full": PRIORS["cpu"], "previous: no feature-map term": PREVIOUS,
          "arithmetic only": Coefficients(PREVIOUS.seconds_per_mac, 0.0, 0.0, 0.0)}


def evaluations(run_json: Path) -> list[tuple[Work, int, int, float]]:
    """(work per image, images seen, batch size, seconds) of each finished evaluation, in order."""
    out = []
    for e in json.loads(run_json.read_text())["evaluations"]:
        if e["status"] == Status.OK and e["epochs_this_call"] > 0:
            config = load_config(e["configuration"])  # runs made before n_branches existed have one branch
            fold_epochs = cost_epochs(e) if "fold_epochs" in e else 3 * e["epochs_this_call"]  # before: 3 folds
            out.append((count_work(config, SHAPE, CLASSES), IMAGES_PER_FOLD_EPOCH * fold_epochs,
                        config["batch_size"], e["train_seconds"]))
    return out


def fitted_prior(runs: list[list[tuple]]) -> Coefficients:
    """The coefficients that fit these runs' evaluations best (how the CPU prior was made)."""
    model = CostModel(PRIORS["cpu"])
    for run in runs:
        for work, images, batch, seconds in run:
            model.observe(work, images, batch, seconds)
    return model.coefficients


def log_errors(prior: Coefficients | None, runs: list[list[tuple]], seeds: list[str]) -> np.ndarray:
    """log(predicted / measured) of each evaluation, predicted from the same run's earlier evaluations; with
    prior None, each run starts from a prior fitted to the runs of the other seeds (no run sees itself)."""
    errors = []
    for run, seed in zip(runs, seeds):
        others = [other for other, s in zip(runs, seeds) if s != seed]
        model = CostModel(prior if prior is not None else fitted_prior(others))
        for work, images, batch, seconds in run:
            errors.append(np.log(model.seconds(work, images, batch) / seconds))
            model.observe(work, images, batch, seconds)
    return np.array(errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=Path, default=Path("runs_precision/bench_search"))
    args = parser.parse_args()
    paths = sorted(args.runs.rglob("automl_run_*.json"))
    runs, seeds = [evaluations(path) for path in paths], [path.parent.name.rsplit("_", 1)[-1] for path in paths]
    rows = []
    for name, prior in {**MODELS, "full, prior from the other seeds' runs": None}.items():
        e = log_errors(prior, runs, seeds)
        rows.append({"model": name, "evaluations": len(e), "median |log(pred/true)|": np.median(np.abs(e)),
                     "pred < true/2": np.mean(e < np.log(0.5)), "pred > 2 true": np.mean(e > np.log(2)),
                     "worst pred/true": np.exp(e.min())})
    print(f"{len(runs)} runs from {args.runs}; each evaluation predicted before the model learns from it")
    print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
