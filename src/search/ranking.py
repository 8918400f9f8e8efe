"""Feasibility-first ranking under a minimum precision (pure logic)."""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

from member import Member
from training.metrics import DEFAULT_METRIC
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


class AnswerChoice:
    """The configuration to return, updated one told member at a time at constant cost, among results measured on
    all n_folds folds (a cheap rung's result on fewer never is the answer): feasible first, then the highest budget
    reached, then the ranking, then the earlier member. If none meets the precision constraint, the best by
    precision, with feasible False."""

    def __init__(self, min_precision: float, n_folds: int, metric: str = DEFAULT_METRIC):
        self.min_precision, self.n_folds, self.metric = min_precision, n_folds, metric
        self.member: Member | None = None
        self.key: tuple = ()

    @property
    def feasible(self) -> bool:
        return self.member is not None and is_feasible(self.member.result, self.min_precision)

    def offer(self, member: Member) -> bool:
        """Consider member's latest result; True when it becomes the answer."""
        result = member.result
        if result is None or result.get("status") != Status.OK or len(result["folds"]) < self.n_folds:
            return False
        key = (is_feasible(result, self.min_precision), member.budget,
               rank_key(result, member.model_size, self.min_precision, self.metric), -member.id)
        if self.member is not None and key <= self.key:
            return False
        self.member, self.key = member, key
        return True
