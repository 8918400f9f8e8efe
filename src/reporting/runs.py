"""A search's runs read back for figures and tables (Run): the run file with its journal applied (run_log) and
its CSV trace, checked. A missing, empty or malformed file raises RunFileError with one line naming it. Which
optimizer made a run is read from its settings, never guessed from a file name.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from scipy.stats import spearmanr

from budget.limits import LIMITS
from member import CHILD, DEFAULT, PORTFOLIO, origin_label
from training.metrics import DEFAULT_OBJECTIVE, objective_key, objective_label
from status import Algorithm, Status
from running.run_log import RUN_PREFIX, RunFileError, read_record

TRACE_COLUMNS = ("time", "avg_acc", "best_acc", "avg_prec", "best_prec", "best_feasible_acc")  # what readers need
EVALUATION_KEYS = ("budget", "top3_accuracy", "precision", "model_size", "status", "time")
WARM_START_KINDS = (PORTFOLIO, DEFAULT)  # origins given to the search, not found by it
WARM_START_LABELS = {"portfolio": "portfolio start", "default": "default start", "none": "from scratch"}


@dataclass
class Run:
    """One search: its settings, every evaluation (one row each), the answer and the progress trace."""

    path: Path
    settings: dict[str, Any]
    evaluations: pd.DataFrame
    best: dict[str, Any] | None
    trace: pd.DataFrame
    finished: bool
    name: str  # the run's folder when it is the only run there (runs_params/study/max_size_5e3), else its file

    @property
    def optimizer(self) -> str:
        if self.settings.get("algorithm") == Algorithm.RANDOM:
            return "random search"
        children = self.settings.get("num_children", 1)  # runs made before a flag had its default
        candidates = self.settings.get("candidates", 1)
        variants = [f"{children} children per ranking" if children != 1 else "",
                    "children inherit" if self.settings.get("inherit") else "",
                    f"{candidates} candidates per child" if candidates != 1 else ""]
        name = "EA with Hyperband" if self.settings.get("hyperband", True) else "plain EA"
        return ", ".join([name, *filter(None, variants)])

    @property
    def label(self) -> str:
        """The optimizer and its warm start: what a comparison groups runs by."""
        return f"{self.optimizer} ({WARM_START_LABELS[self.warm_start]})"

    @property
    def objective(self) -> str:
        """What the search maximised (runs made before --objective: top-3 accuracy)."""
        return self.settings.get("objective", DEFAULT_OBJECTIVE)

    @property
    def metric(self) -> str:
        """The evaluations' column of the objective: top3_accuracy or top1_accuracy."""
        return objective_key(self.objective)

    @property
    def metric_label(self) -> str:
        return objective_label(self.objective)

    @property
    def warm_start(self) -> str:
        """What the run trained first; runs made before the flag existed started from the portfolio."""
        return self.settings.get("warm_start", "portfolio")

    @property
    def answer_origin(self) -> str:
        return origin_label(self.best.get("origin") or legacy_origin(self.best)) if self.best else "none"

    def statistics(self) -> dict[str, Any]:
        """How the search spent its time: evaluations, budgets trained, members bred, and how well the lowest
        budget's ranking predicted the highest one's (Spearman over members measured at both)."""
        ok = self.evaluations[self.evaluations["status"] == Status.OK]
        budgets = sorted(int(b) for b in ok["budget"].unique())
        low = ok[ok["budget"] == budgets[0]].drop_duplicates("member", keep="last").set_index("member") if budgets \
            else ok
        high = ok[ok["budget"] == budgets[-1]].drop_duplicates("member", keep="last").set_index("member") if budgets \
            else ok
        both = low.index.intersection(high.index)
        rho = spearmanr(low.loc[both, self.metric], high.loc[both, self.metric]).statistic \
            if len(budgets) > 1 and len(both) >= 3 else float("nan")
        members = self.evaluations.drop_duplicates("member")
        return {"evaluations": len(self.evaluations), "budgets": budgets,
                "children": int((members["origin_kind"] == CHILD).sum()),
                "rank_pairs": len(both) if len(budgets) > 1 else 0, "rank_correlation": float(rho)}

    @property
    def max_size(self) -> int:
        return int(self.settings["constraint_max_model_size"])

    @property
    def max_macs(self) -> int | None:
        """The limit on multiply-accumulates per image; None when the run had none (or predates the flag)."""
        value = self.settings.get("constraint_max_macs")
        return None if value is None else int(value)

    @property
    def max_flash(self) -> int | None:
        """The limit on the int8 network's stored bytes; None when the run had none."""
        value = self.settings.get("constraint_max_flash")
        return None if value is None else int(value)

    @property
    def max_ram(self) -> int | None:
        """The limit on the int8 activations' bytes alive at once; None when the run had none."""
        value = self.settings.get("constraint_max_ram")
        return None if value is None else int(value)

    @property
    def min_precision(self) -> float:
        return float(self.settings["constraint_min_precision"])

    @property
    def seed(self) -> int:
        return int(self.settings.get("seed", 0))

    @property
    def limits(self) -> dict[str, int]:
        """The limits the run had beside size and precision, by the evaluation column they bound."""
        return {limit.column: int(self.settings[limit.setting]) for name, limit in LIMITS.items()
                if name != "max_size" and self.settings.get(limit.setting) is not None}

    @property
    def constraints(self) -> str:
        names = {"macs": "MACs", "flash": "flash", "ram": "RAM"}
        others = "".join(f", {names[column]} ≤ {short_number(value)}" for column, value in self.limits.items())
        return f"size ≤ {short_number(self.max_size)}{others}, precision ≥ {self.min_precision:.2f}"

    def meets_constraints(self, evaluations: pd.DataFrame) -> pd.Series:
        """Which evaluations meet every constraint of the run: precision, size and, when set, MACs, flash, RAM."""
        met = (evaluations["precision"] >= self.min_precision) & (evaluations["model_size"] <= self.max_size)
        for column, value in self.limits.items():
            met &= evaluations[column] <= value
        return met


def short_number(value: float) -> str:
    """2e7 rather than 20000000 or 2e+07, for labels."""
    return f"{value:.3g}".replace("e+0", "e").replace("e+", "e")


def _read_trace(path: Path, journal_rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The CSV trace, with the rows a running search journaled since it was written."""
    try:
        table = pd.read_csv(path)
        if journal_rows:
            table = pd.concat([table, pd.DataFrame(journal_rows)], ignore_index=True).drop_duplicates("step")
    except FileNotFoundError:
        raise RunFileError(f"{path}: missing (the run's progress trace, written next to its JSON)") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise RunFileError(f"{path}: not a readable CSV trace ({str(error).splitlines()[0]})") from None
    missing = [column for column in TRACE_COLUMNS if column not in table.columns]
    if missing:
        raise RunFileError(f"{path}: not a run trace (no column {', '.join(missing)})")
    return table


def legacy_origin(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The origin of an evaluation recorded before origins were: a child when it has parents, else unknown."""
    parents = entry.get("parents")
    return {"kind": CHILD, "parents": parents, "generation": "?"} if parents else None


def origin_kind(origin: dict[str, Any] | None) -> str:
    return origin["kind"] if origin else "not recorded"


def load_run(path: Path) -> Run:
    """One run from its automl_run_*.json (or its {info}.csv, whose JSON lies next to it)."""
    path = Path(path)
    if path.suffix == ".csv":
        path = path.with_name(f"{RUN_PREFIX}{path.stem}.json")
        if not path.is_file():
            raise RunFileError(f"{path}: missing (it says which optimizer made the trace next to it)")
    record = read_record(path)
    if not isinstance(record.get("settings"), dict) or not isinstance(record.get("evaluations"), list):
        raise RunFileError(f"{path}: not an automl_run file (needs 'settings' and 'evaluations')")
    for key in ("constraint_max_model_size", "constraint_min_precision"):
        if key not in record["settings"]:
            raise RunFileError(f"{path}: settings lack {key}")
    if not record["evaluations"]:
        raise RunFileError(f"{path}: the run has no evaluations")
    evaluations = pd.DataFrame(record["evaluations"])
    required = (*EVALUATION_KEYS, objective_key(record["settings"].get("objective")),
                *(limit.column for limit in LIMITS.values() if record["settings"].get(limit.setting) is not None))
    missing = list(dict.fromkeys(key for key in required if key not in evaluations.columns))
    if missing:
        raise RunFileError(f"{path}: evaluations lack {', '.join(missing)}")
    evaluations["origin_kind"] = [origin_kind(entry.get("origin") or legacy_origin(entry))
                                  for entry in record["evaluations"]]
    evaluations["n_folds"] = [len(entry.get("folds") or []) for entry in record["evaluations"]]
    trace = _read_trace(path.with_name(f"{path.stem.removeprefix(RUN_PREFIX)}.csv"), record["journal_rows"])
    alone = len(list(path.parent.glob(f"{RUN_PREFIX}*.json"))) == 1
    name = path.parent.name if alone else path.stem.removeprefix(RUN_PREFIX)
    return Run(path, record["settings"], evaluations, record.get("best"), trace, bool(record.get("finished")), name)


def find_runs(sources: list[Path]) -> list[Run]:
    """Every run under the given folders (searched recursively) and files, in a stable order."""
    paths: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found = sorted(source.rglob(f"{RUN_PREFIX}*.json"))
            if not found:
                raise RunFileError(f"{source}: no {RUN_PREFIX}*.json file in this folder")
            paths += found
        elif source.is_file():
            paths.append(source)
        else:
            raise RunFileError(f"{source}: no such file or folder")
    return [load_run(path) for path in dict.fromkeys(paths)]
