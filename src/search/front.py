"""The trade-offs a run found: the Pareto front of its full-budget feasible evaluations over the objective and the
network's costs, and the one-standard-error rule's smaller answer (pure logic, for summaries, run files, reports)."""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

from budget.limits import LIMITS
from status import Status

COSTS = ("flash", "ram", "macs")  # what a network costs on a microcontroller; lower is better
SIZE_ORDER = ("flash", "macs", "ram")  # which network is the smaller one, first cost first
STAND_INS = {"flash": "model_size"}  # runs recorded before flash was: their parameters stand in for it
COST_LABELS = {"flash": "flash", "ram": "RAM", "macs": "MACs", "model_size": "parameters"}
SAME_RATIO = {"0.5": "half the", "1": "the same", "2": "twice the"}  # ratios said in words


def _present(evaluation: Mapping[str, Any], key: str) -> bool:
    """Whether an evaluation recorded key (a table's empty cell, NaN, counts as not)."""
    value = evaluation.get(key)
    return value is not None and value == value


def _folds(evaluation: Mapping[str, Any]) -> list[Mapping[str, float]]:
    folds = evaluation.get("folds")
    return folds if isinstance(folds, list) else []


def standard_error(folds: Sequence[Mapping[str, float]], key: str) -> float:
    """Standard error of the mean of key over the folds (sample sd / √n): how uncertain a cross-validated mean is;
    0.0 with fewer than two folds."""
    values = [float(fold[key]) for fold in folds]
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    return math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1) / len(values))


def limits_of(settings: Mapping[str, Any]) -> dict[str, float]:
    """The run's upper limits on costs, by evaluation key: only those it set."""
    return {limit.column: float(settings[limit.setting]) for limit in LIMITS.values()
            if settings.get(limit.setting) is not None}


def _within(evaluation: Mapping[str, Any], limits: Mapping[str, float]) -> bool:
    return all(not _present(evaluation, key) or evaluation[key] <= limit for key, limit in limits.items())


def full_budget_feasible(evaluations: Iterable[Mapping[str, Any]], min_precision: float, max_budget: float,
                         limits: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """The latest successful full-budget evaluation of each member, measured on every fold, kept when it meets the
    precision and the cost limits: the results comparable with each other and with the answer."""
    full = [e for e in evaluations if e.get("budget", 0) >= max_budget and e.get("status") == Status.OK]
    n_folds = max((len(_folds(e)) for e in full), default=0)
    latest = {e["member"]: e for e in full if len(_folds(e)) == n_folds}
    return [dict(e) for e in latest.values()
            if e["precision"] >= min_precision and _within(e, limits or {})]


def cost_keys(evaluations: Sequence[Mapping[str, Any]], costs: Sequence[str] = COSTS) -> tuple[str, ...]:
    """The costs every evaluation recorded, in the given order; parameters stand in for flash where it is missing."""
    keys: list[str] = []
    for cost in costs:
        for key in (cost, STAND_INS.get(cost)):
            if key and key not in keys and all(_present(e, key) for e in evaluations):
                keys.append(key)
                break
    return tuple(keys)


def dominates(a: Mapping[str, Any], b: Mapping[str, Any], metric: str, keys: Sequence[str]) -> bool:
    """a is at least as accurate and as cheap as b on every cost, and strictly better on one."""
    gains = [a[metric] - b[metric], *(b[key] - a[key] for key in keys)]
    return all(gain >= 0 for gain in gains) and any(gain > 0 for gain in gains)


def _best_first(metric: str, keys: Sequence[str]):
    return lambda e: (-e[metric], *(e[key] for key in keys), e["member"])


def front(evaluations: Iterable[Mapping[str, Any]], metric: str, min_precision: float, max_budget: float,
          costs: Sequence[str] = COSTS, limits: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """The full-budget feasible evaluations no other one dominates on the objective (metric, higher) and the costs
    every one recorded (lower), best objective first: the trade-offs a user may pick from."""
    pool = full_budget_feasible(evaluations, min_precision, max_budget, limits)
    keys = cost_keys(pool, costs)
    kept = [e for e in pool if not any(dominates(other, e, metric, keys) for other in pool)]
    return sorted(kept, key=_best_first(metric, keys))


def one_standard_error_threshold(best: Mapping[str, Any], metric: str) -> float:
    """The best evaluation's objective less its standard error over folds: what counts as as good as the best."""
    return float(best[metric]) - standard_error(_folds(best), metric)


def one_standard_error_choice(evaluations: Iterable[Mapping[str, Any]], metric: str, min_precision: float,
                              max_budget: float, limits: Mapping[str, float] | None = None) -> dict[str, Any] | None:
    """The one-standard-error rule: the smallest full-budget feasible network (flash, then MACs, then RAM; parameters
    without flash) whose objective is within one standard error of the best's; None when there is none."""
    pool = full_budget_feasible(evaluations, min_precision, max_budget, limits)
    if not pool:
        return None
    best = min(pool, key=_best_first(metric, cost_keys(pool)))  # the front's first
    threshold = one_standard_error_threshold(best, metric)
    sizes = cost_keys(pool, SIZE_ORDER)
    within = [e for e in pool if e[metric] >= threshold] or [best]  # a NaN figure: the best alone
    return min(within, key=lambda e: (*(e[key] for key in sizes), -e[metric], e["member"]))


def front_summary(rows: Iterable[Mapping[str, Any]], metric: str) -> list[dict[str, Any]]:
    """The front as a run file keeps it: each member's objective, its standard error, precision and costs."""
    kept = ("member", "budget", metric, "precision", "model_size", *COSTS)
    return [{**{key: row[key] for key in kept if _present(row, key)},
             "standard_error": standard_error(_folds(row), metric)} for row in rows]


def _ratio(value: float, reference: float, key: str) -> str:
    """'half the flash (3,120 B)', '0.63× the RAM', 'MACs 1,200' (no ratio to a zero)."""
    label = COST_LABELS[key]
    amount = f" ({value:,.0f} B)" if key == "flash" else f" ({value:,.0f})" if key == "model_size" else ""
    if reference <= 0:
        return f"{label} {value:,.0f}"
    ratio = value / reference
    text = f"{ratio:.2g}" if ratio < 10 else f"{ratio:.0f}"
    return f"{SAME_RATIO.get(text, text + '× the')} {label}{amount}"


def _points(value: float, reference: float) -> str:
    difference = 100 * (value - reference)
    if round(abs(difference), 1) == 0:
        return "as accurate"
    return f"{abs(difference):.1f} points {'higher' if difference > 0 else 'lower'}"


def _phrase(row: Mapping[str, Any], answer: Mapping[str, Any], metric: str, keys: Sequence[str]) -> str:
    costs = ", ".join(_ratio(row[key], answer[key], key) for key in keys)
    return f"member {row['member']}: {_points(row[metric], answer[metric])}" + (f" at {costs}" if costs else "")


def alternatives(answer: Mapping[str, Any], front_rows: Sequence[Mapping[str, Any]], metric: str,
                 n: int = 4) -> list[str]:
    """Up to n one-line comparisons of front members with the answer: the cheapest in each cost, then the most
    accurate; listed best objective first, e.g. 'member 12: 0.4 points lower at half the flash (3,120 B), 0.63× the
    RAM, 0.3× the MACs'."""
    others = {row["member"]: row for row in front_rows if row["member"] != answer.get("member")}
    keys = cost_keys([answer, *others.values()])
    order = _best_first(metric, keys)
    cheapest = [min(others.values(), key=lambda row: (row[key], order(row)))["member"] for key in keys if others]
    most_accurate = [row["member"] for row in sorted(others.values(), key=order)]
    chosen = [others[member] for member in dict.fromkeys(cheapest + most_accurate)][:n]
    return [_phrase(row, answer, metric, keys) for row in sorted(chosen, key=order)]
