"""The benchmark at device limits: searches under flash and RAM limits in bytes on four datasets, every answer
trained on all of train/ and measured on test/ in float and int8, so that a one-point difference between optimizers
can be resolved (test sets as large as each dataset allows).

Tasks: micro17flower (top-3) and the digits, MNIST-5k and mfeat-pix copies of bench/datasets.py (top-1, written with
`--test all` into --data_root) at M = (flash 32,768 B, RAM 16,384 B); micro17flower, digits and mfeat-pix also at
S = (8,192 B, 8,192 B). The size limit stays at 2e7 parameters and the precision at 0.39, so the bytes bind.
Methods: EA with Hyperband (AutoML.py's defaults) and random search, from scratch (`--warm_start none`) on every task
and from the portfolio on micro17flower; DEHB and Optuna's TPE (bench/bench_peers.py, in .venv-peers) on
micro17flower M and digits M (the flower task, and the digits task where a full-budget evaluation is cheapest).
Each search runs --max_time seconds: 120 by default, because the networks these limits admit train an epoch in well
under a second, so two minutes evaluate dozens of them, while ten seeds of every cell still fit in an afternoon.
Then `main.py -t -e 50 --save model --int8` with the task's limits writes the answer's model card: test figures in
float and int8, flash and RAM in closed form and measured on the int8 file. Runs go to
OUT/TASK/WARM_START/METHOD_seedN; a finished run (a model card, or no_result.txt when there was no answer) is
skipped, an unfinished one redone whole; the loop is seed by seed, so that a stopped benchmark has as many seeds of
every cell. 22 runs a seed, each about 2 minutes (the search, then training and exporting its answer), 11 on each
core: with the defaults, about 4 hours on two cores.
First the data (the peers also need .venv-peers, see bench/bench_peers.py) and then two processes, each pinned to
its own core, each running every other run:
  for d in digits mnist mfeat_pix; do .venv/bin/python bench/datasets.py $d --out bench/data/$d --test all; done
  taskset -c 0 .venv/bin/python bench/bench_devices.py --shard 0 --shards 2 --threads 1 > devices_0.log 2>&1 &
  taskset -c 1 .venv/bin/python bench/bench_devices.py --shard 1 --shards 2 --threads 1 > devices_1.log 2>&1 &
then `python bench/devices_report.py` writes OUT/REPORT.md from whatever exists (also while they run).
Usage: python bench/bench_devices.py [--seeds 0 … 9] [--max_time 120] [--tasks …] [--methods …]
       [--out runs_devices] [--data_root bench/data] [--shard 0 --shards 1] [--threads N]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
from prepare_data import DEFAULT_DATA_DIR  # noqa: E402

MODEL_CARD = "model/model_card.json"


@dataclass(frozen=True)
class Task:
    name: str
    data: str  # micro17flower, or a dataset of bench/datasets.py under --data_root
    objective: str
    max_flash: int
    max_ram: int


M, S = (32_768, 16_384), (8_192, 8_192)
TASKS = {task.name: task for task in [
    Task("micro17flower_M", "micro17flower", "top3", *M), Task("digits_M", "digits", "top1", *M),
    Task("mnist_M", "mnist", "top1", *M), Task("mfeat_pix_M", "mfeat_pix", "top1", *M),
    Task("micro17flower_S", "micro17flower", "top3", *S), Task("digits_S", "digits", "top1", *S),
    Task("mfeat_pix_S", "mfeat_pix", "top1", *S)]}
SEARCHES = {"ea_hyperband": ["src/AutoML.py"], "random_search": ["src/AutoML_random_search.py"]}
PEERS = ("dehb", "tpe")
PEER_TASKS = ("micro17flower_M", "digits_M")
PORTFOLIO_TASKS = ("micro17flower_M", "micro17flower_S")


def cells(tasks: list[str], methods: list[str]) -> list[tuple[Task, str, str]]:
    """(task, warm start, method) of every run of one seed, in a fixed order."""
    out = []
    for name in tasks:
        for method in methods:
            if method in PEERS and name not in PEER_TASKS:
                continue
            warm_starts = ("none", "portfolio") if method in SEARCHES and name in PORTFOLIO_TASKS else ("none",)
            out += [(TASKS[name], warm_start, method) for warm_start in warm_starts]
    return out


def data_dir(task: Task, data_root: Path) -> Path:
    return DEFAULT_DATA_DIR if task.data == "micro17flower" else data_root / task.data


def finished(out: Path) -> bool:
    return (out / MODEL_CARD).exists() or (out / "no_result.txt").exists()


def search_command(task: Task, warm_start: str, method: str, seed: int, out: Path,
                   args: argparse.Namespace) -> list[str]:
    """One search of --max_time seconds (validation on train/ only) that leaves its answer in out/opt_cfg.json;
    a peer's run also trains and saves its answer (bench_peers.py --int8)."""
    threads = ["--threads", str(args.threads)] if args.threads else []
    data = ["--objective", task.objective, "--data_dir", str(data_dir(task, args.data_root))]
    if method in PEERS:
        return [str(REPO / ".venv-peers" / "bin" / "python"), "bench/bench_peers.py", "--methods", method,
                "--seeds", str(seed), "--out", str(out.parent), "--max_flash", str(task.max_flash), "--max_ram",
                str(task.max_ram), "--max_time", str(args.max_time), *data, "--int8", *threads]
    return [sys.executable, *SEARCHES[method], "--constraint_max_flash", str(task.max_flash), "--constraint_max_ram",
            str(task.max_ram), "--max_time", str(args.max_time), "--seed", str(seed), "--warm_start", warm_start,
            *data, "--output_dir", str(out), "--quiet", *threads]


def answer_command(task: Task, seed: int, out: Path, args: argparse.Namespace) -> list[str]:
    """The answer trained 50 epochs on all of train/, measured on test/ in float and int8, with its model card."""
    threads = ["--threads", str(args.threads)] if args.threads else []
    return [sys.executable, "src/main.py", "-c", str(out / "opt_cfg.json"), "-t", "-e", "50", "--seed", str(seed),
            "--objective", task.objective, "--data_dir", str(data_dir(task, args.data_root)), "--max_flash",
            str(task.max_flash), "--max_ram", str(task.max_ram), "--save", str(out / "model"), "--int8",
            "--output_dir", str(out), *threads]


def run_one(task: Task, warm_start: str, method: str, seed: int, args: argparse.Namespace) -> Path:
    out = args.out / task.name / warm_start / f"{method}_seed{seed}"
    if finished(out):
        return out
    shutil.rmtree(out, ignore_errors=True)  # a run stopped half way: redone whole, with the same seed
    out.mkdir(parents=True)
    subprocess.run(search_command(task, warm_start, method, seed, out, args), cwd=REPO, check=False,
                   stdout=subprocess.DEVNULL)
    if not (out / "opt_cfg.json").exists():
        (out / "no_result.txt").write_text("the search returned no configuration\n")
        return out
    if method not in PEERS:  # bench_peers.py trains and saves its answer itself
        subprocess.run(answer_command(task, seed, out, args), cwd=REPO, check=False, stdout=subprocess.DEVNULL)
    if not (out / MODEL_CARD).exists():
        (out / "no_result.txt").write_text("main.py wrote no model card\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--max_time", type=int, default=120, help="seconds of each search")
    parser.add_argument("--tasks", nargs="+", choices=list(TASKS), default=list(TASKS))
    parser.add_argument("--methods", nargs="+", choices=[*SEARCHES, *PEERS], default=[*SEARCHES, *PEERS])
    parser.add_argument("--out", type=Path, default=REPO / "runs_devices")
    parser.add_argument("--data_root", type=Path, default=REPO / "bench" / "data",
                        help="where bench/datasets.py wrote digits/, mnist/ and mfeat_pix/ (with --test all)")
    parser.add_argument("--shard", type=int, default=0, help="this process runs every --shards-th run from --shard")
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--threads", type=int, help="torch threads of each search and training")
    args = parser.parse_args()
    args.out, args.data_root = args.out.resolve(), args.data_root.resolve()  # the commands run in the repository
    missing = [task.data for task in map(TASKS.get, args.tasks)
               if task.data != "micro17flower" and not (args.data_root / task.data / "train").is_dir()]
    if missing:
        raise SystemExit(f"bench_devices.py: no {', '.join(sorted(set(missing)))} under {args.data_root}: write them "
                         "with python bench/datasets.py NAME --out DIR --test all")
    runs = [(cell, seed) for seed in args.seeds for cell in cells(args.tasks, args.methods)]
    for number, ((task, warm_start, method), seed) in enumerate(runs):
        if number % args.shards == args.shard:
            out = run_one(task, warm_start, method, seed, args)
            print(f"{task.name} {warm_start} {method} seed {seed}: "
                  f"{'done' if (out / MODEL_CARD).exists() else (out / 'no_result.txt').read_text().strip()}",
                  flush=True)


if __name__ == "__main__":
    main()
