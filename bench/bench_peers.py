"""The tools a user would pick instead, on this project's target, space, folds and constraints, at equal wall time:
DEHB (differential evolution with Hyperband over the same epoch budgets) and Optuna's TPE (its constraints
function for the precision), each answer then trained on all of train/ and measured on test/ like ours.

Every evaluation trains and measures all 3 folds (the same folds as a search with that seed); a configuration over
the size (or flash, RAM) limit is repaired as the search repairs it, so no peer trains a network that breaks it. The
best feasible result at --max_budget is the answer. Each run writes evaluations.jsonl (one line per evaluation, as it
finishes), opt_cfg.json and result_test.json (main.py -t) into OUT/METHOD_seedN; finished runs are skipped.
DEHB 0.1.2 needs numpy < 2, so the peers have a virtual environment of their own:
  python3 -m venv .venv-peers && .venv-peers/bin/pip install -r bench/requirements-peers.txt
  .venv-peers/bin/python bench/bench_peers.py --methods dehb tpe --seeds 0 1 2 --threads 1
Usage: python bench/bench_peers.py [--methods dehb tpe] [--seeds 0 1 2] [--max_time 600] [--max_size 2e7]
       [--max_flash BYTES] [--max_ram BYTES] [--int8]
       [--min_precision 0.39] [--max_budget 50] [--data_dir DIR] [--objective top3] [--threads N] [--out DIR]
       [--test_python .venv/bin/python]
"""
from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from ConfigSpace import CategoricalHyperparameter, OrdinalHyperparameter
from ConfigSpace.hyperparameters import IntegerHyperparameter

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
from training.data import load_dataset  # noqa: E402
from training.metrics import DEFAULT_OBJECTIVE, OBJECTIVES, objective_key  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR, ensure_data  # noqa: E402
from budget.closed_forms import network_costs  # noqa: E402
from budget.limits import Limits  # noqa: E402
from search.repair import repair  # noqa: E402
from search.space import MAX_CONV_LAYERS, MAX_FC_LAYERS, conv_key, fc_key, load_config, space  # noqa: E402
from target import Target  # noqa: E402
from utils import atomic_write_json, parse_size  # noqa: E402

log = logging.getLogger("bench_peers")
RESERVE_SECONDS = 3.0  # as the search keeps for its last writes


class Evaluator:
    """The objective both peers call: repair, train on all folds to `budget` epochs before the deadline, record."""

    def __init__(self, args: argparse.Namespace, seed: int, out: Path):
        ensure_data(args.data_dir)
        train, _ = load_dataset(args.data_dir)
        self.target = Target(train, seed=seed, max_budget=args.max_budget, device="cpu")
        self.shape, self.classes = train.input_shape, train.num_classes
        self.limits, self.min_precision = Limits(args.max_size, None, args.max_flash, args.max_ram), args.min_precision
        self.metric, self.max_budget = objective_key(args.objective), args.max_budget
        self.rng = np.random.default_rng(seed)
        self.start = time.monotonic()
        self.deadline = self.start + args.max_time - RESERVE_SECONDS
        self.log_path = out / "evaluations.jsonl"
        self.best: dict[str, Any] | None = None

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def __call__(self, raw: dict[str, Any], budget: int) -> dict[str, Any]:
        config = repair(load_config(raw), space(), self.shape, self.classes, self.limits, None, self.rng)
        epochs = max(1, int(round(budget)))  # DEHB's fidelities are real numbers: 50/9, 50/3, 50
        result = self.target(config, epochs, deadline=self.deadline).to_dict()
        record = {"time": time.monotonic() - self.start, "budget": epochs, "configuration": config,
                  **{key: result[key] for key in ("status", "top3_accuracy", "top1_accuracy", "precision",
                                                  "model_size", "train_seconds")},
                  **network_costs(config, self.shape, self.classes)._asdict()}
        record["feasible"] = record["status"] == "ok" and record["precision"] >= self.min_precision
        with self.log_path.open("a") as handle:  # appended as it finishes: a stopped run keeps what it measured
            handle.write(json.dumps(record) + "\n")
        if record["feasible"] and record["budget"] >= self.max_budget and (
                self.best is None or record[self.metric] > self.best[self.metric]):
            self.best = record
            atomic_write_json(self.log_path.with_name("opt_cfg.json"), config)
        return record

    def loss(self, record: dict[str, Any]) -> float:
        """Lower is better, feasible first: 1 - accuracy, else 2 - precision (a failed training: 3)."""
        if record["status"] != "ok":
            return 3.0
        return 1.0 - record[self.metric] if record["feasible"] else 2.0 - record["precision"]


def run_dehb(evaluate: Evaluator, args: argparse.Namespace, seed: int, out: Path) -> None:
    from dehb import DEHB

    def objective(config, fidelity, **kwargs):
        record = evaluate(dict(config), fidelity)
        return {"fitness": evaluate.loss(record), "cost": record["train_seconds"]}

    dehb = DEHB(f=objective, cs=space(), dimensions=len(list(space())), min_fidelity=args.max_budget / 9,
                max_fidelity=args.max_budget, eta=3, n_workers=1, output_path=str(out / "dehb"), seed=seed)
    dehb.run(total_cost=max(evaluate.time_left(), 0.0))


def suggest(trial) -> dict[str, Any]:
    """This project's space as Optuna asks it, define-by-run: a layer's width only where the layer exists."""
    values = {}
    for name, hp in space().items():
        if name.startswith(("n_channels_conv_", "n_channels_fc_")):
            continue
        if isinstance(hp, CategoricalHyperparameter):
            values[name] = trial.suggest_categorical(name, list(hp.choices))
        elif isinstance(hp, OrdinalHyperparameter):
            values[name] = trial.suggest_categorical(name, list(hp.sequence))
        elif isinstance(hp, IntegerHyperparameter):
            values[name] = trial.suggest_int(name, int(hp.lower), int(hp.upper), log=hp.log)
        else:
            values[name] = trial.suggest_float(name, float(hp.lower), float(hp.upper), log=hp.log)
    for count, key, most in (("n_conv_layers", conv_key, MAX_CONV_LAYERS), ("n_fc_layers", fc_key, MAX_FC_LAYERS)):
        for i in range(min(values[count], most)):
            hp = space()[key(i)]
            values[key(i)] = trial.suggest_int(key(i), int(hp.lower), int(hp.upper), log=hp.log)
    return values


def run_tpe(evaluate: Evaluator, args: argparse.Namespace, seed: int, out: Path) -> None:
    import optuna

    def objective(trial) -> float:
        record = evaluate(suggest(trial), args.max_budget)
        ok = record["status"] == "ok"
        trial.set_constraint("precision", args.min_precision - record["precision"] if ok else 1.0)  # > 0: infeasible
        return record[evaluate.metric] if ok else 0.0

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, timeout=max(evaluate.time_left(), 0.0))


PEERS: dict[str, Callable] = {"dehb": run_dehb, "tpe": run_tpe}


def run_one(method: str, seed: int, args: argparse.Namespace) -> Path:
    out = args.out / f"{method}_seed{seed}"
    if (out / "result_test.json").exists() or (out / "no_result.txt").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluations.jsonl").unlink(missing_ok=True)
    evaluate = Evaluator(args, seed, out)
    PEERS[method](evaluate, args, seed, out)
    if evaluate.best is None:
        (out / "no_result.txt").write_text("no feasible evaluation at max_budget\n")
        return out
    threads = ["--threads", str(args.threads)] if args.threads else []
    limits = [arg for flag in ("max_flash", "max_ram") if getattr(args, flag) is not None
              for arg in (f"--{flag}", str(getattr(args, flag)))]
    saved = ["--save", str(out / "model"), "--int8"] if args.int8 else []
    subprocess.run([args.test_python, "src/main.py", "-c", str(out / "opt_cfg.json"), "-t", "-e", str(args.max_budget),
                    "--seed", str(seed), "--objective", args.objective, "--data_dir", str(args.data_dir),
                    "--output_dir", str(out), *limits, *saved, *threads], cwd=REPO, check=False,
                   stdout=subprocess.DEVNULL)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", choices=list(PEERS), default=list(PEERS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--max_time", type=float, default=600)
    parser.add_argument("--max_size", type=parse_size, default=20_000_000)
    parser.add_argument("--max_flash", type=parse_size, help="bytes of the int8 network's tensors")
    parser.add_argument("--max_ram", type=parse_size, help="bytes of int8 activations alive at once")
    parser.add_argument("--int8", action="store_true",
                        help="main.py also saves the answer with its int8 file and model card (--save OUT/model)")
    parser.add_argument("--min_precision", type=float, default=0.39)
    parser.add_argument("--max_budget", type=int, default=50)
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--objective", choices=list(OBJECTIVES), default=DEFAULT_OBJECTIVE)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--out", type=Path, default=REPO / "runs_precision" / "bench_peers")
    parser.add_argument("--test_python", default=str(REPO / ".venv" / "bin" / "python"),
                        help="the project's interpreter, for main.py -t (the peers' environment lacks onnx)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    for method in args.methods:
        for seed in args.seeds:
            out = run_one(method, seed, args)
            test = json.loads((out / "result_test.json").read_text())["metrics"] \
                if (out / "result_test.json").exists() else {}
            evaluations = len((out / "evaluations.jsonl").read_text().splitlines())
            print(f"{method} seed {seed}: {evaluations} evaluations; test top-3 "
                  f"{test.get('top3_accuracy', float('nan')):.4f}, top-1 {test.get('top1_accuracy', float('nan')):.4f}")


if __name__ == "__main__":
    main()
