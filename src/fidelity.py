"""Fidelities of the search (pure logic): how many cross-validation folds an evaluation at a budget trains and
measures, and how many fold-epochs a job costs.

Below max_budget a job trains and measures `cheap_folds` folds (one, by default): the cheap rungs only decide
what is trained further, and bench/bench_fidelity.py measures how well they predict the full evaluation. At
max_budget, the only budget whose result can become the answer, every fold is trained and measured; a member
promoted there continues its folds from their checkpoint and trains the others from the start.
"""
from __future__ import annotations

from dataclasses import dataclass

N_FOLDS = 3


@dataclass(frozen=True)
class Fidelity:
    """Folds per budget: all of them at max_budget, cheap_folds below."""

    max_budget: int
    n_folds: int = N_FOLDS
    cheap_folds: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.cheap_folds <= self.n_folds:
            raise ValueError(f"cheap_folds must be in 1..{self.n_folds}, got {self.cheap_folds}")

    def folds(self, budget: int) -> int:
        return self.n_folds if budget >= self.max_budget else self.cheap_folds

    def fold_epochs(self, budget: int, from_budget: int = 0, from_folds: int = 0) -> int:
        """Fold-epochs to train to `budget`, the first from_folds folds continuing from from_budget epochs."""
        folds = self.folds(budget)
        kept = min(from_folds, folds)
        return kept * (budget - from_budget) + (folds - kept) * budget

    def is_full(self, folds: int) -> bool:
        """Whether a result measured on `folds` folds may be the answer."""
        return folds >= self.n_folds
