"""The target function: train (or continue) one configuration for a budget in epochs and measure it."""
from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold

from search.successive_halving import N_FOLDS
from budget.closed_forms import Costs, Work, count_macs, count_parameters, count_work, network_costs
from training.data import DataError, ImageData
from training.metrics import chance_top3, compute_metrics
from training.fold_run import FoldRun, TrainingDiverged
from training.schedules import decay_steps, decays
from status import Inherit, Mode, Status
from utils import UsageError, atomic_torch_save

log = logging.getLogger(__name__)

DEFAULT_EPOCHS = 50  # a full training: the search's --max_budget and main.py's -e, by default
ABANDON_AFTER = 2  # fold-epochs timed before a job may be abandoned as too slow for the deadline


@dataclass
class TargetResult:
    """What one evaluation measured; metrics are the mean over validation folds."""

    top3_accuracy: float
    precision: float
    model_size: int
    epochs: int
    train_seconds: float
    status: Status
    message: str = ""
    fold_epochs: int = 0  # epochs trained in this call, summed over the folds
    measure_epochs: float = 0.0  # epochs the rung's measuring decay trained on branches, summed over the folds
    folds: list[dict[str, float]] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    top1_accuracy: float = float("nan")
    error: str | None = None  # a failed training's exception type: OutOfMemoryError, or a bug's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def failure(cls, status: Status, message: str, model_size: int, error: str | None = None) -> TargetResult:
        """An evaluation that measured nothing (its worker died, or it was cancelled at the deadline)."""
        return cls(top3_accuracy=float("nan"), precision=0.0, model_size=model_size, epochs=0, train_seconds=0.0,
                   status=status, message=message, error=error)


def resolve_device(name: str = "auto") -> torch.device:
    """auto = CUDA when available, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: CUDA is not available on this machine")
    if name not in ("cpu", "cuda"):
        raise UsageError(f"--device: expected auto, cpu or cuda, got {name!r}")
    return torch.device(name)


def cv_splits(labels: np.ndarray, seed: int, n_folds: int = N_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds, identical for every configuration of a run with this seed."""
    smallest = int(np.bincount(labels).min())
    if smallest < n_folds:
        raise DataError(f"a class has {smallest} training images; {n_folds}-fold cross-validation needs {n_folds}")
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(folds.split(np.zeros(len(labels)), labels))


class Target:
    """Trains configurations on one dataset: 3-fold CV on train/ (mode "cv") or train/ → test/ (mode "test")."""

    def __init__(self, train: ImageData, test: ImageData | None = None, *, mode: Mode = Mode.CV, seed: int = 0,
                 max_budget: int = 50, device: str = "auto"):
        if mode == Mode.TEST and test is None:
            raise ValueError("mode 'test' needs the test split")
        self.mode, self.seed, self.max_budget = mode, seed, int(max_budget)
        self.device = resolve_device(device)
        self.num_classes, self.input_shape = train.num_classes, train.input_shape
        self.x = train.images.to(self.device).float().div_(255)
        self.y = train.labels.to(self.device)
        if mode == Mode.CV:
            self.splits = cv_splits(train.labels.numpy(), seed)
            self.x_test = self.y_test = None
        else:
            self.splits = [(np.arange(len(train.labels)), None)]
            self.x_test = test.images.to(self.device).float().div_(255)
            self.y_test = test.labels.to(self.device)

    @property
    def n_folds(self) -> int:
        return len(self.splits)

    @property
    def images_per_fold_epoch(self) -> float:
        """Training images one fold passes per epoch (the mean over folds): what a fold-epoch costs."""
        return float(np.mean([len(train_index) for train_index, _ in self.splits]))

    def model_size(self, config: Mapping[str, Any]) -> int:
        return count_parameters(config, self.input_shape, self.num_classes)

    def model_macs(self, config: Mapping[str, Any]) -> int:
        return count_macs(config, self.input_shape, self.num_classes)

    def model_costs(self, config: Mapping[str, Any]) -> Costs:
        return network_costs(config, self.input_shape, self.num_classes)

    def model_work(self, config: Mapping[str, Any]) -> Work:
        return count_work(config, self.input_shape, self.num_classes)

    def validation(self, fold: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels a fold is measured on: its held-out part of train/, or test/ in mode "test"."""
        val_index = self.splits[fold][1]
        if val_index is None:
            return self.x_test, self.y_test
        index = torch.as_tensor(val_index, device=self.device)
        return self.x[index], self.y[index]

    def fold_runs(self, config: Mapping[str, Any], folds: int | None = None) -> list[FoldRun]:
        """Fresh training states of the first `folds` folds (all by default), each seeded by its fold."""
        runs = []
        for fold, (train_index, _) in enumerate(self.splits[:folds]):
            index = torch.as_tensor(train_index, device=self.device)
            runs.append(FoldRun(config, self.x[index], self.y[index], self.num_classes,
                                self.seed * 1000 + fold, self.device))
        return runs

    def trained_runs(self, config: Mapping[str, Any], budget: int) -> list[FoldRun]:
        """One fresh run per fold trained to `budget` epochs, to score in other ways (bench/bench_tta.py)."""
        runs = self.fold_runs(config)
        self._train(runs, budget, None)
        return runs

    def __call__(self, config: Mapping[str, Any], budget: int, *, folds: int | None = None,
                 checkpoint_in: Path | None = None, checkpoint_out: Path | None = None,
                 deadline: float | None = None, inherit: Inherit | None = None) -> TargetResult:
        """Train `config` to `budget` epochs on the first `folds` folds (all by default), continuing from
        checkpoint_in (whose folds continue; folds it lacks start afresh), and measure them; never raises. With
        `inherit`, checkpoint_in is a parent's, of another configuration (see Inherit)."""
        started = time.perf_counter()
        size = self.model_size(config)
        runs: list[FoldRun] = []
        before, error_type = 0, None
        try:
            runs = self.fold_runs(config, folds)
            if checkpoint_in is not None and inherit is not None:
                self._inherit(runs, config, checkpoint_in, inherit)
            elif checkpoint_in is not None:
                self._restore(runs, config, checkpoint_in)
            before = sum(run.epoch for run in runs)
            decay = self._decay_epochs(runs, config, budget)
            status, message = self._train(runs, min(int(budget), self.max_budget), deadline, decay)
        except TrainingDiverged as error:
            status, message = Status.DIVERGED, str(error)
        except Exception as error:  # out of memory, or a bug: recorded as failed; the driver stops on repeats
            status, message, error_type = failed(error)
        epochs = runs[0].epoch if runs else 0
        fold_epochs = sum(run.epoch for run in runs) - before if runs else 0
        if status in (Status.OK, Status.STOPPED) and checkpoint_out is not None:
            atomic_torch_save({"config": dict(config), "max_budget": self.max_budget, "mode": self.mode,
                               "seed": self.seed, "folds": [run.state_dict() for run in runs]}, checkpoint_out)
        n_folds = len(self.splits[:folds])
        try:
            folds, confusion, measure_epochs, notes = self._measure(runs, status, n_folds, config, budget)
        except Exception as error:  # out of memory in the measuring decay, or a bug
            status, message, error_type = failed(error)
            folds, confusion, measure_epochs, notes = self._measure(runs, status, n_folds, config, budget)
        message = "; ".join(part for part in (message, *notes) if part)
        return TargetResult(
            top3_accuracy=float(np.mean([f["top3_accuracy"] for f in folds])),
            precision=float(np.mean([f["precision"] for f in folds])),
            model_size=size, epochs=epochs, train_seconds=time.perf_counter() - started,
            status=status, message=message, fold_epochs=fold_epochs, measure_epochs=measure_epochs, folds=folds,
            confusion=confusion,
            top1_accuracy=float(np.mean([f["top1_accuracy"] for f in folds])), error=error_type,
        )

    def _decays(self, config: Mapping[str, Any], budget: int) -> bool:
        """Whether a job to `budget` is measured after a decay: below max_budget, for a schedule that decays."""
        return budget < self.max_budget and decays(config["lr_schedule"])

    def _decay_epochs(self, runs: list[FoldRun], config: Mapping[str, Any], budget: int) -> float:
        """Fold-epochs the measuring decays will train once every fold has reached `budget` (FoldRun.decayed)."""
        if not self._decays(config, budget):
            return 0.0
        return sum(decay_steps(budget * run.steps_per_epoch()) / run.steps_per_epoch() for run in runs)

    def _inherit(self, runs: list[FoldRun], config: Mapping[str, Any], path: Path, inherit: Inherit) -> None:
        """Each fold the parent's checkpoint holds gives its state to the same fold of this run."""
        state = self._load(path, {"max_budget": self.max_budget, "mode": self.mode, "seed": self.seed})
        same_optimizer = state["config"]["optimizer"] == config["optimizer"]
        for run, fold_state in zip(runs, state["folds"]):
            if inherit == Inherit.CONTINUE:
                run.continue_from(fold_state, same_optimizer)
            else:
                run.take_fitting(fold_state["model"])

    def _restore(self, runs: list[FoldRun], config: Mapping[str, Any], path: Path) -> None:
        expected = {"config": dict(config), "max_budget": self.max_budget, "mode": self.mode, "seed": self.seed}
        state = self._load(path, expected)
        if len(state["folds"]) > len(runs):
            raise ValueError(f"checkpoint {path} holds {len(state['folds'])} folds, more than the {len(runs)} asked for")
        for run, fold_state in zip(runs, state["folds"]):
            run.load_state_dict(fold_state)

    def _load(self, path: Path, expected: Mapping[str, Any]) -> dict[str, Any]:
        """A checkpoint of this target (same data mode, seed and budget), with the keys `expected` checked."""
        state = torch.load(path, map_location=self.device, weights_only=False)
        for key, value in expected.items():
            if state[key] != value:
                raise ValueError(f"checkpoint {path}: {key} {state[key]!r} differs from {value!r}")
        return state

    def _train(self, runs: list[FoldRun], budget: int, deadline: float | None, decay: float = 0.0) -> tuple[str, str]:
        """Train every fold to `budget`. A job whose last fold-epoch, times the fold-epochs still to go (the `decay`
        fold-epochs its measurement will train included), would outlast the deadline is abandoned at once rather than
        cut off by it later, so the time left goes to other jobs (the first fold-epoch, with its warm-up, is only
        trusted to say that one more would)."""
        to_go, trained = sum(max(budget - run.epoch, 0) for run in runs), 0
        for run in runs:
            total_steps = self.max_budget * run.steps_per_epoch()
            while run.epoch < budget:
                if deadline is not None and time.monotonic() >= deadline:
                    return Status.STOPPED, f"deadline reached after {run.epoch} of {budget} epochs"
                started = time.monotonic()
                run.train_epoch(total_steps)
                to_go, trained = to_go - 1, trained + 1
                seconds = time.monotonic() - started
                left = to_go + decay
                needed = (left if trained >= ABANDON_AFTER else 1) * seconds
                if deadline is not None and left and time.monotonic() + needed > deadline:
                    return Status.ABANDONED, (f"abandoned after {trained} fold-epochs: {left:g} more at {seconds:.2f} "
                                              "s each (the measuring decay's included) would outlast the deadline")
        return Status.OK, ""

    def _measure(self, runs: list[FoldRun], status: str, n_folds: int, config: Mapping[str, Any],
                 budget: int) -> tuple[list[dict[str, float]], list[list[int]], float, list[str]]:
        """Each fold's metrics, the summed confusion matrix, the fold-epochs the measuring decays trained and notes
        for the message. Below max_budget a schedule that decays is measured after its decay, trained on a branch
        (FoldRun.decayed), so that a rung's figure predicts the full training's whatever the schedule; a fold whose
        decay diverges, or that failed, scores chance."""
        confusion = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)
        decay = status == Status.OK and self._decays(config, budget)
        folds, measure_epochs, notes = [], 0.0, []
        for fold in range(n_folds):
            x_val, y_val = self.validation(fold)
            metrics = None
            if status in (Status.OK, Status.STOPPED):
                run = runs[fold]
                measured_as = run.decayed(self.max_budget * run.steps_per_epoch()) if decay else nullcontext()
                measure_epochs += self._decay_epochs([run], config, budget) if decay else 0.0
                try:
                    with measured_as:
                        metrics = compute_metrics(run.scores(x_val), y_val.cpu().numpy(), self.num_classes)
                except TrainingDiverged as error:
                    notes.append(f"fold {fold} scored chance: {error}")
            if metrics is not None:
                confusion += metrics["confusion"]
                folds.append({key: metrics[key] for key in ("top3_accuracy", "precision", "top1_accuracy")})
            else:
                folds.append({"top3_accuracy": chance_top3(self.num_classes), "precision": 0.0,
                              "top1_accuracy": 1 / self.num_classes})
        return folds, confusion.tolist(), measure_epochs, notes


def failed(error: Exception) -> tuple[Status, str, str]:
    """An evaluation's status, message and error type after an unexpected error, logged."""
    log.warning("evaluation failed: %s", error, exc_info=not isinstance(error, torch.OutOfMemoryError))
    return Status.FAILED, f"{type(error).__name__}: {error}", type(error).__name__
