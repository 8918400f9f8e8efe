"""The peers of bench/bench_peers.py (DEHB, Optuna's TPE) beside this project's optimizers from scratch, for
runs_precision/REPORT.md: the best feasible validation figure by time, each run, and the answers on test/ with
McNemar's tests against ours of the same search seed. Nothing here trains."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from reporting.holdout_tables import markdown_table, mcnemar_table, summary_table  # noqa: E402
from training.metrics import DEFAULT_OBJECTIVE, objective_key  # noqa: E402
from reporting.plots import value_at  # noqa: E402
from reporting.runs import Run, find_runs  # noqa: E402

PEER_LABELS = {"dehb": "DEHB", "tpe": "Optuna TPE"}
OURS = ("EA with Hyperband", "random search")  # this project's optimizers the peers are set beside
FOLDER = re.compile(r"(?P<method>[a-z]+)_seed(?P<seed>\d+)$")


def peer_folders(peers: Path) -> list[tuple[str, int, Path]]:
    """(method, seed, folder) of every peer run that recorded an evaluation."""
    found = [(FOLDER.match(f.name), f) for f in sorted(peers.iterdir()) if f.is_dir()] if peers.is_dir() else []
    return [(m["method"], int(m["seed"]), f) for m, f in found
            if m and m["method"] in PEER_LABELS and (f / "evaluations.jsonl").exists()]


def evaluations(folder: Path) -> pd.DataFrame:
    """A peer run's evaluations.jsonl (a torn last line, from a killed run, is left out)."""
    rows = []
    for line in (folder / "evaluations.jsonl").read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return pd.DataFrame(rows)


def peer_trace(records: pd.DataFrame, metric: str, max_budget: int) -> pd.DataFrame:
    """Best feasible figure at max_budget by time: what a search trace's best_feasible_acc says of ours."""
    full = records[records["feasible"] & (records["budget"] >= max_budget)]
    best = full[metric].cummax() if not full.empty else full[metric]
    return pd.DataFrame({"time": full["time"], "best_feasible_acc": best})


def anytime(peers: list[tuple[str, int, Path]], ours: list[Run], grid: np.ndarray, metric: str,
            max_budget: int) -> pd.DataFrame:
    """Median over seeds of the best feasible validation figure at each time of the grid, peers and ours."""
    curves: dict[str, list[np.ndarray]] = {}
    for method, _, folder in peers:
        trace = peer_trace(evaluations(folder), metric, max_budget)
        curves.setdefault(PEER_LABELS[method], []).append(value_at(trace, "best_feasible_acc", grid))
    for run in ours:
        curves.setdefault(run.optimizer, []).append(value_at(run.trace, "best_feasible_acc", grid))
    table = pd.DataFrame({name: pd.DataFrame(values).median().to_numpy() for name, values in curves.items()},
                         index=[f"{t:.0f} s" for t in grid])
    table.index.name = "time"
    return table.reset_index()


def run_rows(peers: list[tuple[str, int, Path]], metric: str, max_budget: int) -> pd.DataFrame:
    """Per peer run: evaluations, how many at max_budget, the answer's validation figure and main.py -t's test."""
    rows = []
    for method, seed, folder in peers:
        records = evaluations(folder)
        full = records[records["feasible"] & (records["budget"] >= max_budget)]
        test_path = folder / "result_test.json"
        test = json.loads(test_path.read_text())["metrics"] if test_path.exists() else {}
        rows.append({"peer": PEER_LABELS[method], "seed": seed, "evaluations": len(records),
                     f"at {max_budget} epochs": int((records["budget"] >= max_budget).sum()),
                     "val (answer)": full[metric].max() if not full.empty else np.nan,
                     "parameters": int(full.loc[full[metric].idxmax(), "model_size"]) if not full.empty else None,
                     "test (main.py -t)": test.get(metric, np.nan)})
    return pd.DataFrame(rows).astype({"parameters": "Int64"})


def test_tables(peers_test: Path, ours_test: Path) -> pd.DataFrame:
    """Our from-scratch answers' test table and the peers' (evaluation.py test), the peers labelled as their
    optimizer with their search seed, so that McNemar's pairs are drawn within one search seed."""
    ours = pd.read_csv(ours_test, dtype={"top3_hits": str, "top1_hits": str})
    theirs = pd.read_csv(peers_test, dtype={"top3_hits": str, "top1_hits": str})
    parts = theirs["name"].str.extract(FOLDER)
    theirs = theirs.assign(optimizer=parts["method"].map(PEER_LABELS), search_seed=parts["seed"].astype(int),
                           warm_start="none", origin="the peer's answer")
    return pd.concat([ours[ours["optimizer"].isin(OURS)], theirs], ignore_index=True)


def peers_section(peers: Path, scratch: Path, objective: str = DEFAULT_OBJECTIVE, max_budget: int = 50) -> str:
    """The Markdown section, or nothing before any peer run exists."""
    found = peer_folders(peers)
    if not found:
        return ""
    metric, seeds = objective_key(objective), sorted({seed for _, seed, _ in found})
    ours = [r for r in find_runs([scratch]) if r.optimizer in OURS and r.seed in seeds]
    end = max(float(r.settings["max_time"]) for r in ours) if ours else 600.0
    grid = np.linspace(end / 10, end, 10)
    text = (f"\n## The tools a user would pick instead: DEHB and Optuna's TPE, from scratch, seeds {seeds}\n\n"
            f"`.venv-peers/bin/python bench/bench_peers.py --methods dehb tpe --seeds {' '.join(map(str, seeds))} "
            f"--threads 1` (in `{peers.relative_to(REPO)}/`): this project's target, space, folds and size repair, "
            "every evaluation on all 3 folds, the same wall-clock deadline; two runs at a time, each pinned to its "
            "own core. Best feasible validation figure at "
            f"{max_budget} epochs by time, median over seeds, beside this project's optimizers from scratch on the "
            "same seeds:\n\n" + markdown_table(anytime(found, ours, grid, metric, max_budget))
            + "\nEach peer run (its answer trained 50 epochs on all of train/ with the search seed, measured on test/ "
              "by `main.py -t`):\n\n" + markdown_table(run_rows(found, metric, max_budget), ".4f"))
    peers_test, ours_test = peers / "test" / "test_results.csv", scratch / "test" / "test_results.csv"
    if peers_test.exists() and ours_test.exists():
        results = test_tables(peers_test, ours_test)
        tests = mcnemar_table(results, objective)
        theirs = set(results.loc[results["optimizer"].isin(PEER_LABELS.values()), "name"])
        tests = tests[tests["A"].isin(theirs) | tests["B"].isin(theirs)]
        text += ("\nThe peers' answers and ours from scratch on test/, 3 training seeds each (`python "
                 "bench/study.py --steps comparison_tests`), and McNemar's test of each peer's answer against ours "
                 "of the same search seed (majority of the training seeds per image):\n\n"
                 + markdown_table(summary_table(results, objective).drop(columns="mean_accuracy")) + "\n"
                 + markdown_table(tests))
    return text
