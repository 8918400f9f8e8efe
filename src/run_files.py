"""Read a search's files back (automl_run_*.json and its CSV trace) for figures and tables, checking them.

A missing, empty or malformed file raises RunFileError with one line naming it. Which optimizer made a run is
read from its settings, never guessed from a file name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

RUN_PREFIX = "automl_run_"
TRACE_COLUMNS = ("time", "avg_acc", "best_acc", "avg_prec", "best_prec", "best_feasible_acc")
EVALUATION_KEYS = ("budget", "top3_accuracy", "precision", "model_size", "status", "time")


class RunFileError(ValueError):
    """A run file that cannot be used; the message is one line naming it."""


@dataclass
class Run:
    """One search: its settings, every evaluation (one row each), the answer and the progress trace."""

    path: Path
    settings: dict[str, Any]
    evaluations: pd.DataFrame
    best: dict[str, Any] | None
    trace: pd.DataFrame
    finished: bool

    @property
    def optimizer(self) -> str:
        if self.settings.get("algorithm") == "random":
            return "random search"
        return "EA with Hyperband" if self.settings.get("hyperband", True) else "plain EA"

    @property
    def max_size(self) -> int:
        return int(self.settings["constraint_max_model_size"])

    @property
    def min_precision(self) -> float:
        return float(self.settings["constraint_min_precision"])

    @property
    def seed(self) -> int:
        return int(self.settings.get("seed", 0))

    @property
    def constraints(self) -> str:
        return f"size ≤ {short_number(self.max_size)}, precision ≥ {self.min_precision:.2f}"

    @property
    def name(self) -> str:
        """The run's folder when it is the only run there (runs_params/study/max_size_5e3), else its file."""
        if len(list(self.path.parent.glob(f"{RUN_PREFIX}*.json"))) == 1:
            return self.path.parent.name
        return self.path.stem.removeprefix(RUN_PREFIX)


def short_number(value: float) -> str:
    """2e7 rather than 20000000 or 2e+07, for labels."""
    return f"{value:.3g}".replace("e+0", "e").replace("e+", "e")


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        raise RunFileError(f"{path}: cannot be read ({error.strerror or error})") from None
    if not text.strip():
        raise RunFileError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RunFileError(f"{path}: not valid JSON ({error})") from None


def _read_trace(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path)
    except FileNotFoundError:
        raise RunFileError(f"{path}: missing (the run's progress trace, written next to its JSON)") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as error:
        raise RunFileError(f"{path}: not a readable CSV trace ({str(error).splitlines()[0]})") from None
    missing = [column for column in TRACE_COLUMNS if column not in table.columns]
    if missing:
        raise RunFileError(f"{path}: not a run trace (no column {', '.join(missing)})")
    return table


def load_run(path: Path) -> Run:
    """One run from its automl_run_*.json (or its {info}.csv, whose JSON lies next to it)."""
    path = Path(path)
    if path.suffix == ".csv":
        path = path.with_name(f"{RUN_PREFIX}{path.stem}.json")
        if not path.is_file():
            raise RunFileError(f"{path}: missing (it says which optimizer made the trace next to it)")
    record = _read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("settings"), dict) \
            or not isinstance(record.get("evaluations"), list):
        raise RunFileError(f"{path}: not an automl_run file (needs 'settings' and 'evaluations')")
    for key in ("constraint_max_model_size", "constraint_min_precision"):
        if key not in record["settings"]:
            raise RunFileError(f"{path}: settings lack {key}")
    if not record["evaluations"]:
        raise RunFileError(f"{path}: the run has no evaluations")
    evaluations = pd.DataFrame(record["evaluations"])
    missing = [key for key in EVALUATION_KEYS if key not in evaluations.columns]
    if missing:
        raise RunFileError(f"{path}: evaluations lack {', '.join(missing)}")
    trace = _read_trace(path.with_name(f"{path.stem.removeprefix(RUN_PREFIX)}.csv"))
    return Run(path, record["settings"], evaluations, record.get("best"), trace, bool(record.get("finished")))


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
