"""A search's log: where its files are, the recorder that keeps them up to date as it runs, and reading them back
whole (the run file with its journal applied) for --resume and the reports.

While a search runs, its run file (automl_run_*.json) holds what was known when it was last written whole (at the
first record after a start or a resume, and at the end), and its journal (automl_run_*.jsonl) one JSON line per
ask and per finished evaluation since: recording one costs the same at the 10th and the 10,000th. A finished or
interrupted run has its run file whole and no journal. A kill loses no line appended; a torn last line is ignored.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

import numpy as np
import pandas as pd

from budget.closed_forms import Costs
from member import Member
from training.metrics import OBJECTIVES, objective_key
from search.optimizer import Job
from search.front import front, front_summary, limits_of, one_standard_error_choice, standard_error
from search.ranking import AnswerChoice, is_feasible
from search.space import ORIGIN_KEY
from status import Status
from target import TargetResult
from utils import UsageError, atomic_write_json, atomic_write_text, read_json

RUN_PREFIX = "automl_run_"  # automl_run_{info}.json: settings, every evaluation, the answer
JOURNAL_SUFFIX = ".jsonl"  # automl_run_{info}.jsonl: what a running search recorded since its run file was written
CONFIG_PREFIX = "opt_cfg_"  # opt_cfg_{info}.json: the answer
ANSWER_FILE = "opt_cfg.json"  # its copy, the same name in every run folder
TRACE_ROW = ("step", "time", "evaluations", "epochs_trained", "avg_acc", "best_acc", "avg_prec", "best_prec",
             "best_feasible_acc")  # the CSV trace's columns, one row per evaluation
RECORDED = tuple(f.name for f in fields(TargetResult) if f.name != "confusion")  # what an evaluation's record keeps


class RunFileError(UsageError):
    """A run file that cannot be used; the message is one line naming it."""


class Optimizer(Protocol):
    """What the recorder and the drivers need of an ask/tell optimizer."""
    members: dict[int, Member]

    def ask(self, seconds_left: float | None = None) -> Job | None: ...
    def tell(self, job: Job, result: dict[str, Any]) -> None: ...
    def obsolete_checkpoints(self) -> list[Path]: ...


@dataclass
class RunFiles:
    """Where a run writes: automl_run_{info}.json, opt_cfg_{info}.json (+ opt_cfg.json), {info}.csv, {info}/."""

    output_dir: Path
    info: str

    @property
    def run_json(self) -> Path:
        return self.output_dir / f"{RUN_PREFIX}{self.info}.json"

    @property
    def journal(self) -> Path:
        return self.run_json.with_suffix(JOURNAL_SUFFIX)

    @property
    def opt_cfg(self) -> Path:
        return self.output_dir / f"{CONFIG_PREFIX}{self.info}.json"

    @property
    def opt_cfg_copy(self) -> Path:
        return self.output_dir / ANSWER_FILE

    @property
    def csv(self) -> Path:
        return self.output_dir / f"{self.info}.csv"

    @property
    def checkpoints(self) -> Path:
        return self.output_dir / self.info


class Journal:
    """Append-only JSON lines, each flushed to disk before append returns: a kill loses no line appended."""

    def __init__(self, path: Path):
        self.path = path
        self.handle = None

    @property
    def open(self) -> bool:
        return self.handle is not None

    def start(self) -> None:
        """An empty journal (what it held is in the run file, just written whole)."""
        self.handle = open(self.path, "w")

    def append(self, line: dict[str, Any]) -> None:
        self.handle.write(json.dumps(line) + "\n")
        self.handle.flush()
        os.fsync(self.handle.fileno())

    def remove(self) -> None:
        """After the run file was written whole: nothing in the journal is news any more."""
        if self.handle is not None:
            self.handle.close()
            self.handle = None
        self.path.unlink(missing_ok=True)


def journal_lines(path: Path) -> list[dict[str, Any]]:
    """A journal's lines; a torn last line (the write a kill interrupted) is left out."""
    lines = path.read_text().splitlines() if path.exists() else []
    parsed = []
    for number, line in enumerate(lines, 1):
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise RunFileError(f"{path}: line {number} is not valid JSON") from None
    return parsed


def read_record(path: Path) -> dict[str, Any]:
    """The run file with its journal's lines applied: every evaluation and event recorded and the latest answer
    (lines the run file already holds, written whole after them, are skipped); the journal's trace rows apart, in
    journal_rows (their steps say which the CSV trace already holds)."""
    record = _read_json(path)
    if not isinstance(record, dict):
        raise RunFileError(f"{path}: not an automl_run file")
    evaluations, events = record.setdefault("evaluations", []), record.setdefault("events", [])
    record["journal_rows"] = []
    for line in journal_lines(path.with_suffix(JOURNAL_SUFFIX)):
        if "event" in line and line["index"] >= len(events):
            events.append(line["event"])
        if "evaluation" in line and line["evaluation"]["evaluation"] >= len(evaluations):
            evaluations.append(line["evaluation"])
            record["best"] = line.get("best", record.get("best"))
        if "row" in line:
            record["journal_rows"].append(line["row"])
    return record


def _read_json(path: Path) -> Any:
    try:
        return read_json(path)
    except UsageError as error:
        raise RunFileError(str(error)) from error


def result_part(result: Mapping[str, Any]) -> dict[str, Any]:
    """What an evaluation's record keeps of its result (older runs lack the fields added since: top-1 accuracy,
    the error type)."""
    return {key: result[key] for key in RECORDED if key in result}


class RunningStatistics:
    """Mean and best accuracy and precision of every successful result told, kept at constant cost (the
    statistics of an optimizer without a population: each member evaluated once)."""

    def __init__(self, metric: str):
        self.metric, self.count = metric, 0
        self.sums, self.best = np.zeros(2), np.full(2, np.nan)

    def add(self, result: Mapping[str, Any]) -> None:
        if result["status"] == Status.OK:
            values = np.array([result[self.metric], result["precision"]], dtype=float)
            self.count, self.sums, self.best = self.count + 1, self.sums + values, np.fmax(self.best, values)

    def row(self) -> dict[str, float]:
        mean = self.sums / self.count if self.count else np.full(2, np.nan)
        return {"avg_acc": float(mean[0]), "best_acc": float(self.best[0]), "avg_prec": float(mean[1]),
                "best_prec": float(self.best[1])}


class RunRecorder:
    """Keeps the run's files up to date after every ask and evaluation: a journal line each (the run file is
    written whole when recording starts or resumes and at the end); costs_of gives a configuration's costs
    (multiply-accumulates per image, flash and RAM bytes of its int8 form), recorded with each evaluation and the
    answer. Nothing is written while a stopped run's evaluations are replayed (`replaying`): they are in its files
    already."""

    def __init__(self, files: RunFiles, settings: dict[str, Any], min_precision: float, n_folds: int,
                 costs_of: Callable[[Mapping[str, Any]], Costs], warnings: list[str] | None = None):
        self.files, self.settings, self.min_precision, self.n_folds = files, settings, min_precision, n_folds
        self.costs_of = costs_of
        self.metric = objective_key(settings.get("objective"))  # what the search maximises
        self.warnings = list(warnings or [])
        self.evaluations: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []  # every ask and every tell, in their order
        self.rows: list[dict[str, Any]] = []
        self.epochs_trained = 0
        self.best_feasible = float("nan")
        self.answer = AnswerChoice(min_precision, n_folds, self.metric)
        self.everyone = RunningStatistics(self.metric)
        self.journal = Journal(files.journal)
        self.replaying = False
        self.prefer_smaller = bool(settings.get("prefer_smaller"))  # the one-standard-error rule's answer
        self.smaller: dict[str, Any] | None = None  # its evaluation, when prefer_smaller
        self.full_budget: dict[int, dict[str, Any]] = {}  # each member's latest full-budget evaluation

    def asked(self, job: Job, seconds_left: float | None) -> None:
        """A job about to start, and the time left the optimizer planned it with (logged, so that a resumed run
        replays the asks in their order and with the same plans)."""
        self._open_journal()
        self.events.append({"ask": job.id, "member": job.member.id, "budget": job.budget,
                            "seconds_left": seconds_left})
        self._append({"event": self.events[-1], "index": len(self.events) - 1})

    def record(self, job: Job, result: dict[str, Any], epochs_this_call: int, elapsed: float,
               optimizer: Optimizer, seconds_left: float | None = None) -> None:
        """A finished job, told to the optimizer already; seconds_left: the search time left its ask was planned
        with (a resumed run replays the asks with it, whatever --max_time it is given)."""
        self._open_journal()
        self.epochs_trained += epochs_this_call
        self.events.append({"tell": job.id, "evaluation": len(self.evaluations)})
        entry = {"evaluation": len(self.evaluations), "job": job.id, "member": job.member.id,
                 "origin": job.member.origin, "configuration": job.config, "budget": job.budget,
                 "rung": job.rung, "seconds_left": seconds_left, "epochs_this_call": epochs_this_call,
                 "time": elapsed, **result_part(result), **self._costs(job.config),
                 **({"worker": result["worker"]} if "worker" in result else {})}
        self.evaluations.append(entry)
        if is_feasible(result, self.min_precision) and len(result["folds"]) >= self.n_folds:  # could be the answer
            self.best_feasible = np.nanmax([self.best_feasible, result[self.metric]])
        self.everyone.add(result)
        self.rows.append(self._row(optimizer, elapsed))
        changed = self.answer.offer(job.member)
        if self.prefer_smaller and job.budget >= self.settings["max_budget"]:
            self.full_budget[job.member.id] = entry
            changed |= self._choose_smaller()
        self._append({"event": self.events[-1], "index": len(self.events) - 1, "evaluation": entry,
                      "row": self.rows[-1], **({"best": self.best()} if changed else {})})
        if changed and not self.replaying:
            self._write_answer()

    def _row(self, optimizer: Optimizer, elapsed: float) -> dict[str, Any]:
        """The trace: the population's statistics (the EA's), else those of every result."""
        population = getattr(optimizer, "population", None)
        if population:
            ok = [m.result for m in population if m.result and m.result["status"] == Status.OK]
            stats = RunningStatistics(self.metric)
            for result in ok:
                stats.add(result)
        else:
            stats = self.everyone
        return {"step": len(self.rows), "time": elapsed, "evaluations": len(self.evaluations),
                "epochs_trained": self.epochs_trained, **stats.row(), "best_feasible_acc": self.best_feasible}

    def _choose_smaller(self) -> bool:
        """The one-standard-error rule's choice after a full-budget evaluation (among each member's latest one, so
        at a cost that grows with the members trained to the end, not with every evaluation); whether it changed."""
        chosen = one_standard_error_choice(self.full_budget.values(), self.metric, self.min_precision,
                                           self.settings["max_budget"], limits_of(self.settings))
        changed = (chosen or {}).get("evaluation") != (self.smaller or {}).get("evaluation")
        self.smaller = chosen
        return changed

    def best(self) -> dict[str, Any] | None:
        """The answer: the best feasible member, or with prefer_smaller the smallest network within one standard
        error of it; its accuracy comes with its standard error over folds."""
        member = self.answer.member
        if member is None:
            return None
        if self.prefer_smaller and self.smaller is not None and self.answer.feasible:
            return self._answer(self.smaller, "constraints met; the smallest network within one standard error of "
                                              f"the best (member {member.id})")
        entry = {"member": member.id, "origin": member.origin, "budget": member.budget, "configuration": member.config,
                 "model_size": member.model_size, **member.result}
        label = "constraints met" if self.answer.feasible else "constraints not met"
        if self.prefer_smaller and self.answer.feasible:
            label += "; no full-budget evaluation for the one-standard-error rule yet, so the best"
        return self._answer(entry, label)

    def _answer(self, entry: Mapping[str, Any], label: str) -> dict[str, Any]:
        return {**{key: entry[key] for key in ("member", "origin", "budget", "configuration", "model_size")},
                **self._costs(entry["configuration"]),
                **{key: entry[key] for key in OBJECTIVES.values() if key in entry},
                "standard_error": standard_error(entry.get("folds") or [], self.metric),
                "precision": entry["precision"], "constraints_met": self.answer.feasible, "label": label}

    def front(self) -> list[dict[str, Any]]:
        """The run's trade-offs: its full-budget feasible evaluations no other beats on the objective and on flash,
        RAM and MACs together."""
        if "max_budget" not in self.settings:
            return []
        rows = front(self.evaluations, self.metric, self.min_precision, self.settings["max_budget"],
                     limits=limits_of(self.settings))
        return front_summary(rows, self.metric)

    def _costs(self, config: Mapping[str, Any]) -> dict[str, int]:
        """What the run file records of a network's costs beside its parameters."""
        costs = self.costs_of(config)
        return {"macs": costs.macs, "flash": costs.flash, "ram": costs.ram}

    @contextmanager
    def replay(self) -> Iterator[None]:
        """While a stopped run's records are told again: nothing is written (they are in its files)."""
        self.replaying = True
        try:
            yield
        finally:
            self.replaying = False

    def _open_journal(self) -> None:
        """The first record after a start or a resume writes the run file whole, then journals from there."""
        if not self.replaying and not self.journal.open:
            self._write_whole(final=False, interrupted=False)
            self.journal.start()

    def _append(self, line: dict[str, Any]) -> None:
        if not self.replaying:
            self.journal.append(line)

    def _write_answer(self) -> None:
        best = self.best()
        answer = {**best["configuration"], ORIGIN_KEY: best["origin"]}
        atomic_write_json(self.files.opt_cfg, answer)
        atomic_write_json(self.files.opt_cfg_copy, answer)

    def _write_whole(self, final: bool, interrupted: bool) -> None:
        atomic_write_text(self.files.csv, pd.DataFrame(self.rows, columns=list(TRACE_ROW)).to_csv(index=False))
        atomic_write_json(self.files.run_json, {"settings": self.settings, "finished": final,
                                                "interrupted": interrupted, "warnings": self.warnings,
                                                "best": self.best(), "front": self.front(),
                                                "evaluations": self.evaluations,
                                                "events": self.events})

    def write(self, final: bool, interrupted: bool = False) -> dict[str, Any] | None:
        """The run file and trace written whole (the journal is then news to no one) and the answer."""
        self._write_whole(final, interrupted)
        self.journal.remove()
        if self.answer.member is not None:
            self._write_answer()
        return self.best()
