"""Feasibility-first ranking under a minimum precision (pure logic)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from member import Member
from metrics import DEFAULT_METRIC
from status import Status


def rank_key(result: Mapping[str, Any] | None, model_size: int, min_precision: float,
             metric: str = DEFAULT_METRIC) -> tuple:
    """Sort key, larger is better: feasible members by the objective's accuracy (`metric`, a result key), then the
    others by precision, failed ones last; ties go to the smaller, then the cheaper network."""
    if result is None or result.get("status") != Status.OK:
        return (0, 0.0, -model_size, 0.0)
    tie = (-model_size, -float(result.get("train_seconds", 0.0)))
    if result["precision"] >= min_precision:
        return (2, float(result[metric]), *tie)
    return (1, float(result["precision"]), *tie)


def is_feasible(result: Mapping[str, Any] | None, min_precision: float) -> bool:
    return rank_key(result, 0, min_precision)[0] == 2


def rank_population(members: Iterable[Member], min_precision: float, metric: str = DEFAULT_METRIC) -> list[Member]:
    """Members best first: those whose last training succeeded, then those trained to a higher budget: a result
    after a few epochs on one fold is never weighed against a full evaluation as if they were alike (DEHB keeps
    one subpopulation per budget)."""
    def key(m: Member) -> tuple:
        measured = rank_key(m.result, m.model_size, min_precision, metric)
        return measured[0] > 0, m.budget, measured
    return sorted(members, key=key, reverse=True)


def positions(members: Sequence[Member], min_precision: float, metric: str = DEFAULT_METRIC) -> list[int]:
    """Rank position of each member (0 = best), in the members' order: what tournaments compare."""
    order = rank_population(members, min_precision, metric)
    where = {id(m): i for i, m in enumerate(order)}
    return [where[id(m)] for m in members]


def final_choice(members: Iterable[Member], min_precision: float, n_folds: int,
                 metric: str = DEFAULT_METRIC) -> tuple[Member | None, bool]:
    """The configuration to return, among results measured on all n_folds folds (a cheap rung's result on fewer
    never is the answer): feasible first, then the highest budget reached, then the ranking. If none meets the
    precision constraint, the best by precision, with feasible=False."""
    evaluated = [m for m in members if m.result is not None and m.result.get("status") == Status.OK
                 and len(m.result["folds"]) >= n_folds]
    if not evaluated:
        return None, False
    best = max(evaluated, key=lambda m: (is_feasible(m.result, min_precision), m.budget,
                                         rank_key(m.result, m.model_size, min_precision, metric)))
    return best, is_feasible(best.result, min_precision)
