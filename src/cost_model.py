"""How long training takes, learned from the run itself: keeps single evaluations affordable (pure logic)."""
from __future__ import annotations

import numpy as np

TRAIN_MACS_FACTOR = 3  # forward + backward ≈ 3 forward passes
PRIOR_MACS_PER_SECOND = {"cpu": 5e10, "cuda": 5e12}
FAST_QUANTILE = 0.9  # large networks reach the machine's throughput; small ones are overhead-bound


class CostModel:
    """Seconds ≈ training multiply-accumulates / throughput, the throughput measured on finished evaluations."""

    def __init__(self, prior_macs_per_second: float):
        self.prior = prior_macs_per_second
        self.rates: list[float] = []

    def observe(self, macs_per_image: int, images_seen: int, seconds: float) -> None:
        """One finished training: images_seen = images per epoch × folds × epochs trained in that call."""
        if images_seen > 0 and seconds > 0:
            self.rates.append(TRAIN_MACS_FACTOR * macs_per_image * images_seen / seconds)

    @property
    def macs_per_second(self) -> float:
        if not self.rates:
            return self.prior
        return float(np.quantile(self.rates, FAST_QUANTILE))

    def seconds(self, macs_per_image: int, images_seen: int) -> float:
        return TRAIN_MACS_FACTOR * macs_per_image * images_seen / self.macs_per_second

    def max_macs(self, seconds: float, images_seen: int) -> int:
        """The largest forward cost per image that trains images_seen images within `seconds`."""
        return int(seconds * self.macs_per_second / (TRAIN_MACS_FACTOR * images_seen))
