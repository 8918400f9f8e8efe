"""Everything one search needs, built from its settings (a new run's or a resumed one's): its training data, the
target, the budget policy, the run's files and the optimizer with its warm start."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from budget.limits import Limits
from budget.policy import BudgetPolicy
from running.cluster import threads_per_worker, wants_cluster
from training.data import ImageData, class_warnings, load_dataset
from EA import AsyncEvolution
from member import default_origin, portfolio_origin
from training.metrics import DEFAULT_OBJECTIVE, objective_key
from search.optimizer import Start
from prepare_data import ensure_data
from search.random_search import RandomSearch
from search.fitting import fitter
from search.repair import Shape, below_smallest, smallest_costs
from running.resume import current
from running.run_log import RunFiles
from running.search_run import RESERVE_SECONDS
from search.space import DEFAULT_CONFIG, PORTFOLIO, load_config, space
from status import Algorithm
from target import Target, resolve_device
from budget.time_model import CostModel, prior
from utils import UsageError

log = logging.getLogger("automl")

RUNGS = 3  # by default the lowest rung is max_budget / eta^2: with 50 epochs and eta 3, rungs of 6, 17 and 50


def min_budget(s: dict[str, Any]) -> float:
    """The lowest rung's budget: --min_budget, else the one that gives RUNGS rungs."""
    return s.get("min_budget") or s["max_budget"] / s["eta"] ** (RUNGS - 1)


def check_limits(limits: Limits, shape: Shape, classes: int) -> None:
    """A limit below the smallest network the space builds for this data ends the run before any training."""
    wrong = below_smallest(limits, smallest_costs(space(), shape, classes))
    if wrong is not None:
        raise UsageError(wrong)


def training_data(s: dict[str, Any]) -> ImageData:
    """train/ of the run's dataset (the project's own is prepared first when it is missing)."""
    ensure_data(Path(s["data_dir"]))
    train, _ = load_dataset(Path(s["data_dir"]), objective=s.get("objective", DEFAULT_OBJECTIVE))
    return train


def planned(s: dict[str, Any]) -> dict[str, Any]:
    """The settings with the device and threads the budget plan's prior is chosen for: those of the run's start,
    kept by a resumed run (it replays the same decisions, on other threads too)."""
    threads = threads_per_worker(s, s.get("threads")) if wants_cluster(s) else torch.get_num_threads()
    return {"planned_device": resolve_device(current(s)["device"]).type, "planned_threads": threads, **s}


class Search:
    """Everything one run needs, built from its settings (the same for a new run and a resumed one, planned) and
    its training data; `workers` is how many jobs run side by side, which the budget policy plans with."""

    def __init__(self, s: dict[str, Any], info: str, train: ImageData, workers: int = 1):
        self.warnings = class_warnings(train, s.get("objective", DEFAULT_OBJECTIVE))
        self.target = Target(train, seed=s["seed"], max_budget=s["max_budget"], device=current(s)["device"])
        shape, classes = train.input_shape, train.num_classes
        self.limits = Limits.from_settings(s)
        check_limits(self.limits, shape, classes)
        self.policy = BudgetPolicy(CostModel(prior(s["planned_device"], s["planned_threads"])), self.target,
                                   s["max_time"], s["max_budget"], workers)
        self.files = RunFiles(Path(s["output_dir"]), info)
        self.optimizer = self._optimizer(s, shape, classes)

    def _optimizer(self, s: dict[str, Any], shape, classes):
        size_of, metric = self.target.model_size, objective_key(s.get("objective"))
        fit = fitter(self.policy, space(), shape, classes, self.limits)
        portfolio, initial = self._warm_start(s, fit)
        if s["algorithm"] == Algorithm.RANDOM:
            return RandomSearch(space(), fit, size_of, s["constraint_min_precision"], s["max_budget"], s["seed"],
                                None, portfolio + initial, metric)
        return AsyncEvolution(
            space(), fit, size_of, s["constraint_min_precision"], pop_size=s["pop_size"],
            min_budget=min_budget(s) if s["hyperband"] else s["max_budget"], max_budget=s["max_budget"],
            eta=s["eta"], seed=s["seed"], checkpoint_dir=self.files.checkpoints, proven=portfolio, initial=initial,
            job_seconds=self.policy.job_seconds, num_children=s.get("num_children", 1), metric=metric,
            inherit=s.get("inherit", False), candidates=s.get("candidates", 1))

    def _warm_start(self, s: dict[str, Any], fit) -> tuple[list[Start], list[Start]]:
        """The portfolio members (repaired into the constraints, cheapest first, as many as the workers are
        predicted to finish within the run) and the default configuration, as --warm_start asks."""
        warm_start = s.get("warm_start", "portfolio")
        portfolio: list[Start] = []
        if warm_start == "portfolio":
            rng = np.random.default_rng(s["seed"])
            fitted = [(fit(load_config(config), rng), portfolio_origin(i)) for i, config in enumerate(PORTFOLIO)]
            fitted.sort(key=lambda start: self.target.model_macs(start[0]))
            opening = self.policy.opening([config for config, _ in fitted], s["max_time"] - RESERVE_SECONDS)
            portfolio = fitted[:len(opening)]
        initial = [(dict(DEFAULT_CONFIG), default_origin())] if warm_start != "none" and self._default_fits(s) else []
        return portfolio, initial

    def _default_fits(self, s: dict[str, Any]) -> bool:
        """The default configuration joins when it fits the limits and, where it is trained straight to max_budget
        (random search, plain EA), when that training is predicted to end within --max_time."""
        if not self.limits.holds(DEFAULT_CONFIG, self.target.input_shape, self.target.num_classes):
            return False
        if (s["algorithm"] == Algorithm.EA and s["hyperband"]) or self.policy.finishes(DEFAULT_CONFIG):
            return True
        log.info("the default configuration is left out: a full evaluation of it would take about %.0f s",
                 self.policy.full_seconds(DEFAULT_CONFIG))
        return False
