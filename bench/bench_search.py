"""EA with Hyperband vs plain EA vs random search at equal wall time, then each answer on the test set.

For every seed and method: one search of --max_time seconds (validation on train/ only), then
`main.py -t -e 50` trains the returned configuration on all of train/ and measures it on test/.
Prints the best feasible validation top-3 accuracy reached over time (median over seeds) and the test
figures of each returned configuration. Finished runs are kept and skipped when the script is run again.
Usage: python bench/bench_search.py [--max_time 600] [--seeds 0 1 2] [--out runs_precision/bench_search]
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
METHODS = {
    "ea_hyperband": ["src/AutoML.py", "--hyperband", "True"],
    "ea_plain": ["src/AutoML.py", "--hyperband", "False"],
    "random_search": ["src/AutoML_random_search.py"],
}


def run_one(method: str, seed: int, args: argparse.Namespace) -> Path:
    out = args.out / f"{method}_seed{seed}"
    if (out / "result_test.json").exists() or (out / "no_result.txt").exists():
        return out
    search = [sys.executable, *METHODS[method], "--constraint_max_model_size", str(args.max_size),
              "--constraint_min_precision", str(args.min_precision), "--max_time", str(args.max_time),
              "--seed", str(seed), "--output_dir", str(out), "--quiet"]
    subprocess.run(search, cwd=REPO, check=False)
    if not (out / "opt_cfg.json").exists():
        (out / "no_result.txt").write_text("the search returned no configuration\n")
        return out
    test = [sys.executable, "src/main.py", "-c", str(out / "opt_cfg.json"), "-t", "-e", "50", "--seed", str(seed),
            "--output_dir", str(out)]
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
        return {"test_top3": np.nan, "test_precision": np.nan, "model_size": np.nan}
    result = json.loads(path.read_text())
    return {"test_top3": result["metrics"]["top3_accuracy"], "test_precision": result["metrics"]["precision"],
            "model_size": result["metrics"]["model_size"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_time", type=float, default=600)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max_size", default="2e7")
    parser.add_argument("--min_precision", type=float, default=0.39)
    parser.add_argument("--out", type=Path, default=REPO / "runs_precision" / "bench_search")
    args = parser.parse_args()
    for method in METHODS:
        for seed in args.seeds:
            run_one(method, seed, args)
    grid = np.linspace(args.max_time / 10, args.max_time, 10)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores; --max_time {args.max_time:.0f} s, "
          f"constraints ({args.max_size}, {args.min_precision}), seeds {args.seeds}")
    curves = {}  # per method: the median over the seeds with a feasible result by then
    for m in METHODS:
        per_seed = pd.DataFrame([best_over_time(args.out / f"{m}_seed{s}", grid) for s in args.seeds])
        curves[m] = per_seed.median().to_numpy()
    print("best feasible validation top-3 accuracy by time, median over seeds:")
    print(pd.DataFrame(curves, index=[f"{t:.0f} s" for t in grid]).round(4).to_string())
    rows = [{"method": m, "seed": s, **test_figures(args.out / f"{m}_seed{s}")} for m in METHODS for s in args.seeds]
    table = pd.DataFrame(rows)
    print("returned configurations, trained 50 epochs on all of train/, measured on test/:")
    print(table.round(4).to_string(index=False))
    table.to_csv(args.out / "summary_test.csv", index=False)
    print("median test top-3 by method:")
    print(table.groupby("method")["test_top3"].median().round(4).to_string())


if __name__ == "__main__":
    main()
