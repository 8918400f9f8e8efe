"""Successive halving over epochs (pure logic, no training): Hyperband's rungs, the fidelity of each rung, and
which member a free worker promotes.

- Rungs: the budgets of a bracket, max_budget * eta^-k down to the lowest (Hyperband, Li et al. 2018).
- Fidelity: below max_budget a job trains and measures `cheap_folds` folds (one, by default): the cheap rungs only
  decide what is trained further, and bench/bench_fidelity.py measures how well they predict the full evaluation.
  There a schedule laid over max_budget is still at a high rate, so a schedule that decays is measured after a short
  decay trained on a branch, while the member continues from its undecayed state (training.schedules).
  At max_budget, the only budget whose result can become the answer, every fold is trained and measured; a member
  promoted there continues its folds from their checkpoint and trains the others from the start.
- Promotion (asynchronous successive halving, ASHA, Li et al. 2020): each rung holds the members measured at its
  budget with a sort key (larger is better: the feasibility-first `ranking.rank_key`). A free slot scans the rungs
  from the top down and promotes the first member in the top 1/eta of its rung that has not been promoted yet; a
  rung with fewer than eta results promotes nothing. A member is marked as promoted when the promotion is handed
  out, so two workers never train the same member.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

from training.schedules import DECAY_FRACTION

N_FOLDS = 3  # cross-validation folds of a full evaluation
WORST = (-math.inf,)  # the key of a crashed job: below every measured result, and never promoted


@dataclass(frozen=True)
class Promotion:
    """Continue `member` from its checkpoint at `from_budget` to `to_budget` epochs."""

    member: int
    from_budget: int
    to_budget: int


class Rungs:
    """The rungs of asynchronous successive halving over increasing budgets (epochs)."""

    def __init__(self, budgets: Sequence[int], eta: float):
        if eta <= 1:
            raise ValueError(f"eta must be greater than 1, got {eta}")
        self.budgets = tuple(sorted(set(int(b) for b in budgets)))
        self.eta = eta
        self.keys: dict[int, dict[int, tuple]] = {budget: {} for budget in self.budgets}
        self.promoted: dict[int, set[int]] = {budget: set() for budget in self.budgets}

    def report(self, member: int, budget: int, key: tuple) -> None:
        """A member's result at one rung's budget."""
        self.keys[budget][member] = key

    def crashed(self, member: int, budget: int) -> None:
        """A job that died with its worker: worst rank at its rung, and never promoted from it."""
        self.keys[budget][member] = WORST
        self.promoted[budget].add(member)

    def top(self, budget: int) -> list[int]:
        """The members in the top 1/eta of a rung, best first (ties: the earlier member)."""
        rung = self.keys[budget]
        count = math.floor(len(rung) / self.eta + 1e-9)
        ranked = sorted(rung, key=lambda member: (rung[member], -member), reverse=True)
        return [member for member in ranked[:count] if rung[member] != WORST]

    def promotion(self, allowed: Callable[[Promotion], bool] = lambda promotion: True) -> Promotion | None:
        """The next promotion, scanning from the highest rung that has one above it down to the lowest and
        passing over those not `allowed` (e.g. predicted to outlast the run); None: nothing to promote (the slot
        should start a new member at the lowest budget)."""
        for lower, upper in reversed(list(zip(self.budgets, self.budgets[1:]))):
            for member in self.top(lower):
                if member not in self.promoted[lower] and allowed(Promotion(member, lower, upper)):
                    self.promoted[lower].add(member)
                    return Promotion(member, lower, upper)
        return None


def max_bracket(min_budget: float, max_budget: float, eta: float) -> int:
    """s_max: how many times the budget can be multiplied by eta from min_budget up to max_budget."""
    return int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9))


def rung_budgets(s: int, max_budget: int, eta: float) -> tuple[int, ...]:
    """Budgets (whole epochs) of a bracket with s halvings: max_budget * eta^-(s-i), i = 0..s."""
    return tuple(max(1, round(max_budget * eta ** (i - s))) for i in range(s + 1))


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

    def measure_epochs(self, budget: int, decays: bool) -> float:
        """Fold-epochs a job to `budget` trains on its measuring branches: below max_budget, a schedule that decays
        is measured after a decay of DECAY_FRACTION of the budget on each fold (training.fold_run.FoldRun.decayed)."""
        if not decays or budget >= self.max_budget:
            return 0.0
        return self.folds(budget) * DECAY_FRACTION * budget

    def is_full(self, folds: int) -> bool:
        """Whether a result measured on `folds` folds may be the answer."""
        return folds >= self.n_folds
