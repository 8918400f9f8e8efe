"""Does a rung's figure predict the full training's, whatever the learning-rate schedule?

Samples --configs random configurations as a search from scratch makes them (repaired into --max_size and the
evaluation allowance of a --max_time run) and trains each with 3-fold cross-validation on train/ to --max_budget
epochs, the schedule laid over max_budget as a continued member trains. On fold 0, the fold a cheap rung measures,
it records the objective at every budget of the grid as the member stands (`plain`, the measurement before the
decay), and at each rung budget after the measuring decay trained on a branch (`decay`, one per fraction in
FRACTIONS; a constant schedule is not decayed), timing both; and, trained afresh, a network whose schedule ends at
each rung (`own`: continuation lost). The truth is the 3-fold objective at max_budget. Printed: per rung and
fidelity, Spearman's rank correlation with the truth over all configurations and over the better half, the median
ratio fidelity / truth per schedule (among configurations that learn), and what the decay adds to the cost of a
Hyperband bracket. Records are appended as they are measured (--out), so a stopped run resumes; --report only reads
them. The test set is never read.
Usage: python bench/bench_fidelity.py --out FILE [--data_dir DIR] [--objective top3] [--configs 40]
       [--max_size 5e3] [--max_time 300] [--seed 0] [--report]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from budget.limits import Limits  # noqa: E402
from budget.policy import BudgetPolicy  # noqa: E402
from budget.time_model import PRIORS, CostModel  # noqa: E402
from training.data import load_dataset  # noqa: E402
from training.metrics import OBJECTIVES, chance_top3, compute_metrics  # noqa: E402
from training.schedules import DECAY_FRACTION, decays  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR, ensure_data  # noqa: E402
from search.fitting import fitter  # noqa: E402
from search.space import space  # noqa: E402
from search.successive_halving import N_FOLDS, max_bracket, rung_budgets  # noqa: E402
from training.fold_run import FoldRun, TrainingDiverged  # noqa: E402
from target import Target  # noqa: E402
from utils import parse_size  # noqa: E402
from search.variation import sample  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
GRID = (1, 2, 4, 6, 9, 12, 17, 25, 35, 50)
ETA = 3
FRACTIONS = (0.1, DECAY_FRACTION, 0.3)  # measuring decays tried, each a fraction of the rung's steps
LEARNS = 0.05  # a configuration "learns" when its truth is this far above chance


def rungs(max_budget: int) -> tuple[int, ...]:
    """The budgets below max_budget of the search's default bracket (--min_budget = max_budget / eta^2)."""
    return rung_budgets(max_bracket(max_budget / ETA ** 2, max_budget, ETA), max_budget, ETA)[:-1]


class Fold0:
    """Fold 0 of one configuration, measured as the rungs measure it."""

    def __init__(self, target: Target, config: dict, key: str, chance: float):
        self.target, self.config, self.key, self.chance = target, config, key, chance

    def measure(self, run: FoldRun) -> float:
        x_val, y_val = self.target.validation(0)
        return compute_metrics(run.scores(x_val), y_val.cpu().numpy(), self.target.num_classes)[self.key]

    def decayed(self, run: FoldRun, fraction: float) -> tuple[float, float]:
        """The figure after the measuring decay of `fraction` on a branch, and the seconds the branch added to the
        measurement (none if not decayed)."""
        if not decays(self.config["lr_schedule"]):
            return self.measure(run), 0.0
        started, measuring = time.perf_counter(), 0.0
        try:
            with run.decayed(self.target.max_budget * run.steps_per_epoch(), fraction):
                measuring = time.perf_counter()
                value = self.measure(run)
                measuring = time.perf_counter() - measuring
        except TrainingDiverged:
            value = self.chance
        return value, time.perf_counter() - started - measuring

    def trunk(self, max_budget: int) -> dict[str, float]:
        record, budgets, trunk_seconds = {}, rungs(max_budget), 0.0
        run = self.target.fold_runs(self.config, 1)[0]
        for epoch in range(1, max_budget + 1):
            started = time.perf_counter()
            try:
                run.train_epoch(max_budget * run.steps_per_epoch())
            except TrainingDiverged:
                record.update({k: self.chance for k in self.keys(max_budget) if int(k.rsplit("_e", 1)[1]) >= epoch})
                record.update({f"decay{f}_s{b}": 0.0 for f in FRACTIONS for b in budgets if b >= epoch})
                break
            trunk_seconds += time.perf_counter() - started
            if epoch in GRID or epoch in budgets or epoch == max_budget:
                record[f"plain_e{epoch}"] = self.measure(run)
            if epoch in budgets:
                for fraction in FRACTIONS:
                    value, seconds = self.decayed(run, fraction)
                    record[f"decay{fraction}_e{epoch}"], record[f"decay{fraction}_s{epoch}"] = value, seconds
        record["trunk_seconds"], record["trunk_epochs"] = trunk_seconds, run.epoch
        return record

    def keys(self, max_budget: int) -> list[str]:
        plain = sorted({*GRID, *rungs(max_budget), max_budget})
        return [f"plain_e{b}" for b in plain] + [f"decay{f}_e{b}" for f in FRACTIONS for b in rungs(max_budget)]

    def own_schedule(self, budget: int) -> float:
        """Fold 0 trained afresh with its schedule ending at `budget`."""
        run = self.target.fold_runs(self.config, 1)[0]
        try:
            for _ in range(budget):
                run.train_epoch(budget * run.steps_per_epoch())
        except TrainingDiverged:
            return self.chance
        return self.measure(run)


def curves(target: Target, config: dict, key: str, chance: float) -> dict[str, float]:
    """Everything one configuration's record holds: fold 0's trunk and branches, its own-schedule runs, and the
    full-budget figure of the other folds."""
    max_budget = target.max_budget
    fold0 = Fold0(target, config, key, chance)
    record = fold0.trunk(max_budget)
    for budget in rungs(max_budget):
        record[f"own_e{budget}"] = fold0.own_schedule(budget)
    for fold, run in enumerate(target.fold_runs(config)[1:], start=1):
        x_val, y_val = target.validation(fold)
        try:
            for _ in range(max_budget):
                run.train_epoch(max_budget * run.steps_per_epoch())
            record[f"fold{fold}_e{max_budget}"] = compute_metrics(run.scores(x_val), y_val.cpu().numpy(),
                                                                  target.num_classes)[key]
        except TrainingDiverged:
            record[f"fold{fold}_e{max_budget}"] = chance
    return record


def truth(table: pd.DataFrame, max_budget: int) -> pd.Series:
    columns = [f"plain_e{max_budget}"] + [f"fold{f}_e{max_budget}" for f in range(1, N_FOLDS)]
    return table[columns].mean(axis=1)


def fidelities(table: pd.DataFrame, budget: int) -> dict[str, pd.Series]:
    """Each way a rung at `budget` could measure fold 0."""
    out = {"before: as it stands": table[f"plain_e{budget}"]}
    out.update({f"decay {f:.0%}" + (" (chosen)" if f == DECAY_FRACTION else ""): table[f"decay{f}_e{budget}"]
                for f in FRACTIONS})
    out["own schedule (no continuation)"] = table[f"own_e{budget}"]
    return out


def correlations(table: pd.DataFrame, max_budget: int) -> pd.DataFrame:
    """Per rung and fidelity: Spearman with the truth over all configurations and over the better half by truth
    (the ranking promotions among good members depend on)."""
    full = truth(table, max_budget)
    better = full >= full.median()
    rows = []
    for budget in rungs(max_budget):
        for name, values in fidelities(table, budget).items():
            rows.append({"rung": budget, "fidelity": name, "spearman": spearmanr(values, full).statistic,
                         "spearman_better_half": spearmanr(values[better], full[better]).statistic,
                         "median": values.median()})
    return pd.DataFrame(rows)


def ratios(table: pd.DataFrame, max_budget: int, chance: float) -> pd.DataFrame:
    """Median fidelity / truth per schedule, among configurations whose truth is LEARNS above chance; the spread
    is the largest median minus the smallest."""
    full = truth(table, max_budget)
    learn = full > chance + LEARNS
    schedules = table["configuration"].map(lambda c: c["lr_schedule"])
    rows = []
    for budget in rungs(max_budget):
        for name, values in fidelities(table, budget).items():
            ratio = (values / full)[learn]
            row = {"rung": budget, "fidelity": name}
            row.update({f"{s} (n={int((schedules[learn] == s).sum())})": ratio[schedules[learn] == s].median()
                        for s in sorted(schedules.unique())})
            medians = [v for k, v in row.items() if k not in ("rung", "fidelity") and not np.isnan(v)]
            row["spread"] = max(medians) - min(medians)
            rows.append(row)
    return pd.DataFrame(rows)


def bracket_cost(table: pd.DataFrame, max_budget: int) -> pd.DataFrame:
    """What each measuring decay adds to the cost of the default Hyperband bracket, from the measured seconds: per
    eta^2 members started at its lowest rung, the trained fold-epochs (1 fold below max_budget, all at it, the
    member's fold 0 continued) at each configuration's measured seconds per epoch, against the decays' measured
    seconds; summed over configurations. Last, a schedule over each rung's own budget: fold 0 trained from the start
    at every rung instead of continued."""
    budgets = rungs(max_budget)
    per_epoch = table["trunk_seconds"] / table["trunk_epochs"]
    epochs, restarts, previous, members = 0.0, 0.0, 0, float(ETA ** len(budgets))
    for budget in (*budgets, max_budget):
        folds = N_FOLDS if budget == max_budget else 1
        epochs += members * ((budget - previous) + (folds - 1) * budget)
        restarts += members * previous
        previous, members = budget, members / ETA
    before = (per_epoch * epochs).sum()
    rows = []
    for fraction in FRACTIONS:
        members, extra = float(ETA ** len(budgets)), 0.0
        for budget in budgets:
            extra += members * table[f"decay{fraction}_s{budget}"].sum()
            members /= ETA
        rows.append({"measurement": f"decay {fraction:.0%}", "cost_increase": extra / before})
    rows.append({"measurement": "own schedule", "cost_increase": (per_epoch * restarts).sum() / before})
    return pd.DataFrame(rows)


def load(path: Path) -> pd.DataFrame:
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines()])


def report(table: pd.DataFrame, settings: dict, chance: float) -> None:
    max_budget = settings["max_budget"]
    fmt = {"float_format": lambda v: f"{v:.3f}", "index": False}
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; "
          f"{settings['data_dir']}, objective {settings['objective']}; {len(table)} random configurations at size "
          f"<= {settings['max_size']:,.0f} ({settings['max_time']:.0f} s allowance), seed {settings['seed']}; "
          f"truth: 3-fold {settings['objective']} at {max_budget} epochs; chance {chance:.3f}")
    full = truth(table, max_budget)
    print(f"{int((full > chance + LEARNS).sum())} of {len(table)} configurations learn (truth above chance + "
          f"{LEARNS}); schedules: {table['configuration'].map(lambda c: c['lr_schedule']).value_counts().to_dict()}")
    print("\nRank correlation with the truth (fold 0 at the rung):")
    print(correlations(table, max_budget).to_string(**fmt))
    print("\nMedian rung figure / truth, per schedule (configurations that learn):")
    print(ratios(table, max_budget, chance).to_string(**fmt))
    print("\nWhat each measurement adds to a bracket's training seconds (from the seconds measured per configuration):")
    print(bracket_cost(table, max_budget).to_string(**fmt))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=40)
    parser.add_argument("--max_size", type=parse_size, default=parse_size("5e3"))
    parser.add_argument("--max_time", type=float, default=300)
    parser.add_argument("--max_budget", type=int, default=GRID[-1])
    parser.add_argument("--objective", choices=list(OBJECTIVES), default="top3")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--report", action="store_true", help="only print the report of the records in --out")
    args = parser.parse_args()
    ensure_data(args.data_dir)
    train, _ = load_dataset(args.data_dir)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k not in ("out", "report")}
    done = load(args.out).to_dict("records") if args.out.exists() else []
    objective = done[0]["settings"]["objective"] if done else args.objective  # a resumed run keeps its objective
    key = OBJECTIVES[objective]
    chance = chance_top3(train.num_classes) if objective == "top3" else 1 / train.num_classes
    if not args.report:
        target = Target(train, seed=args.seed, max_budget=args.max_budget, device="cpu")
        policy = BudgetPolicy(CostModel(PRIORS["cpu"]), target, args.max_time, args.max_budget)
        fit = fitter(policy, space(), train.input_shape, train.num_classes, Limits(args.max_size))
        rng = np.random.default_rng(args.seed)
        configs = [fit(sample(space(), rng), rng) for _ in range(args.configs)]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        for index, config in enumerate(configs[len(done):], start=len(done)):
            record = {"index": index, "settings": settings, "model_size": target.model_size(config),
                      **curves(target, config, key, chance), "configuration": config}
            with args.out.open("a") as file:
                file.write(json.dumps(record) + "\n")
            done.append(record)
    report(pd.DataFrame(done), done[0]["settings"] if done else settings, chance)


if __name__ == "__main__":
    main()
