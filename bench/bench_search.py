"""EA with Hyperband vs plain EA vs random search at equal wall time and from the same starting points, then each
answer on the test set.

For every warm start (--warm_starts: the portfolio, or none: a search from scratch), method and seed: one search of
--max_time seconds (validation on train/ only), then `main.py -t -e 50` trains the returned configuration on all
of train/ and measures it on test/. Prints, per warm start, the best feasible validation top-3 accuracy reached
over time (median over seeds), and for every run its evaluations, the budgets it trained, the children it bred,
the rank correlation of its lowest budget with its highest (Spearman over members measured at both), where the
answer came from and its test figures. Finished runs are kept and skipped when the script is run again; runs go
to OUT/WARM_START/METHOD_seedN. `--methods` and `--warm_starts` choose a part (for two processes on two cores).
On another dataset (--data_dir, e.g. one written by bench/datasets.py), --objective top1 is the one that means
something with ten easy classes.
Usage: python bench/bench_search.py [--max_time 600] [--seeds 0 1 2] [--max_size 2e7] [--min_precision 0.39]
                                    [--warm_starts portfolio none] [--methods ...] [--threads N] [--out DIR]
                                    [--data_dir micro17flower] [--objective top3]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
from training.metrics import DEFAULT_OBJECTIVE, OBJECTIVES, objective_label  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR  # noqa: E402
from reporting.runs import find_runs  # noqa: E402

METHODS = {
    "ea_hyperband": ["src/AutoML.py", "--hyperband", "True"],
    "ea_hyperband_10_children": ["src/AutoML.py", "--hyperband", "True", "--num_children", "10"],
    "ea_hyperband_inherit": ["src/AutoML.py", "--hyperband", "True", "--inherit", "True"],
    "ea_hyperband_8_candidates": ["src/AutoML.py", "--hyperband", "True", "--candidates", "8"],
    "ea_plain": ["src/AutoML.py", "--hyperband", "False"],
    "random_search": ["src/AutoML_random_search.py"],
}
WARM_STARTS = ("portfolio", "none")


def run_one(warm_start: str, method: str, seed: int, args: argparse.Namespace) -> Path:
    out = args.out / warm_start / f"{method}_seed{seed}"
    if (out / "result_test.json").exists() or (out / "no_result.txt").exists():
        return out
    threads = ["--threads", str(args.threads)] if args.threads else []
    data = ["--data_dir", str(args.data_dir), "--objective", args.objective]
    search = [sys.executable, *METHODS[method], "--constraint_max_model_size", str(args.max_size),
              "--constraint_min_precision", str(args.min_precision), "--max_time", str(args.max_time),
              "--seed", str(seed), "--warm_start", warm_start, "--output_dir", str(out), "--quiet", *threads, *data]
    subprocess.run(search, cwd=REPO, check=False)
    if not (out / "opt_cfg.json").exists():
        out.mkdir(parents=True, exist_ok=True)  # a search that stopped at once (bad input) made no folder
        (out / "no_result.txt").write_text("the search returned no configuration\n")
        return out
    test = [sys.executable, "src/main.py", "-c", str(out / "opt_cfg.json"), "-t", "-e", "50", "--seed", str(seed),
            "--output_dir", str(out), *threads, *data]
    subprocess.run(test, cwd=REPO, check=False, stdout=subprocess.DEVNULL)
    return out


def best_over_time(out: Path, grid: np.ndarray) -> np.ndarray:
    """Best feasible validation top-3 accuracy reached by each time of the grid (NaN before the first)."""
    run = next(out.glob("automl_run_*.json"), None)
    if run is None:
        return np.full(len(grid), np.nan)
    table = pd.read_csv(out / f"{run.stem.removeprefix('automl_run_')}.csv")
    best = table["best_feasible_acc"].cummax()
    return np.array([best[table["time"] <= t].max() if (table["time"] <= t).any() else np.nan for t in grid])


def test_figures(out: Path) -> dict:
    path = out / "result_test.json"
    if not path.exists():
        return {"test_top3": np.nan, "test_top1": np.nan, "test_precision": np.nan}
    metrics = json.loads(path.read_text())["metrics"]
    return {"test_top3": metrics["top3_accuracy"], "test_top1": metrics.get("top1_accuracy", np.nan),
            "test_precision": metrics["precision"]}


def run_row(out: Path) -> dict:
    """What one search did and returned."""
    runs = find_runs([out]) if list(out.glob("automl_run_*.json")) else []
    if not runs:
        return {}
    run = runs[0]
    stats = run.statistics()
    best = run.best or {}
    return {"evaluations": stats["evaluations"], "budgets": " ".join(map(str, stats["budgets"])),
            "children": stats["children"], "rank_pairs": stats["rank_pairs"],
            "rank_correlation": stats["rank_correlation"], "answer": run.answer_origin,
            "parameters": best.get("model_size"), "val_top3": best.get("top3_accuracy"),
            "val_top1": best.get("top1_accuracy", np.nan), **test_figures(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_time", type=float, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max_size", default="2e7")
    parser.add_argument("--min_precision", type=float, default=0.39)
    parser.add_argument("--warm_starts", nargs="+", choices=WARM_STARTS, default=list(WARM_STARTS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--threads", type=int, help="torch threads of each search and test (default: torch's)")
    parser.add_argument("--out", type=Path, default=REPO / "runs_precision" / "bench_search")
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR, help="ImageFolder dataset")
    parser.add_argument("--objective", choices=list(OBJECTIVES), default=DEFAULT_OBJECTIVE)
    args = parser.parse_args()
    for warm_start in args.warm_starts:
        for method in args.methods:
            for seed in args.seeds:
                run_one(warm_start, method, seed, args)
    grid = np.linspace(args.max_time / 10, args.max_time, 10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; --max_time {args.max_time:.0f} s, "
          f"constraints ({args.max_size}, {args.min_precision}), seeds {args.seeds}, data {args.data_dir}, "
          f"objective {args.objective}")
    for warm_start in args.warm_starts:
        curves = {m: pd.DataFrame([best_over_time(args.out / warm_start / f"{m}_seed{s}", grid)
                                   for s in args.seeds]).median().to_numpy() for m in args.methods}
        print(f"\nwarm start {warm_start}: best feasible validation {objective_label(args.objective)} by time, "
              "median over seeds:")
        print(pd.DataFrame(curves, index=[f"{t:.0f} s" for t in grid]).round(4).to_string())
    rows = [{"warm_start": folder.parent.name, "method": folder.name.rsplit("_seed", 1)[0],
             "seed": int(folder.name.rsplit("_seed", 1)[1]), **run_row(folder)}
            for folder in sorted(args.out.glob("*/*_seed*")) if folder.is_dir()]
    table = pd.DataFrame(rows)
    print("\nevery run in the folder (all warm starts and methods): its search, and its answer trained 50 epochs on "
          "all of train/ and measured on test/:")
    print(table.round(4).to_string(index=False))
    table.to_csv(args.out / "summary_test.csv", index=False)
    print("\nmedian over seeds:")
    print(table.groupby(["warm_start", "method"])[["evaluations", "children", "rank_correlation", "val_top3",
                                                  "val_top1", "test_top3", "test_top1"]].median().round(4).to_string())


if __name__ == "__main__":
    main()
