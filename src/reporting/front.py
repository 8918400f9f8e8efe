"""The trade-offs a run found, for people: its Pareto front as a table, a figure and a short Markdown report."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from member import origin_label  # noqa: E402
from reporting.holdout_tables import markdown_table  # noqa: E402
from reporting.plots import DPI  # noqa: E402
from reporting.runs import Run, legacy_origin  # noqa: E402
from search.front import (COST_LABELS, alternatives, cost_keys, front, full_budget_feasible,  # noqa: E402
                          limits_of, one_standard_error_choice, one_standard_error_threshold, standard_error)


@dataclass
class Tradeoffs:
    """A run's full-budget feasible evaluations, their front, the run's answer among them and the 1-SE choice."""

    feasible: list[dict[str, Any]]
    front: list[dict[str, Any]]
    answer: dict[str, Any] | None  # the answer's full-budget evaluation; None when it is not a feasible one
    choice: dict[str, Any] | None
    threshold: float | None  # the best objective less its standard error


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def evaluations_of(run: Run) -> list[dict[str, Any]]:
    """The run's evaluations as recorded: the keys an older record lacks (empty cells of the table) left out."""
    return [{key: value for key, value in row.items() if not _missing(value)}
            for row in run.evaluations.to_dict("records")]


def tradeoffs(run: Run) -> Tradeoffs:
    """What the front's table, figure and report show, computed once."""
    evaluations = evaluations_of(run)
    max_budget = run.settings.get("max_budget") or max(e["budget"] for e in evaluations)
    limits = limits_of(run.settings)
    feasible = full_budget_feasible(evaluations, run.min_precision, max_budget, limits)
    rows = front(feasible, run.metric, run.min_precision, max_budget, limits=limits)
    member = run.best["member"] if run.best else None
    answer = next((e for e in feasible if e["member"] == member), None)
    choice = one_standard_error_choice(feasible, run.metric, run.min_precision, max_budget, limits)
    threshold = one_standard_error_threshold(rows[0], run.metric) if rows else None
    return Tradeoffs(feasible, rows, answer, choice, threshold)


def _count(row: dict[str, Any], key: str) -> int | None:
    return int(row[key]) if key in row else None


def front_table(run: Run, found: Tradeoffs | None = None) -> pd.DataFrame:
    """One row per front member, best objective first: origin, objective ± standard error over folds, precision,
    parameters, MACs, flash and RAM (empty where the run did not record them), and which one the run answered and
    the one-standard-error rule chose."""
    found = found or tradeoffs(run)
    answer = found.answer["member"] if found.answer else None
    choice = found.choice["member"] if found.choice else None
    table = pd.DataFrame([{
        "member": row["member"], "origin": origin_label(row.get("origin") or legacy_origin(row)),
        f"{run.metric_label} ± SE": f"{row[run.metric]:.4f} ± {standard_error(row.get('folds', []), run.metric):.4f}",
        "precision": float(row["precision"]), "parameters": _count(row, "model_size"), "MACs": _count(row, "macs"),
        "flash (B)": _count(row, "flash"), "RAM (B)": _count(row, "ram"),
        "answer": "yes" if row["member"] == answer else "", "1-SE choice": "yes" if row["member"] == choice else ""}
        for row in found.front])
    return table.astype({column: "Int64" for column in ("parameters", "MACs", "flash (B)", "RAM (B)")}) \
        if len(table) else table


def front_report(run: Run) -> str:
    """The front's Markdown table, where the answer stands, the one-standard-error choice and the answer's
    alternatives."""
    found = tradeoffs(run)
    costs = ", ".join(COST_LABELS[key] for key in cost_keys(found.feasible))
    title = (f"## {run.name}: {len(found.front)} trade-offs among {len(found.feasible)} full-budget evaluations "
             f"meeting the constraints ({run.metric_label} against {costs or 'nothing'})\n\n")
    if not found.front:
        return title + "No full-budget evaluation meets the constraints: no trade-offs to show.\n"
    lines = [markdown_table(front_table(run, found))]
    if found.answer is None:
        lines.append("The run's answer is not among them (not measured at full budget, or infeasible).")
    else:
        on_front = any(row["member"] == found.answer["member"] for row in found.front)
        lines.append(f"The run's answer: member {found.answer['member']}"
                     + ("." if on_front else ", dominated by a front member."))
    lines.append(f"One-standard-error rule: member {found.choice['member']}, the smallest network whose "
                 f"{run.metric_label} is at least {found.threshold:.4f} (the best's less its standard error).")
    others = alternatives(found.answer, found.front, run.metric) if found.answer is not None else []
    if others:
        lines.append("\n".join(["Alternatives to the answer:", *(f"- {text}" for text in others)]))
    return title + "\n\n".join(lines) + "\n"


def front_figure(run: Run, out_dir: Path, prefix: str) -> Path:
    """The objective against flash (parameters for runs without it, log scale): every full-budget feasible
    evaluation in grey, the front highlighted and connected, the answer starred, the 1-SE choice and threshold."""
    found = tradeoffs(run)
    x = cost_keys(found.feasible, ("flash",))[0]
    figure, axes = plt.subplots(figsize=(7, 4.6))
    axes.scatter([e[x] for e in found.feasible], [e[run.metric] for e in found.feasible], s=24, color="lightgray",
                 edgecolors="gray", label="full budget, meets the constraints")
    along = sorted(found.front, key=lambda e: (e[x], -e[run.metric]))
    axes.plot([e[x] for e in along], [e[run.metric] for e in along], "o-", color="tab:blue", markersize=6,
              label="front (no other is as accurate and cheaper)")
    if found.threshold is not None:
        axes.axhline(found.threshold, color="gray", linestyle="--", linewidth=1, label="best less one standard error")
    if found.choice is not None:
        axes.scatter([found.choice[x]], [found.choice[run.metric]], marker="D", s=80, facecolors="none",
                     edgecolors="darkorange", linewidths=2, zorder=4, label="one-standard-error choice")
    if found.answer is not None:
        axes.scatter([found.answer[x]], [found.answer[run.metric]], marker="*", s=260, color="crimson",
                     edgecolors="black", zorder=5, label="returned")
    axes.set_xscale("log")
    unit = "flash (bytes of int8 tensors" if x == "flash" else "model size (parameters"
    axes.set(xlabel=f"{unit}, log scale)", ylabel=f"validation {run.metric_label}",
             title=f"{run.name}: trade-offs at full budget, {run.constraints}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="best")
    path = Path(out_dir) / f"{prefix}_front_{run.objective}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path
