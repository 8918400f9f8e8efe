"""Hyperband's budgets: the rungs of successive halving over epochs (pure logic, no training)."""
from __future__ import annotations

import math


def max_bracket(min_budget: float, max_budget: float, eta: float) -> int:
    """s_max: how many times the budget can be multiplied by eta from min_budget up to max_budget."""
    return int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9))


def rung_budgets(s: int, max_budget: int, eta: float) -> tuple[int, ...]:
    """Budgets (whole epochs) of a bracket with s halvings: max_budget * eta^-(s-i), i = 0..s."""
    return tuple(max(1, round(max_budget * eta ** (i - s))) for i in range(s + 1))
