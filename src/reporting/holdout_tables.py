"""Tables of test results (pure pandas): each configuration over seeds, and McNemar's tests between them."""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from training.metrics import DEFAULT_OBJECTIVE, objective_k, objective_key, objective_label
from search.space import DEFAULT_NAME
from reporting.significance import mcnemar
from status import Status



def _mean_sd(values: pd.Series) -> str:
    values = values.dropna()
    if values.empty:
        return "n/a"
    if len(values) == 1:
        return f"{values.iloc[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def _holds(ok: pd.Series) -> str:
    """'yes' when the constraint holds on every seed, else how many seeds it held on."""
    return "yes" if ok.all() else f"no ({int(ok.sum())} of {len(ok)} seeds)"


def _at_most(values: pd.Series, limit: float) -> str:
    """Whether values stay within a limit of the run on every seed; 'n/a' without one."""
    return "n/a" if pd.isna(limit) else _holds(values <= limit)


def _text(row: pd.Series, key: str, missing: str) -> str:
    """A column that tables written before it existed lack (origin, warm start), or that does not apply."""
    value = row.get(key)
    return missing if value is None or pd.isna(value) else str(value)


def summary_table(results: pd.DataFrame, objective: str = DEFAULT_OBJECTIVE) -> pd.DataFrame:
    """One row per configuration: size, test precision and the objective's accuracy (mean ± sd over seeds), and
    whether each constraint of the run that returned it holds on test/ (n/a: not from a run; MACs, flash and RAM
    only where a run set a limit); mean_accuracy: the objective's mean, to rank by."""
    key = objective_key(objective)
    if key not in results:
        results = results.assign(**{key: np.nan})  # a table measured before top-1 accuracy was recorded
    limited = [(column, label) for column, label in (("macs", "MACs"), ("flash", "flash"), ("ram", "RAM"))
               if f"max_{column}" in results and results[f"max_{column}"].notna().any()]
    rows = []
    for name, group in results.groupby("name", sort=False):
        first = group.iloc[0]
        ok = group[group["status"] == Status.OK]
        limits = {"size ≤ limit": _at_most(group["model_size"], first["max_size"])}
        for column, label in limited:
            limits[f"{label} ≤ limit"] = _at_most(group[column], first[f"max_{column}"])
        precision_limit = first["min_precision"]
        rows.append({
            "configuration": name, "optimizer": first["optimizer"], "warm start": _text(first, "warm_start", "n/a"),
            "origin": _text(first, "origin", "not recorded"),
            "parameters": int(first["model_size"]),
            "seeds": f"{len(ok)} of {len(group)}",
            "test precision": _mean_sd(ok["precision"]), f"test {short_label(objective)}": _mean_sd(ok[key]),
            **limits,
            "precision ≥ limit": "n/a" if pd.isna(precision_limit)
            else _holds(group["precision"].fillna(-1) >= precision_limit),
            "mean_accuracy": ok[key].mean()})
    return pd.DataFrame(rows)


def short_label(objective: str) -> str:
    return objective_label(objective).removesuffix(" accuracy")


def majority_hits(results: pd.DataFrame, name: str, objective: str = DEFAULT_OBJECTIVE) -> np.ndarray | None:
    """Per test image: hit by the configuration's top k in more than half of its seeds (one paired outcome per
    image, so that McNemar's pairs are independent across images, not repeated over seeds)."""
    column = f"{objective}_hits"
    if column not in results:
        return None
    hits = results[(results["name"] == name) & (results["status"] == Status.OK)][column].dropna()
    if hits.empty:
        return None
    matrix = np.array([[c == "1" for c in text] for text in hits])
    return matrix.mean(axis=0) > 0.5


def comparison_pairs(results: pd.DataFrame) -> list[tuple[str, str]]:
    """Each configuration against the default (when measured), and configurations returned by different
    optimizers from searches with the same seed and the same warm start."""
    first = results.drop_duplicates("name").set_index("name")
    if "warm_start" not in first:
        first["warm_start"] = "portfolio"  # tables written before warm starts were recorded
    names = list(first.index)
    pairs = [(name, DEFAULT_NAME) for name in names if name != DEFAULT_NAME and DEFAULT_NAME in names]
    for a, b in combinations([n for n in names if n != DEFAULT_NAME], 2):
        optimizers, seeds = first.loc[[a, b], "optimizer"], first.loc[[a, b], "search_seed"]
        starts = first.loc[[a, b], "warm_start"].astype(str)
        if optimizers.iloc[0] != optimizers.iloc[1] and seeds.notna().all() and seeds.iloc[0] == seeds.iloc[1] \
                and starts.iloc[0] == starts.iloc[1]:
            pairs.append((a, b))
    return pairs


def mcnemar_table(results: pd.DataFrame, objective: str = DEFAULT_OBJECTIVE) -> pd.DataFrame:
    """McNemar's test on the per-image hits of the objective (majority over seeds) of each comparison pair."""
    rows, label = [], short_label(objective)
    for a, b in comparison_pairs(results):
        hits_a, hits_b = majority_hits(results, a, objective), majority_hits(results, b, objective)
        if hits_a is None or hits_b is None:
            continue
        test = mcnemar(hits_a, hits_b)
        rows.append({"A": a, "B": b, f"{label} A": hits_a.mean(), f"{label} B": hits_b.mean(),
                     "only A hits": test.only_a, "only B hits": test.only_b, "test": test.method,
                     "statistic": test.statistic, "p-value": test.p_value})
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame, floats: str = ".4f") -> str:
    """A GitHub Markdown table (no extra dependency)."""
    if table.empty:
        return "(none)\n"
    def cell(value) -> str:
        if pd.isna(value):
            return "—"
        return format(value, floats) if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def report(results: pd.DataFrame, epochs: int, objective: str = DEFAULT_OBJECTIVE) -> str:
    """The Markdown tables of test_results.csv: configurations, then McNemar's tests, on the objective's hits."""
    summary = summary_table(results, objective).drop(columns="mean_accuracy")
    tests = mcnemar_table(results, objective)
    if not tests.empty:
        tests["statistic"] = tests["statistic"].map(lambda value: f"{value:.3f}")
        tests["p-value"] = tests["p-value"].map(lambda value: f"{value:.3g}")
    return (f"Each configuration trained {epochs} epochs on all of train/ per seed and measured on test/ "
            "(mean ± sd over seeds).\n\n" + markdown_table(summary) +
            f"\nMcNemar's test on the per-image {short_label(objective)} hits (an image counts as hit when its "
            f"class is in the top {objective_k(objective)} in "
            "more than half of the seeds); exact binomial below 25 discordant images, else χ² with continuity "
            "correction; two-sided.\n\n" + markdown_table(tests))
