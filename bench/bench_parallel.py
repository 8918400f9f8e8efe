"""One process against Dask workers at equal wall time: the search at (1e6, 0.39), the regime of small networks.

Three searches of --max_time seconds on the real data, seed 0, one after the other (nothing else should run):
  in_process  one process with 2 torch threads: synchronous Hyperband brackets, the path without workers
  workers_1   one Dask worker with 2 threads: asynchronous successive halving (ASHA)
  workers_2   two Dask workers with 1 thread each: ASHA, two jobs side by side
then each answer trained on all of train/ for 50 epochs and measured on test/ (`main.py -t`).
Prints per run: evaluations finished, epochs trained and per second, slot utilisation (busy worker-seconds over
slots × run seconds), the best feasible validation top-3 reached by each minute and the answer's test top-3;
then each worker run against the in-process one. Last, the same work both ways: each of the first three
portfolio members (as repaired for 1e6) trained for 10 epochs in one process with 2 threads, and twice at once in
two processes with 1 thread each; 2 × one-process time / side-by-side time is what two workers can gain on it.
Finished runs in --out are kept and not rerun.
Usage: python bench/bench_parallel.py [--max_time 300] [--out bench/results/parallel]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from search.successive_halving import N_FOLDS  # noqa: E402
from running.job_runner import job_spec, run_job  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR  # noqa: E402
from status import Status  # noqa: E402

RUNS = {"in_process": ["--threads", "2"],
        "workers_1": ["--n_workers", "1", "--threads", "2"],
        "workers_2": ["--n_workers", "2", "--threads", "1"]}
SLOTS = {"in_process": 1, "workers_1": 1, "workers_2": 2}
MAX_SIZE, MIN_PRECISION, SEED, TEST_EPOCHS = "1e6", "0.39", 0, 50
SCALING_EPOCHS = 10


def run_one(name: str, args: argparse.Namespace) -> Path:
    out = args.out / name
    if not (out / "opt_cfg.json").exists():
        subprocess.run([sys.executable, "src/AutoML.py", "--constraint_max_model_size", MAX_SIZE,
                        "--constraint_min_precision", MIN_PRECISION, "--max_time", str(args.max_time),
                        "--seed", str(SEED), "--output_dir", str(out), "--quiet", *RUNS[name]],
                       cwd=REPO, check=False)
    if (out / "opt_cfg.json").exists() and not (out / "result_test.json").exists():
        subprocess.run([sys.executable, "src/main.py", "-c", str(out / "opt_cfg.json"), "-t", "-e", str(TEST_EPOCHS),
                        "--seed", str(SEED), "--threads", "2", "--output_dir", str(out)],
                       cwd=REPO, check=False, stdout=subprocess.DEVNULL)
    return out


def figures(name: str, out: Path, max_time: float) -> dict:
    """What one run did, from its files."""
    run_file = next(out.glob("automl_run_*.json"))
    run = json.loads(run_file.read_text())
    evaluations = pd.DataFrame(run["evaluations"])
    spans = [w["end"] - w["start"] for w in evaluations["worker"] if isinstance(w, dict)]
    table = pd.read_csv(out / f"{run_file.stem.removeprefix('automl_run_')}.csv")
    best = table["best_feasible_acc"].cummax()
    test = out / "result_test.json"
    row = {"run": name, "evaluations": int((evaluations["status"] == Status.OK).sum()),
           "jobs": len(evaluations), "epochs": int(evaluations["epochs_this_call"].sum()),
           "epochs_per_s": evaluations["epochs_this_call"].sum() / max_time,
           "utilisation": sum(spans) / (SLOTS[name] * max_time) if spans else np.nan,
           "test_top3": (json.loads(test.read_text())["metrics"]["top3_accuracy"] if test.exists() else np.nan),
           "answer_val_top3": run["best"]["top3_accuracy"] if run["best"] else np.nan,
           "answer_size": run["best"]["model_size"] if run["best"] else np.nan}
    for minute in range(1, int(max_time // 60) + 1):
        reached = best[table["time"] <= 60 * minute]
        row[f"best@{minute}min"] = reached.max() if len(reached) else np.nan
    return row


_START = None  # a barrier: processes side by side start training together


def _keep_barrier(barrier) -> None:
    global _START
    _START = barrier


def train_seconds(config: dict, threads: int) -> float:
    """Seconds one job of SCALING_EPOCHS epochs (3 folds) takes in this process with `threads` torch threads."""
    spec = job_spec(config, SCALING_EPOCHS, N_FOLDS, None, None, 1e12, str(DEFAULT_DATA_DIR), SEED, 50, "cpu", threads)
    run_job({**spec, "budget": 1})  # loads the data and warms up
    if _START is not None:
        _START.wait()
    return run_job(spec)["train_seconds"]


def thread_scaling(out: Path) -> pd.DataFrame:
    """The first three portfolio members of the in-process run: one process with 2 threads against two
    processes with 1 thread each, side by side."""
    run = json.loads(next((out / "in_process").glob("automl_run_*.json")).read_text())
    rows = []
    context = multiprocessing.get_context("spawn")
    for entry in run["evaluations"][:3]:
        with context.Pool(1) as one:
            alone = one.apply(train_seconds, (entry["configuration"], 2))
        with context.Pool(2, initializer=_keep_barrier, initargs=(context.Barrier(2),)) as two:
            side_by_side = max(two.starmap(train_seconds, [(entry["configuration"], 1)] * 2))
        rows.append({"member": entry["member"], "parameters": entry["model_size"],
                     "one_process_2_threads_s": alone, "two_processes_1_thread_s": side_by_side,
                     "two_workers_gain": 2 * alone / side_by_side})
    return pd.DataFrame(rows).set_index("member")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max_time", type=float, default=300.0)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "parallel")
    args = parser.parse_args()
    rows = [figures(name, run_one(name, args), args.max_time) for name in RUNS]
    table = pd.DataFrame(rows).set_index("run")
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; search at size {MAX_SIZE}, precision "
          f"{MIN_PRECISION}, {args.max_time:.0f} s, seed {SEED}; answers trained {TEST_EPOCHS} epochs on train/")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.float_format", "{:.3f}".format):
        print(table.T)
        base = table.loc["in_process"]
        ratios = pd.DataFrame({name: {"epochs_per_s": table.loc[name, "epochs_per_s"] / base["epochs_per_s"],
                                      "test_top3_difference": table.loc[name, "test_top3"] - base["test_top3"]}
                               for name in RUNS if name != "in_process"})
        print("\nagainst in_process:")
        print(ratios)
        print(f"\nthe same work both ways ({SCALING_EPOCHS} epochs, 3 folds):")
        print(thread_scaling(args.out))


if __name__ == "__main__":
    main()
