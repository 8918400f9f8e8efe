"""The budget policy (pure logic): what one job may cost, what a job or a set of jobs is predicted to take, and which
opening configurations fit the run (search/fitting.py repairs a configuration into an affordable one with it).

The driver consults it; the command line only builds it. Predictions come from the cost model, which learns
from every finished job. A set of jobs runs side by side on the workers, so its predicted work is divided by
their number.
"""
from __future__ import annotations

import math
from typing import Any, Mapping, Protocol, Sequence

from budget.closed_forms import Work
from budget.time_model import CostModel
from member import Member

EVALUATION_SHARE = 0.1  # one evaluation at max_budget may take this share of --max_time ...
MIN_EVALUATION_SECONDS = 60.0  # ... or at least this (the portfolio's CNNs need about 45 s on 2 CPU cores) ...
MAX_EVALUATION_SHARE = 0.3  # ... but never more than this share of a short run


class Measurable(Protocol):
    """What the policy needs of the target: the work of a network, the images a fold-epoch passes, the folds."""

    images_per_fold_epoch: float
    n_folds: int

    def model_macs(self, config: Mapping[str, Any]) -> int: ...
    def model_work(self, config: Mapping[str, Any]) -> Work: ...


def evaluation_seconds(max_time: float) -> float:
    """How long one evaluation at max_budget may take: a tenth of the run, but at least a minute while that is
    under 30 % of it, so that a short run trains a few networks that can learn rather than many that cannot."""
    return min(MAX_EVALUATION_SHARE * max_time, max(EVALUATION_SHARE * max_time, MIN_EVALUATION_SECONDS))


def affordable_batch(config: dict, min_batch_size: float, largest: int) -> dict:
    """The configuration with its batch size raised to min_batch_size (at most `largest`): below it, the
    optimizer steps alone would take most of an evaluation's time, whatever the network."""
    smallest = min(math.ceil(min_batch_size), largest)
    return config if config["batch_size"] >= smallest else {**config, "batch_size": smallest}


class BudgetPolicy:
    """Predicted seconds of jobs on `workers` workers, from a cost model that learns from finished jobs."""

    def __init__(self, cost_model: CostModel, measure: Measurable, max_time: float, max_budget: int,
                 workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.cost_model, self.measure = cost_model, measure
        self.max_time, self.max_budget, self.workers = max_time, max_budget, workers

    @property
    def allowance(self) -> float:
        """Seconds one evaluation at max_budget may take."""
        return evaluation_seconds(self.max_time)

    @property
    def full_fold_epochs(self) -> int:
        """Fold-epochs of a full evaluation: every fold trained to max_budget."""
        return self.max_budget * self.measure.n_folds

    def training_seconds(self, config: Mapping[str, Any], fold_epochs: float, evaluations: float = 1.0) -> float:
        """Seconds one worker is predicted to train config for so many fold-epochs (epochs summed over folds)."""
        return self.cost_model.seconds(self.measure.model_work(config),
                                       self.measure.images_per_fold_epoch * fold_epochs, config["batch_size"],
                                       evaluations)

    def wall_seconds(self, worker_seconds: float) -> float:
        """Wall-clock seconds of a set of jobs predicted to take worker_seconds in all: the workers share them."""
        return worker_seconds / self.workers

    def observe(self, config: Mapping[str, Any], fold_epochs: float, seconds: float) -> None:
        """A finished job trained config for so many fold-epochs in `seconds`: the cost model learns from it."""
        self.cost_model.observe(self.measure.model_work(config), self.measure.images_per_fold_epoch * fold_epochs,
                                config["batch_size"], seconds)

    def job_seconds(self, member: Member, fold_epochs: float) -> float:
        """Training time of so many fold-epochs of member: at its measured speed when it has one, else by the
        cost model."""
        if member.seconds_per_fold_epoch:
            return member.seconds_per_fold_epoch * fold_epochs
        return self.training_seconds(member.config, fold_epochs)

    def full_seconds(self, config: Mapping[str, Any]) -> float:
        """Predicted seconds of a full evaluation of config: every fold trained straight to max_budget."""
        return self.training_seconds(config, self.full_fold_epochs)

    def finishes(self, config: Mapping[str, Any]) -> bool:
        """Whether a full evaluation of config is predicted to end within the run."""
        return self.full_seconds(config) <= self.max_time

    def opening(self, configs: Sequence[dict], seconds: float) -> list[dict]:
        """The first configurations (at least one) whose trainings to max_budget, run side by side on the
        workers, are predicted to end within `seconds`: the portfolio that opens a run on many workers."""
        total, chosen = 0.0, []
        for config in configs:
            total += self.full_seconds(config)
            if chosen and self.wall_seconds(total) > seconds:
                break
            chosen.append(config)
        return chosen
