"""How long training takes, learned from the run itself: keeps single evaluations affordable (pure logic).

seconds ≈ images seen × (3 × MACs per image × seconds per MAC + seconds per step / batch size)
          + seconds per evaluation
Large networks are bound by arithmetic; small ones by the fixed cost of each optimizer step, so a batch of 4
costs about as much as a network a hundred times larger at batch 300; every evaluation also pays for setup
and validation. The three coefficients are fitted to the finished evaluations by non-negative least squares
on relative error, held towards the machine's prior by a few pseudo-observations.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import nnls

TRAIN_MACS_FACTOR = 3  # forward + backward ≈ 3 forward passes
PRIOR_WEIGHT = 0.3  # of each prior pseudo-observation, against 1 for each measured evaluation


class Coefficients(NamedTuple):
    seconds_per_mac: float
    seconds_per_step: float
    seconds_per_evaluation: float


# Fitted on the benchmark runs of a 2-core x86_64 machine (bench/bench_cost_model.py); the GPU one is a guess.
PRIORS = {"cpu": Coefficients(1.4e-11, 2.3e-3, 0.35), "cuda": Coefficients(1 / 5e12, 3e-4, 0.3)}


def _features(macs_per_image: int, images_seen: float, batch_size: int, evaluations: float = 1.0) -> np.ndarray:
    return np.array([TRAIN_MACS_FACTOR * macs_per_image * images_seen, images_seen / batch_size, evaluations])


class CostModel:
    """Seconds of training as a function of network cost, images seen and batch size, learned as the run goes."""

    def __init__(self, prior: Coefficients):
        self.prior = prior
        self.rows: list[np.ndarray] = []
        self._fitted: tuple[int, Coefficients] | None = None

    def observe(self, macs_per_image: int, images_seen: int, batch_size: int, seconds: float) -> None:
        """One finished evaluation: images_seen = images per epoch × folds × epochs trained in that call."""
        if images_seen > 0 and seconds > 0:
            self.rows.append(_features(macs_per_image, images_seen, batch_size) / seconds)

    @property
    def coefficients(self) -> Coefficients:
        if self._fitted is None or self._fitted[0] != len(self.rows):
            prior = np.array(self.prior)  # the fit is in units of the prior, so that its columns are alike
            a = np.vstack([*(row * prior for row in self.rows), PRIOR_WEIGHT * np.eye(len(prior))])
            b = np.concatenate([np.ones(len(self.rows)), np.full(len(prior), PRIOR_WEIGHT)])
            self._fitted = (len(self.rows), Coefficients(*map(float, nnls(a, b)[0] * prior)))
        return self._fitted[1]

    def seconds(self, macs_per_image: int, images_seen: float, batch_size: int, evaluations: float = 1.0) -> float:
        return float(_features(macs_per_image, images_seen, batch_size, evaluations) @ np.array(self.coefficients))

    def max_macs(self, seconds: float, images_seen: float, batch_size: int) -> int:
        """The largest forward cost per image that trains images_seen images in batches within `seconds`."""
        per_mac, per_step, per_evaluation = self.coefficients
        left = seconds - per_evaluation - per_step * images_seen / batch_size
        return max(int(left / (TRAIN_MACS_FACTOR * images_seen * max(per_mac, 1e-30))), 0)

    def min_batch_size(self, seconds: float, images_seen: float, share: float = 0.5) -> float:
        """The batch size whose optimizer steps take `share` of `seconds`: smaller ones leave too little."""
        _, per_step, per_evaluation = self.coefficients
        return per_step * images_seen / max(share * (seconds - per_evaluation), 1e-9)
