"""Do the cheap rungs predict the full evaluation? Rank correlation of low fidelities with the 50-epoch result.

Samples --configs random configurations as a search from scratch makes them (repaired into the size limit and
the evaluation allowance of a --max_time run), trains each with 3-fold cross-validation on train/ to --max_budget
epochs and measures every fold at the budgets of the grid on the way (the schedule laid over max_budget, exactly
as a continued job trains). For one fold, it also trains a fresh network per budget whose learning-rate schedule
ends at that budget. Prints, per budget and fidelity, Spearman's rank correlation with the 3-fold top-3 at
max_budget, and the median and best top-3 there (against chance). Records are appended as they are measured
(--out), so a stopped run resumes. The test set is never read.
Usage: python bench/bench_fidelity.py [--configs 24] [--max_size 2e7] [--max_time 600] [--seed 0]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from budget.policy import BudgetPolicy  # noqa: E402
from budget.time_model import PRIORS, CostModel  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.metrics import chance_top3, compute_metrics  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR, ensure_data  # noqa: E402
from search.space import space  # noqa: E402
from training.fold_run import TrainingDiverged  # noqa: E402
from target import Target  # noqa: E402
from utils import parse_size  # noqa: E402
from search.variation import sample  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GRID = (1, 2, 3, 4, 6, 9, 12, 17, 25, 35, 50)
SHORT_SCHEDULE = (2, 4, 6, 9, 17)  # budgets whose own schedule is measured on fold 0
LEARNS = 0.05  # a configuration "learns" when its top-3 is this far above chance


def top3(target: Target, run, fold: int) -> float:
    x_val, y_val = target.validation(fold)
    return compute_metrics(run.scores(x_val), y_val.cpu().numpy(), target.num_classes)["top3_accuracy"]


def curves(target: Target, config: dict, max_budget: int) -> dict[str, float]:
    """Validation top-3 of each fold at each budget of the grid (one training per fold, schedule over max_budget),
    and of fold 0 trained afresh with its schedule ending at each SHORT_SCHEDULE budget. Divergence: chance."""
    chance, record = chance_top3(target.num_classes), {}
    for fold, run in enumerate(target.fold_runs(config)):
        for epoch in range(1, max_budget + 1):
            try:
                run.train_epoch(max_budget * run.steps_per_epoch())
                value = top3(target, run, fold) if epoch in GRID else None
            except TrainingDiverged:
                record.update({f"fold{fold}_e{b}": chance for b in GRID if b >= epoch})
                break
            if value is not None:
                record[f"fold{fold}_e{epoch}"] = value
    for budget in SHORT_SCHEDULE:
        run = target.fold_runs(config, 1)[0]
        try:
            for _ in range(budget):
                run.train_epoch(budget * run.steps_per_epoch())
            record[f"short_e{budget}"] = top3(target, run, 0)
        except TrainingDiverged:
            record[f"short_e{budget}"] = chance
    return record


def correlations(table: pd.DataFrame, chance: float) -> pd.DataFrame:
    """Per budget and fidelity: Spearman with the full evaluation over all configurations and over those that
    learn (full top-3 more than 5 points above chance: the ranking promotions among good members depend on)."""
    truth = table[[f"fold{f}_e{GRID[-1]}" for f in range(3)]].mean(axis=1)
    learn = truth > chance + LEARNS
    rows = []
    for budget in GRID:
        three = table[[f"fold{f}_e{budget}" for f in range(3)]].mean(axis=1)
        fidelities = {"fold 0, schedule over 50": table[f"fold0_e{budget}"], "3 folds, schedule over 50": three}
        if budget in SHORT_SCHEDULE:
            fidelities[f"fold 0, schedule over {budget}"] = table[f"short_e{budget}"]
        for name, values in fidelities.items():
            rows.append({"budget": budget, "fidelity": name, "spearman": spearmanr(values, truth).statistic,
                         "spearman_learners": spearmanr(values[learn], truth[learn]).statistic,
                         "median_top3": values.median(), "best_top3": values.max(),
                         "above_chance": float((values > chance + LEARNS).mean())})
    return pd.DataFrame(rows)


def load(path: Path) -> pd.DataFrame:
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=24)
    parser.add_argument("--max_size", type=parse_size, default=parse_size("2e7"))
    parser.add_argument("--max_time", type=float, default=600)
    parser.add_argument("--max_budget", type=int, default=GRID[-1])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fidelity.jsonl")
    args = parser.parse_args()
    ensure_data(args.data_dir)
    train, _ = load_dataset(args.data_dir)
    target = Target(train, seed=args.seed, max_budget=args.max_budget, device="cpu")
    policy = BudgetPolicy(CostModel(PRIORS["cpu"]), target, args.max_time, args.max_budget)
    fit = policy.fitter(space(), train.input_shape, train.num_classes, args.max_size)
    rng = np.random.default_rng(args.seed)
    configs = [fit(sample(space(), rng), rng) for _ in range(args.configs)]
    done = load(args.out).to_dict("records") if args.out.exists() else []
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for index, config in enumerate(configs[len(done):], start=len(done)):
        record = {"index": index, "model_size": target.model_size(config), **curves(target, config, args.max_budget),
                  "configuration": config}
        with args.out.open("a") as file:
            file.write(json.dumps(record) + "\n")
        done.append(record)
    table = pd.DataFrame(done)
    chance = chance_top3(train.num_classes)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; "
          f"{len(table)} random configurations at size <= {args.max_size:,} ({args.max_time:.0f} s allowance), "
          f"seed {args.seed}; truth: 3-fold top-3 at {args.max_budget} epochs; chance {chance:.3f}")
    learners = (table[[f"fold{f}_e{GRID[-1]}" for f in range(3)]].mean(axis=1) > chance + LEARNS).sum()
    print(f"{learners} of {len(table)} configurations learn (full top-3 above chance + {LEARNS})")
    print(correlations(table, chance).to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
