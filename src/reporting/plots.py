"""Figures of searches and test results (matplotlib, Agg backend: no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from training.data import in_natural_order  # noqa: E402
from reporting.runs import WARM_START_KINDS, Run, short_number  # noqa: E402
from status import Status  # noqa: E402

DPI = 110
TRACES = {  # CSV column: (file suffix, y-axis label, title)
    "best_feasible_acc": ("best_feasible_top3", "best feasible validation top-3 accuracy",
                          "Best feasible top-3 accuracy so far"),
    "avg_acc": ("population_top3", "mean validation top-3 accuracy", "Population average top-3 accuracy"),
    "best_prec": ("best_precision", "best validation precision (macro)", "Best precision in the population"),
    "avg_prec": ("population_precision", "mean validation precision (macro)", "Population average precision"),
}
GRID_POINTS = 300


def _save(figure: plt.Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return path


def value_at(trace: pd.DataFrame, column: str, grid: np.ndarray) -> np.ndarray:
    """The trace's value in force at each time of the grid (the last row at or before it; NaN before the first)."""
    if trace.empty:
        return np.full(len(grid), np.nan)
    times = trace["time"].to_numpy(dtype=float)
    values = trace[column].to_numpy(dtype=float)
    index = np.searchsorted(times, grid, side="right") - 1
    return np.where(index >= 0, values[np.clip(index, 0, None)], np.nan)


def group_label(run: Run, several_constraints: bool) -> str:
    return f"{run.label}, {run.constraints}" if several_constraints else run.label


def trace_figures(runs: Sequence[Run], out: Path, prefix: str) -> list[Path]:
    """One figure per traced quantity: per optimizer (and constraints, where runs differ in them) the median over
    seeds with the min-max band; at each time only the seeds with a value by then count."""
    several = len({(r.max_size, tuple(r.limits.items()), r.min_precision) for r in runs}) > 1
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(group_label(run, several), []).append(run)
    end = max(max(float(r.settings.get("max_time", 0)), float(r.trace["time"].max())) for r in runs)
    grid = np.linspace(0, end, GRID_POINTS)
    accuracy = " or ".join(sorted({r.metric_label for r in runs}))  # the objective the traces follow
    objectives = "_".join(sorted({r.objective for r in runs}))  # and the file names say which
    paths = []
    for column, (suffix, ylabel, title) in TRACES.items():
        ylabel, title = ylabel.replace("top-3 accuracy", accuracy), title.replace("top-3 accuracy", accuracy)
        suffix = suffix.replace("top3", objectives)
        figure, axes = plt.subplots(figsize=(7, 4.2))
        for label, members in groups.items():
            table = pd.DataFrame([value_at(r.trace, column, grid) for r in members])
            line, = axes.plot(grid, table.median(), label=f"{label} ({len(members)} seed{'s' * (len(members) > 1)})")
            if len(members) > 1:
                axes.fill_between(grid, table.min(), table.max(), color=line.get_color(), alpha=0.2, linewidth=0)
        several_seeds = any(len(members) > 1 for members in groups.values())
        axes.set(xlabel="wall-clock time (s)", ylabel=ylabel,
                 title=f"{title}: median over seeds, band min–max" if several_seeds else title)
        axes.grid(alpha=0.3)
        axes.legend(fontsize="small", loc="best")
        paths.append(_save(figure, out / f"{prefix}_{suffix}.png"))
    return paths


def pareto_front(sizes: np.ndarray, accuracies: np.ndarray) -> np.ndarray:
    """Indices of the size-accuracy Pareto front (no other point is as small and more accurate), by size."""
    order = np.lexsort((-accuracies, sizes))
    front, best = [], -np.inf
    for i in order:
        if accuracies[i] > best:
            front.append(i)
            best = accuracies[i]
    return np.array(front, dtype=int)


def _panels(run: Run) -> list[tuple[str, str, float | None]]:
    """The candidates figure's x axes: precision and size, and the int8 network's flash and RAM where the run file
    records them; each with its axis label and limit."""
    panels = [("precision", "validation precision (macro)", run.min_precision),
              ("model_size", "model size (parameters, log scale)", run.max_size)]
    for column, label in (("flash", "flash (bytes of the int8 network, log scale)"),
                          ("ram", "RAM (bytes of int8 activations, log scale)")):
        if column in run.evaluations:
            panels.append((column, label, run.limits.get(column)))
    return panels


def candidates_figure(run: Run, out: Path, prefix: str) -> Path:
    """Every measured evaluation: precision, model size (and flash and RAM bytes) against the objective's accuracy,
    the constraint lines, colour by budget, feasible points filled, warm-start configurations (portfolio, default)
    as squares, the others as circles, the returned configuration starred, and the size-accuracy Pareto front of
    the feasible results measured on every fold."""
    ok = run.evaluations[run.evaluations["status"] == Status.OK]
    feasible = run.meets_constraints(ok)
    given = ok["origin_kind"].isin(WARM_START_KINDS)
    panels = _panels(run)
    figure, axes_row = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.6), sharey=True)
    norm = matplotlib.colors.LogNorm(vmin=max(ok["budget"].min(), 1), vmax=max(ok["budget"].max(), 2)) \
        if len(ok) else None
    for axes, (x, label, limit) in zip(axes_row, panels):
        for mask, filled in ((feasible, True), (~feasible, False)):
            for kind, marker, size in ((given, "s", 46), (~given, "o", 28)):
                part = ok[mask & kind]
                colours = plt.cm.viridis(norm(part["budget"])) if norm else None
                axes.scatter(part[x], part[run.metric], s=size, marker=marker,
                             facecolors=colours if filled else "none", edgecolors=colours, linewidths=1.2)
            axes.scatter([], [], s=28, facecolors="gray" if filled else "none", edgecolors="gray",
                         label="meets every constraint" if filled else "breaks a constraint")
        if given.any():
            axes.scatter([], [], s=46, marker="s", facecolors="none", edgecolors="black",
                         label="warm start (portfolio, default)")
        if run.best is not None and x in run.best:
            axes.scatter([run.best[x]], [run.best[run.metric]],
                         marker="*", s=260, color="crimson", edgecolors="black", zorder=5, label="returned")
        if limit is not None:
            axes.axvline(limit, color="gray", linestyle="--" if x == "precision" else ":",
                         label=f"{'min' if x == 'precision' else 'max'} {short_number(limit)}")
        if x != "precision":
            axes.set_xscale("log")
        axes.set(xlabel=label)
        axes.grid(alpha=0.3)
    front = ok[feasible & (ok["n_folds"] == ok["n_folds"].max())]  # only results measured on every fold
    if len(front):
        index = pareto_front(front["model_size"].to_numpy(float), front[run.metric].to_numpy(float))
        axes_row[1].step(front["model_size"].to_numpy()[index], front[run.metric].to_numpy()[index], where="post",
                         color="black", linewidth=1, label="Pareto front (feasible, every fold)")
    axes_row[0].set(ylabel=f"validation {run.metric_label}")
    for axes in axes_row:
        axes.legend(fontsize="small", loc="lower right")
    if norm is not None:
        _budget_colorbar(figure, list(axes_row), norm, sorted(ok["budget"].unique()))
    skipped = len(run.evaluations) - len(ok)
    figure.suptitle(f"{run.name}: {run.optimizer}, {run.constraints}, seed {run.seed}, warm start {run.warm_start} — "
                    f"{len(ok)} evaluations" + (f" ({skipped} failed or abandoned, not shown)" if skipped else "")
                    + f"\nreturned: {run.answer_origin}")
    return _save(figure, out / f"{prefix}_candidates_{run.name}.png")


def _budget_colorbar(figure, axes: list, norm, budgets: list[int]) -> None:
    """The colour scale of the budgets, one tick per budget trained."""
    bar = figure.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=axes, pad=0.01)
    bar.set_label("budget (epochs)")
    bar.set_ticks(budgets, labels=[str(b) for b in budgets])
    bar.minorticks_off()


def confusion_figure(confusion: np.ndarray, classes: Sequence[str], title: str, path: Path) -> Path:
    """A confusion matrix (in ImageFolder's class order) with class names on both axes in natural order (1, 2, …,
    10) and the counts written in the cells."""
    confusion, classes = in_natural_order(confusion, list(classes))
    size = max(5.0, 0.38 * len(classes) + 2)
    figure, axes = plt.subplots(figsize=(size + 1, size))
    image = axes.imshow(confusion, cmap="Blues")
    ticks = np.arange(len(classes))
    axes.set_xticks(ticks, classes, rotation=90 if len(classes) > 10 else 0)
    axes.set_yticks(ticks, classes)
    threshold = confusion.max() / 2 if confusion.size else 0
    for (i, j), count in np.ndenumerate(confusion):
        if count:
            axes.text(j, i, str(count), ha="center", va="center", fontsize=7,
                      color="white" if count > threshold else "black")
    axes.set(xlabel="predicted class", ylabel="true class", title=title)
    figure.colorbar(image, ax=axes, label="test images", fraction=0.046, pad=0.04)
    return _save(figure, path)
