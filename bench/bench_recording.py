"""What recording one evaluation costs a search that has already recorded 10, 1,000 or 10,000: the recorder of this
checkout against the one before the run journal (the newest commit whose src/search_run.py, as the file was then
named, has no journal), in one run on this machine.

Each version runs in its own process with its own src/ (the old one exported from git into a temporary folder): its
RunRecorder is given n recorded evaluations (and the optimizer n members, 50 of them the population), then the
time of each of the next --repeats calls of `record` is measured (the files written included, fsync and all).
Prints the median per version and n, and the ratios.
Usage: python bench/bench_recording.py [--counts 10 1000 10000] [--repeats 5] [--before REV]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import namedtuple
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POPULATION = 50
NO_COSTS = namedtuple("Costs", "parameters macs flash ram")(0, 0, 0, 0)  # what either recorder's costs_of (or
#                                                                        macs_of, before the journal) returns


def before_journal() -> str:
    """The newest commit whose recorder rewrote the whole run file (src/search_run.py, as it was then, without a
    Journal)."""
    commits = subprocess.run(["git", "log", "--format=%H", "--", "src/search_run.py"], cwd=REPO, check=True,
                             capture_output=True, text=True).stdout.split()
    for commit in commits:  # the log also lists the commit that moved the file away: it has no such file
        shown = subprocess.run(["git", "show", f"{commit}:src/search_run.py"], cwd=REPO, capture_output=True,
                               text=True)
        if shown.returncode == 0 and "class RunRecorder" in shown.stdout and "Journal" not in shown.stdout:
            return commit
    raise SystemExit("no commit of src/search_run.py predates the journal")


def export_src(commit: str, into: Path) -> Path:
    """src/ as it was at commit, written under `into`."""
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=REPO, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def measure(counts: list[int], repeats: int) -> dict[int, float]:
    """In the process of one version (its src/ first on sys.path): median seconds of one `record` call at each n."""
    from EA import Job
    from member import Member
    try:  # this checkout
        from running.run_log import RunFiles, RunRecorder
        from search.space import DEFAULT_CONFIG
    except ImportError:  # src/ before the journal, and before its rooms
        from run_files import RunFiles
        from search_run import RunRecorder
        from search_space import DEFAULT_CONFIG

    def result(i: int) -> dict:
        accuracy = 0.5 + (i % 97) / 200
        return {"top3_accuracy": accuracy, "top1_accuracy": accuracy / 2, "precision": 0.45, "model_size": 10_000,
                "epochs": 50, "fold_epochs": 150, "train_seconds": 10.0 + i % 13, "status": "ok", "message": "",
                "folds": [{"top3_accuracy": accuracy, "precision": 0.45, "top1_accuracy": accuracy / 2}] * 3}

    class Optimizer:
        def __init__(self):
            self.members: dict[int, Member] = {}
            self.population: list[Member] = []

        def told(self, i: int) -> Job:
            member = Member(id=i, config=dict(DEFAULT_CONFIG), model_size=10_000, origin={"kind": "random"})
            member.record(50, result(i), None)
            self.members[i] = member
            self.population = [*self.population[-(POPULATION - 1):], member]
            return Job(i, member, 50, 3, 150, None, None, 0)

    medians = {}
    for n in counts:
        with tempfile.TemporaryDirectory() as folder:
            optimizer = Optimizer()
            recorder = RunRecorder(RunFiles(Path(folder), "bench"), {"seed": 0}, 0.39, 3, lambda config: NO_COSTS)
            for i in range(n - 1):  # what a run of n - 1 evaluations holds in memory, recorded as it would be
                job = optimizer.told(i)
                recorder.evaluations.append({"evaluation": i, "job": i, "member": i, "origin": {"kind": "random"},
                                             "configuration": job.config, "budget": 50, "rung": 0,
                                             "seconds_left": 100.0, "epochs_this_call": 50, "time": float(i),
                                             **result(i), "macs": 0})
                recorder.rows.append({"step": i, "time": float(i), "evaluations": i + 1, "epochs_trained": 50 * i,
                                      "avg_acc": 0.7, "best_acc": 0.9, "avg_prec": 0.45, "best_prec": 0.45,
                                      "best_feasible_acc": 0.9})
            job = optimizer.told(n - 1)
            recorder.record(job, result(n - 1), 50, float(n), optimizer)  # the n-th: it may write the file whole
            seconds = []
            for i in range(n, n + repeats):
                job = optimizer.told(i)
                started = time.perf_counter()
                recorder.record(job, result(i), 50, float(i), optimizer)
                seconds.append(time.perf_counter() - started)
        medians[n] = sorted(seconds)[len(seconds) // 2]
    return medians


def run_version(src: Path, counts: list[int], repeats: int) -> dict[int, float]:
    code = (f"import sys, json; sys.path[:0] = [{str(src)!r}, {str(REPO / 'bench')!r}]; import bench_recording; "
            f"print(json.dumps(bench_recording.measure({counts!r}, {repeats})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=src.parent, check=True, capture_output=True, text=True)
    return {int(n): seconds for n, seconds in json.loads(out.stdout.splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 1000, 10000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", help="the commit of the recorder to compare with (default: before the journal)")
    args = parser.parse_args()
    commit = args.before or before_journal()
    with tempfile.TemporaryDirectory() as folder:
        before = run_version(export_src(commit, Path(folder)), args.counts, args.repeats)
    after = run_version(REPO / "src", args.counts, args.repeats)
    print(f"recording one evaluation after n recorded, median of {args.repeats} (before: {commit[:10]}, after: this "
          "checkout)")
    print(f"{'n':>7} {'before ms':>10} {'after ms':>9} {'before/after':>13}")
    for n in args.counts:
        print(f"{n:>7} {before[n] * 1e3:>10.2f} {after[n] * 1e3:>9.2f} {before[n] / after[n]:>13.1f}")
    first, last = min(args.counts), max(args.counts)
    print(f"the {last:,}th against the {first:,}th: before {before[last] / before[first]:.1f}x, "
          f"after {after[last] / after[first]:.1f}x")


if __name__ == "__main__":
    main()
