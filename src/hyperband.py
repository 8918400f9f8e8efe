"""Hyperband's schedule: brackets of successive halving over epochs (pure logic, no training)."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Bracket:
    """One bracket: rung i trains sizes[i] members to budgets[i] epochs; the best 1/eta go on."""

    index: int
    sizes: tuple[int, ...]
    budgets: tuple[int, ...]


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

    def next_bracket(self) -> Bracket:
        s = self.s_max - self.count % (self.s_max + 1)
        self.count += 1
        return make_bracket(s, self.s_max, self.max_budget, self.eta)
