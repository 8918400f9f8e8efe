"""Surrogate-assisted breeding (pure logic, scikit-learn): a model of every result so far ranks candidate children,
so that only the most promising one is trained.

The model is an ensemble of extremely randomized trees (scikit-learn's ExtraTreesRegressor) over the encoded
configuration plus the budget (log epochs) of each result, at every rung: a cheap result informs it as much as it
can. Candidates are scored at the highest budget with enough results to go by (as BOHB chooses the budget of its
model): at first the lowest rung, whose ranking decides what is trained further. What it predicts follows the
feasibility-first ranking: the objective's accuracy where the precision constraint holds, else the precision minus
one, so that a predicted-infeasible candidate ranks below every predicted-feasible one.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Any, Mapping, Sequence

import numpy as np
from ConfigSpace import ConfigurationSpace
from sklearn.ensemble import ExtraTreesRegressor

from status import Status

INACTIVE = -1.0  # the encoding of a hyperparameter a configuration does not use (a layer it does not have)
TREES = 100
MIN_RESULTS = 8  # results before the model is trusted to choose


def encode(config: Mapping[str, Any], space: ConfigurationSpace, budget: float) -> np.ndarray:
    """Each hyperparameter in [0, 1] (log scale where the space says so; a category's index scaled), INACTIVE
    where unused, then log(budget)."""
    values = []
    for name, hp in space.items():
        if name not in config:
            values.append(INACTIVE)
            continue
        size = getattr(hp, "size", None) or 0
        vector = float(hp.to_vector(config[name]))
        values.append(vector / (size - 1) if hasattr(hp, "choices") and size > 1 else vector)
    return np.array([*values, math.log(budget)])


def target_value(result: Mapping[str, Any], min_precision: float, metric: str) -> float:
    """What the model learns: the objective's accuracy when the precision constraint holds, else precision - 1."""
    if result["precision"] >= min_precision:
        return float(result[metric])
    return float(result["precision"]) - 1.0


class Surrogate:
    """Fitted anew whenever results were added since the last fit (deterministic for a seed)."""

    def __init__(self, space: ConfigurationSpace, min_precision: float, metric: str, seed: int):
        self.space, self.min_precision, self.metric, self.seed = space, min_precision, metric, seed
        self.model: ExtraTreesRegressor | None = None
        self.fitted_on = 0
        self.budget = 0  # where candidates are scored: the highest budget with MIN_RESULTS results

    def fit(self, results: Sequence[tuple[Mapping[str, Any], int, Mapping[str, Any]]]) -> bool:
        """(configuration, budget, result) of every finished evaluation; True when there are enough to choose."""
        usable = [(config, budget, result) for config, budget, result in results if result.get("status") == Status.OK]
        counts = Counter(budget for _, budget, _ in usable)
        if len(usable) < MIN_RESULTS or max(counts.values()) < MIN_RESULTS:
            return False
        self.budget = max(budget for budget, count in counts.items() if count >= MIN_RESULTS)
        if len(usable) != self.fitted_on:
            x = np.stack([encode(config, self.space, budget) for config, budget, _ in usable])
            y = np.array([target_value(result, self.min_precision, self.metric) for _, _, result in usable])
            self.model = ExtraTreesRegressor(n_estimators=TREES, min_samples_leaf=2, random_state=self.seed,
                                             n_jobs=1).fit(x, y)
            self.fitted_on = len(usable)
        return True

    def best(self, candidates: Sequence[Mapping[str, Any]]) -> int:
        """Index of the candidate predicted best (ties: the first)."""
        x = np.stack([encode(config, self.space, self.budget) for config in candidates])
        return int(np.argmax(self.model.predict(x)))
