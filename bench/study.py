"""The constraint study: EA with Hyperband across precision and size limits, then every figure and table.

Runs whatever is missing, then regenerates everything from the committed run files:
1. one search per study setting (`--max_time 300`, seed 0): minimum precision 0.39 … 0.80 at size 2e7 in
   runs_precision/study/, maximum size 1e8 … 5e3 at precision 0.39 in runs_params/study/ (a stopped search
   is resumed);
2. `evaluation.py test` of each study answer, and of the three-optimizer comparison at (2e7, 0.39)
   (runs_precision/bench_search/) with the default configuration, for the McNemar tests;
3. `evaluation.py plots` into figures/, runs_precision/REPORT.md, runs_params/REPORT.md and the README's
   results table.
Running it again with nothing missing only regenerates; `--steps reports` never trains. The steps can run in
separate processes, e.g. the searches pinned to one core and the comparison's test-set training to the other:
taskset -c 0 python bench/study.py --steps searches study_tests --threads 1 &
taskset -c 1 python bench/study.py --steps comparison_tests --threads 1
Usage: python bench/study.py [--steps searches comparison_tests study_tests reports] [--threads N]
                             [--test_seeds 3]
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from study_report import write_reports
from status import Status  # noqa: E402 (study_report puts src/ on the path)

REPO = Path(__file__).resolve().parent.parent
MAX_TIME = 300
SEED = 0
PRECISIONS = (0.39, 0.40, 0.42, 0.60, 0.70, 0.80)  # at size 2e7; the first three are the published ones
SIZES = ("1e8", "5e7", "4e6", "2e6", "1e5", "2e4", "5e3")  # at precision 0.39; the first four are published
BASE_SIZE, BASE_PRECISION = "2e7", 0.39
EPOCHS = 50  # of each answer's training on all of train/ before it is measured on test/
COMPARISON = REPO / "runs_precision" / "bench_search"  # EA with Hyperband, plain EA, random search: 600 s, 3 seeds
WARM_STARTS = ("portfolio", "none")  # the comparison's folders: every optimizer from the same starting points
FAMILIES = {"precision": REPO / "runs_precision" / "study", "size": REPO / "runs_params" / "study"}
PEERS = REPO / "runs_precision" / "bench_peers"  # bench/bench_peers.py: DEHB and Optuna's TPE, 600 s, 3 seeds
COMPARISONS = {"precision": COMPARISON, "size": REPO / "runs_params" / "bench_search"}  # bench/bench_search.py runs
FIGURES = REPO / "figures"
DATASETS = REPO / "runs_datasets"  # bench/bench_search.py --data_dir bench/data/NAME --objective top1, 300 s

log = logging.getLogger("study")


@dataclass(frozen=True)
class Setting:
    """One study search: its constraints and the folder its files go to."""

    max_size: str
    min_precision: float
    folder: Path

    @property
    def label(self) -> str:
        return f"size ≤ {self.max_size}, precision ≥ {self.min_precision:.2f}"


def settings() -> list[Setting]:
    precision = [Setting(BASE_SIZE, p, REPO / "runs_precision" / "study" / f"min_precision_{p:.2f}")
                 for p in PRECISIONS]
    size = [Setting(s, BASE_PRECISION, REPO / "runs_params" / "study" / f"max_size_{s}") for s in SIZES]
    return precision + size


def run_file(folder: Path) -> Path | None:
    return next(iter(sorted(folder.glob("automl_run_*.json"))), None)


def search_finished(folder: Path) -> bool:
    path = run_file(folder)
    return path is not None and json.loads(path.read_text()).get("finished", False)


def search_command(setting: Setting, threads: int | None) -> list[str]:
    """A new search, or the resumption of one that was stopped."""
    extra = ["--threads", str(threads)] if threads else []
    stopped = run_file(setting.folder)
    if stopped is not None:
        return [sys.executable, "src/AutoML.py", "--resume", str(stopped.relative_to(REPO)), "--quiet", *extra]
    return [sys.executable, "src/AutoML.py", "--constraint_max_model_size", setting.max_size,
            "--constraint_min_precision", str(setting.min_precision), "--max_time", str(MAX_TIME),
            "--seed", str(SEED), "--output_dir", str(setting.folder.relative_to(REPO)), "--data_dir", "micro17flower",
            "--quiet", *extra]


def run_logged(command: list[str], log_path: Path) -> int:
    """Run one job, its output appended to log_path (kept next to the run's files)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    line = " ".join(["python", *command[1:]])
    log.info("running %s", line)
    with open(log_path, "a") as out:
        out.write(f"$ {line}\n")
        out.flush()
        return subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False).returncode


def run_all(jobs: list[tuple[list[str], Path]]) -> None:
    for command, log_path in jobs:
        run_logged(command, log_path)


def missing_searches(threads: int | None) -> list[tuple[list[str], Path]]:
    return [(search_command(s, threads), s.folder / "search.log") for s in settings()
            if not search_finished(s.folder)]


def answered(folders: list[Path]) -> list[Path]:
    """The run folders whose search returned a configuration (opt_cfg.json)."""
    return [folder for folder in folders if (folder / "opt_cfg.json").is_file()]


def tests_done(out: Path, names: list[str], seeds: int) -> bool:
    """test_results.csv in `out` holds every name with every seed, measured at 50 epochs."""
    path = out / "test_results.csv"
    if not path.exists():
        return False
    table = pd.read_csv(path)
    table = table[(table["epochs"] == EPOCHS) & (table["status"] == Status.OK)]
    return all(set(range(seeds)) <= set(table.loc[table["name"] == name, "seed"]) for name in names)


def test_command(folders: list[Path], out: Path, seeds: int, threads: int | None, default: bool = False) -> list[str]:
    extra = (["--threads", str(threads)] if threads else []) + (["--default"] if default else [])
    return [sys.executable, "src/evaluation.py", "test", *(str(f.relative_to(REPO)) for f in folders),
            "--seeds", str(seeds), "--epochs", str(EPOCHS), "--out", str(out.relative_to(REPO)),
            "--data_dir", "micro17flower", *extra]


def comparison_tests(seeds: int, threads: int | None) -> list[tuple[list[str], Path]]:
    """The comparison's answers on test/, one table per warm start (the answers of one warm start are compared
    with each other), with the default configuration (which trains far longer) beside the portfolio's; then the
    peers' answers (bench/bench_peers.py), compared with ours from scratch in the report."""
    jobs = []
    for warm_start in WARM_STARTS:
        out = COMPARISON / warm_start / "test"
        folders = answered(sorted(path for path in (COMPARISON / warm_start).glob("*_seed*") if path.is_dir()))
        default = warm_start == "portfolio"
        if folders and not tests_done(out, ["default"] * default + [f.name for f in folders], seeds):
            jobs.append((test_command(folders, out, seeds, threads, default=default), out / "test.log"))
    peers = answered(sorted(path for path in PEERS.glob("*_seed*") if path.is_dir())) if PEERS.is_dir() else []
    if peers and not tests_done(PEERS / "test", [f.name for f in peers], seeds):
        jobs.append((test_command(peers, PEERS / "test", seeds, threads), PEERS / "test" / "test.log"))
    return jobs


def study_tests(seeds: int, threads: int | None) -> list[tuple[list[str], Path]]:
    """The study's answers on test/, family by family."""
    jobs = []
    for family in FAMILIES.values():
        folders = answered([s.folder for s in settings() if s.folder.parent == family])
        if folders and not tests_done(family / "test", [f.name for f in folders], seeds):
            jobs.append((test_command(folders, family / "test", seeds, threads), family / "test" / "test.log"))
    return jobs


def make_figures() -> None:
    """Every figure of figures/ from the run files (quick: no training)."""
    plots = [*((folder / warm, f"{name}_comparison_{warm}") for name, folder in COMPARISONS.items()
               for warm in WARM_STARTS),
             *((family, f"{name}_study") for name, family in FAMILIES.items())]
    for source, prefix in plots:
        if source.exists() and list(source.rglob("automl_run_*.json")):
            subprocess.run([sys.executable, "src/evaluation.py", "plots", str(source.relative_to(REPO)), "--out",
                            "figures", "--prefix", prefix], cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    for source, prefix in ((COMPARISON / "portfolio" / "test", "precision_comparison"),
                           *((family / "test", f"{name}_study") for name, family in FAMILIES.items())):
        if (source / "confusion_best.png").exists():
            shutil.copyfile(source / "confusion_best.png", FIGURES / f"{prefix}_confusion_best.png")


STEPS = ("searches", "comparison_tests", "study_tests", "reports")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS),
                        help="what to do (default: all, in this order); 'reports' alone only regenerates")
    parser.add_argument("--threads", type=int, help="torch threads of each job (default: torch's choice)")
    parser.add_argument("--test_seeds", type=int, default=3, help="training seeds of each answer on test/")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if "searches" in args.steps:
        run_all(missing_searches(args.threads))
    if "comparison_tests" in args.steps:
        run_all(comparison_tests(args.test_seeds, args.threads))
    if "study_tests" in args.steps:
        run_all(study_tests(args.test_seeds, args.threads))
    if "reports" in args.steps:
        make_figures()
        write_reports(settings(), FAMILIES, COMPARISONS, DATASETS, PEERS)


if __name__ == "__main__":
    main()
