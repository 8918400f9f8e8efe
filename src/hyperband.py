"""Hyperband's schedule: brackets of successive halving over epochs (pure logic, no training)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Bracket:
    """One bracket: rung i trains sizes[i] members to budgets[i] epochs; the best 1/eta go on."""

    index: int
    sizes: tuple[int, ...]
    budgets: tuple[int, ...]
    cut_short: bool = False  # what was left of a bracket that did not fit the time left


def max_bracket(min_budget: float, max_budget: float, eta: float) -> int:
    """s_max: how many times the budget can be multiplied by eta from min_budget up to max_budget."""
    return int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9))


def rung_budgets(s: int, max_budget: int, eta: float) -> tuple[int, ...]:
    """Budgets (whole epochs) of a bracket with s halvings: max_budget * eta^-(s-i), i = 0..s."""
    return tuple(max(1, round(max_budget * eta ** (i - s))) for i in range(s + 1))


def make_bracket(s: int, s_max: int, max_budget: int, eta: float) -> Bracket:
    """Bracket s of a Hyperband iteration: n = ceil((s_max+1)/(s+1) * eta^s) members, the best 1/eta promoted."""
    n = math.ceil((s_max + 1) / (s + 1) * eta ** s)
    sizes = tuple(max(1, math.floor(n * eta ** -i)) for i in range(s + 1))
    return Bracket(index=s, sizes=sizes, budgets=rung_budgets(s, max_budget, eta))


def bracket_epochs(bracket: Bracket) -> int:
    """Epochs a bracket trains over all its members, promoted members continuing from their checkpoints."""
    previous = (0, *bracket.budgets[:-1])
    return sum(n * (budget - before) for n, budget, before in zip(bracket.sizes, bracket.budgets, previous))


class BracketManager:
    """Hands out Hyperband's brackets in order s_max, s_max-1, …, 0, and again, as DEHB does."""

    def __init__(self, min_budget: float, max_budget: int, eta: float):
        if not 0 < min_budget <= max_budget:
            raise ValueError(f"min_budget {min_budget} must be in (0, max_budget {max_budget}]")
        if eta <= 1:
            raise ValueError(f"eta must be > 1, got {eta}")
        self.max_budget, self.eta = int(max_budget), eta
        self.s_max = max_bracket(min_budget, max_budget, eta)
        self.count = 0

    def next_bracket(self, fits: Callable[[Bracket], bool] = lambda bracket: True) -> Bracket:
        """The next bracket of the cycle. Near the deadline, one that does not fit the time left gives way to as
        many of its members as fit (at least one) trained straight to max_budget: the answer prefers the highest
        budget, so a bracket cut off before it gets there cannot improve it."""
        s = self.s_max - self.count % (self.s_max + 1)
        self.count += 1
        bracket = make_bracket(s, self.s_max, self.max_budget, self.eta)
        if fits(bracket):
            return bracket
        return self.straight(bracket.sizes[0], fits, cut_short=True)

    def straight(self, most: int, fits: Callable[[Bracket], bool] = lambda bracket: True,
                 cut_short: bool = False) -> Bracket:
        """As many members as fit (at least one, at most `most`), trained straight to max_budget."""
        n = 1
        while n < most and fits(self._straight(n + 1, cut_short)):
            n += 1
        return self._straight(n, cut_short)

    def _straight(self, n: int, cut_short: bool) -> Bracket:
        return Bracket(index=0, sizes=(n,), budgets=(self.max_budget,), cut_short=cut_short)
