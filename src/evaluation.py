"""See searches and trust them: figures of runs, their trade-offs, and returned configurations measured on the test set.

python src/evaluation.py plots RUN_DIR_OR_FILES… [--out figures/] [--prefix comparison]
python src/evaluation.py front RUN_DIR_OR_FILES… [--out figures/] [--prefix runs]
python src/evaluation.py test CONFIGS… [--default] [--seeds 3] [--epochs 50] [--out DIR] [--data_dir DIR]
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from training.data import class_warnings, load_dataset
from training.metrics import DEFAULT_OBJECTIVE, OBJECTIVES
from reporting.holdout import RESULTS_FILE, candidate_from, default_candidate, evaluate
from reporting.front import front_figure, front_report
from reporting.plots import candidates_figure, confusion_figure, trace_figures
from prepare_data import DEFAULT_DATA_DIR, ensure_data
from reporting.runs import find_runs
from reporting.holdout_tables import report, summary_table
from status import Status
from utils import (OneLineParser, UsageError, add_device_arguments, atomic_write_text, fail, folder_path,
                   positive_int, set_threads, setup_logging)

log = logging.getLogger("evaluation")

REPORT_FILE = "test_results.md"
CONFUSION_FIGURE = "confusion_best.png"


def build_parser() -> OneLineParser:
    parser = OneLineParser(prog="evaluation.py", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    plots = commands.add_parser("plots", help="figures from run files (traces, candidates, Pareto front)")
    plots.add_argument("runs", nargs="+", type=Path, help="run folders (searched recursively) or automl_run / CSV files")
    plots.add_argument("--out", type=folder_path, default=Path("figures"), help="folder for the PNG files")
    plots.add_argument("--prefix", default="runs", help="start of the figures' file names")
    front = commands.add_parser("front", help="each run's trade-offs: the Pareto front's table and figure")
    front.add_argument("runs", nargs="+", type=Path, help="run folders (searched recursively) or automl_run files")
    front.add_argument("--out", type=folder_path, default=Path("figures"), help="folder for the PNG files")
    front.add_argument("--prefix", default="runs", help="start of the figures' file names (then the run's name "
                       "where there are several)")
    test = commands.add_parser("test", help="train configurations on train/, measure on test/, compare")
    test.add_argument("configs", nargs="*", type=Path, help="opt_cfg JSON files or run folders (their opt_cfg.json)")
    test.add_argument("--default", action="store_true", help="also measure the default configuration")
    test.add_argument("--seeds", type=positive_int, default=3, help="training seeds per configuration (0, 1, …)")
    test.add_argument("--epochs", type=positive_int, default=50, help="training epochs")
    test.add_argument("--out", type=folder_path, default=Path("."),
                      help=f"folder for {RESULTS_FILE}, {REPORT_FILE} and {CONFUSION_FIGURE}")
    test.add_argument("--data_dir", type=folder_path, default=DEFAULT_DATA_DIR, help="ImageFolder dataset")
    test.add_argument("--objective", choices=list(OBJECTIVES), default=DEFAULT_OBJECTIVE,
                      help="the accuracy the tables report and McNemar's tests compare (the searches' --objective)")
    add_device_arguments(test)
    return parser


def make_plots(args: argparse.Namespace) -> list[Path]:
    runs = find_runs(args.runs)
    paths = trace_figures(runs, args.out, args.prefix)
    paths += [candidates_figure(run, args.out, args.prefix) for run in runs]
    return paths


def show_fronts(args: argparse.Namespace) -> None:
    """Print each run's front report and draw its figure (named after the run too where there are several)."""
    runs = find_runs(args.runs)
    for run in runs:
        path = front_figure(run, args.out, args.prefix if len(runs) == 1 else f"{args.prefix}_{run.name}")
        print(f"{front_report(run)}\nFigure: {path}\n")


def run_tests(args: argparse.Namespace) -> Path:
    candidates = [candidate_from(path) for path in args.configs] + ([default_candidate()] if args.default else [])
    if not candidates:
        raise UsageError("no configuration to measure: give opt_cfg files or run folders, or --default")
    names = [c.name for c in candidates]
    if len(set(names)) < len(names):
        raise UsageError(f"two configurations share a name: {sorted({n for n in names if names.count(n) > 1})}")
    ensure_data(args.data_dir)
    train, test = load_dataset(args.data_dir, with_test=True, objective=args.objective)
    results = evaluate(candidates, range(args.seeds), args.epochs, train, test, args.out, str(args.data_dir),
                       args.device)
    results = results[results["name"].isin(names) & (results["epochs"] == args.epochs)
                      & results["seed"].isin(range(args.seeds)) & (results["data_dir"] == str(args.data_dir))]
    warnings = "".join(f"Warning: {w}.\n\n" for w in class_warnings(train, args.objective))
    path = args.out / REPORT_FILE
    atomic_write_text(path, warnings + report(results, args.epochs, args.objective))
    _confusion_of_best(results, train.classes, args.out / CONFUSION_FIGURE, args.objective)
    return path


def _confusion_of_best(results: pd.DataFrame, classes: list[str], path: Path, objective: str) -> None:
    """The confusion matrix of the configuration with the best mean test accuracy, summed over its seeds."""
    summary = summary_table(results, objective).dropna(subset=["mean_accuracy"])
    if summary.empty:
        return
    best = summary.sort_values("mean_accuracy", ascending=False).iloc[0]["configuration"]
    rows = results[(results["name"] == best) & (results["status"] == Status.OK)]
    confusion = sum(np.array(json.loads(text)) for text in rows["confusion"])
    confusion_figure(confusion, classes, f"Test confusion matrix of {best} (sum over {len(rows)} seeds)", path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "plots":
            paths = make_plots(args)
            print(f"{len(paths)} figures in {args.out}")
        elif args.command == "front":
            show_fronts(args)
        else:
            set_threads(args.threads)
            path = run_tests(args)
            print(path.read_text())
            print(f"results: {args.out / RESULTS_FILE}, {path}")
    except UsageError as error:
        fail(str(error), "evaluation.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
