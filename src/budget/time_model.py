"""How long training takes, learned from the run itself: keeps single evaluations affordable (pure logic).

seconds ≈ images seen × (3 × MACs per image × seconds per MAC + seconds per step / batch size
                         + feature-map elements per image × seconds per element) + seconds per evaluation
Large networks are bound by arithmetic; small ones by the fixed cost of each optimizer step, so a batch of 4
costs about as much as a network a hundred times larger at batch 300; wide feature maps on the full image by
memory traffic (BatchNorm, ReLU, pooling), which arithmetic misses several times over; every evaluation also
pays for setup and validation. The four coefficients are fitted to the finished evaluations by non-negative
least squares on relative error, held towards the machine's prior by a few pseudo-observations.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import nnls

from budget.closed_forms import Work

TRAIN_MACS_FACTOR = 3  # forward + backward ≈ 3 forward passes
PRIOR_WEIGHT = 0.3  # of each prior pseudo-observation, against 1 for each measured evaluation


class Coefficients(NamedTuple):
    seconds_per_mac: float
    seconds_per_step: float
    seconds_per_evaluation: float
    seconds_per_activation: float


# Fitted on the benchmark runs of a 2-core x86_64 machine (bench/bench_time_model.py); the GPU one is a guess.
PRIORS = {"cpu": Coefficients(7.8e-12, 1.4e-3, 0.05, 5.9e-9), "cuda": Coefficients(1 / 5e12, 3e-4, 0.3, 1e-11)}
PRIOR_THREADS = 2  # torch threads of the runs the CPU prior was fitted on


def prior(device: str, threads: int) -> Coefficients:
    """The device's prior for jobs that run with `threads` torch threads: on the CPU, fewer threads than the prior
    was fitted with do the arithmetic and memory work proportionally slower (a worker with one thread takes about
    twice as long per MAC); the per-step and per-evaluation terms stay. More threads are not assumed faster."""
    base = PRIORS[device]
    scale = max(1.0, PRIOR_THREADS / max(threads, 1)) if device == "cpu" else 1.0
    return base._replace(seconds_per_mac=base.seconds_per_mac * scale,
                         seconds_per_activation=base.seconds_per_activation * scale)


def _features(work: Work, images_seen: float, batch_size: int, evaluations: float = 1.0) -> np.ndarray:
    return np.array([TRAIN_MACS_FACTOR * work.macs * images_seen, images_seen / batch_size, evaluations,
                     work.activations * images_seen])


class CostModel:
    """Seconds of training as a function of the network's work per image, images seen and batch size, learned as
    the run goes."""

    def __init__(self, prior: Coefficients):
        self.prior = prior
        self.rows: list[np.ndarray] = []
        self._fitted: tuple[int, Coefficients] | None = None

    def observe(self, work: Work, images_seen: int, batch_size: int, seconds: float) -> None:
        """One finished evaluation: images_seen = images per epoch × folds × epochs trained in that call."""
        if images_seen > 0 and seconds > 0:
            self.rows.append(_features(work, images_seen, batch_size) / seconds)

    @property
    def coefficients(self) -> Coefficients:
        if self._fitted is None or self._fitted[0] != len(self.rows):
            prior = np.array(self.prior)  # the fit is in units of the prior, so that its columns are alike
            a = np.vstack([*(row * prior for row in self.rows), PRIOR_WEIGHT * np.eye(len(prior))])
            b = np.concatenate([np.ones(len(self.rows)), np.full(len(prior), PRIOR_WEIGHT)])
            self._fitted = (len(self.rows), Coefficients(*map(float, nnls(a, b)[0] * prior)))
        return self._fitted[1]

    def seconds(self, work: Work, images_seen: float, batch_size: int, evaluations: float = 1.0) -> float:
        return float(_features(work, images_seen, batch_size, evaluations) @ np.array(self.coefficients))

    def min_batch_size(self, seconds: float, images_seen: float, share: float = 0.5) -> float:
        """The batch size whose optimizer steps take `share` of `seconds`: smaller ones leave too little."""
        _, per_step, per_evaluation, _ = self.coefficients
        return per_step * images_seen / max(share * (seconds - per_evaluation), 1e-9)
