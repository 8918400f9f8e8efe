"""Asynchronous successive halving (ASHA, Li et al. 2020): which member a free worker promotes (pure logic).

Each rung holds the members measured at its budget with a sort key (larger is better: the feasibility-first
`ranking.rank_key`). A free slot scans the rungs from the top down and promotes the first member in the top
1/eta of its rung that has not been promoted yet; a rung with fewer than eta results promotes nothing. A
member is marked as promoted when the promotion is handed out, so two workers never train the same member.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

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
