"""Random search, the baseline: the warm-start configurations, then random ones within the constraints."""
from __future__ import annotations

from search.optimizer import Job, OptimizerBase


class RandomSearch(OptimizerBase):
    """The warm-start configurations, then random ones within the constraints, each trained to max_budget: the
    baseline (with the same warm start as the evolution, so that a comparison measures the optimizers)."""

    def ask(self, seconds_left: float | None = None) -> Job:
        return self._job(self._started_member(), self.max_budget, rung=0)
