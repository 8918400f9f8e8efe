"""Runs an ask/tell optimizer against the target within a wall-clock budget, recording every evaluation.

Every finished evaluation is appended at once to the run's journal (run_files.Journal), and the best
configuration so far written to opt_cfg whenever it changes: Ctrl-C or a kill loses nothing that finished, and
recording costs the same however long the run. A stopped run resumes by replaying its recorded evaluations through
a fresh optimizer with the same seed.
"""
from __future__ import annotations

import logging
import shutil
import time
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Protocol

import numpy as np
import pandas as pd
from tqdm import tqdm

from budget_policy import BudgetPolicy
from optimizer import Job
from member import Member
from metrics import OBJECTIVES, objective_key
from ranking import AnswerChoice, is_feasible
from run_files import TRACE_ROW, Journal, RunFiles
from search_space import ORIGIN_KEY
from status import Status
from target import Target, TargetResult
from utils import UsageError, atomic_write_json, atomic_write_text, where_and_when

log = logging.getLogger(__name__)

RESERVE_SECONDS = 3.0  # kept free at the end for measuring the last model and writing the results
TRUSTED_AFTER = 10  # evaluations measured before a predicted overrun may end a run (the first include warm-up)
REPEATS_TO_STOP = 3  # the same unexpected error this many times in a row stops the run
OUT_OF_MEMORY = "OutOfMemoryError"
RECORDED = tuple(f.name for f in fields(TargetResult) if f.name != "confusion")  # what an evaluation's record keeps


class Optimizer(Protocol):
    members: dict[int, Member]

    def ask(self, seconds_left: float | None = None) -> Job | None: ...
    def tell(self, job: Job, result: dict[str, Any]) -> None: ...
    def obsolete_checkpoints(self) -> list[Path]: ...


class ResumeError(UsageError):
    """The recorded run cannot be replayed (different code, settings or files)."""


class RepeatedFailure(RuntimeError):
    """The same unexpected error ended several evaluations in a row: a bug, not a bad configuration."""


def unexpected_error(result: dict[str, Any]) -> str | None:
    """The exception type of a failed evaluation, unless it ran out of memory (a configuration too large for the
    device, which the search records and goes past); None for every other status."""
    if result["status"] != Status.FAILED or result.get("error") == OUT_OF_MEMORY:
        return None
    return result.get("error")


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
    written whole when recording starts or resumes and at the end); macs_of gives a configuration's
    multiply-accumulates per image, recorded with each evaluation and the answer. Nothing is written while a
    stopped run's evaluations are replayed (`replaying`): they are in its files already."""

    def __init__(self, files: RunFiles, settings: dict[str, Any], min_precision: float, n_folds: int,
                 macs_of: Callable[[Mapping[str, Any]], int], warnings: list[str] | None = None):
        self.files, self.settings, self.min_precision, self.n_folds = files, settings, min_precision, n_folds
        self.macs_of = macs_of
        self.metric = objective_key(settings.get("objective"))  # what the search maximises
        self.warnings = list(warnings or [])
        self.evaluations: list[dict[str, Any]] = []
        self.events: list[dict[str, int]] = []  # with workers: every ask and every tell, in arrival order
        self.rows: list[dict[str, Any]] = []
        self.epochs_trained = 0
        self.best_feasible = float("nan")
        self.answer = AnswerChoice(min_precision, n_folds, self.metric)
        self.everyone = RunningStatistics(self.metric)
        self.journal = Journal(files.journal)
        self.replaying = False

    def asked(self, job: Job, optimizer: Optimizer, seconds_left: float | None) -> None:
        """A job handed to a worker, and the time left the optimizer planned it with (logged, so that a resumed
        run replays the asks in their order and with the same plans)."""
        self._event({"ask": job.id, "member": job.member.id, "budget": job.budget, "seconds_left": seconds_left})

    def _event(self, event: dict[str, Any]) -> None:
        self._open_journal()
        self.events.append(event)
        self._append({"event": event, "index": len(self.events) - 1})

    def record(self, job: Job, result: dict[str, Any], epochs_this_call: int, elapsed: float,
               optimizer: Optimizer, seconds_left: float | None = None) -> None:
        """A finished job, told to the optimizer already; seconds_left: the search time left its ask was planned
        with (a resumed run replays the asks with it, whatever --max_time it is given)."""
        self._open_journal()
        self.epochs_trained += epochs_this_call
        if self.events:
            self._event({"tell": job.id, "evaluation": len(self.evaluations)})
        entry = {"evaluation": len(self.evaluations), "job": job.id, "member": job.member.id,
                 "origin": job.member.origin, "configuration": job.config, "budget": job.budget,
                 "rung": job.rung, "seconds_left": seconds_left, "epochs_this_call": epochs_this_call,
                 "time": elapsed, **result_part(result), "macs": self.macs_of(job.config),
                 **({"worker": result["worker"]} if "worker" in result else {})}
        self.evaluations.append(entry)
        if is_feasible(result, self.min_precision) and len(result["folds"]) >= self.n_folds:  # could be the answer
            self.best_feasible = np.nanmax([self.best_feasible, result[self.metric]])
        self.everyone.add(result)
        self.rows.append(self._row(optimizer, elapsed))
        changed = self.answer.offer(job.member)
        self._append({"evaluation": entry, "row": self.rows[-1], **({"best": self.best()} if changed else {})})
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

    def best(self) -> dict[str, Any] | None:
        member = self.answer.member
        if member is None:
            return None
        return {"member": member.id, "origin": member.origin, "budget": member.budget,
                "configuration": member.config,
                "model_size": member.model_size, "macs": self.macs_of(member.config),
                **{key: member.result[key] for key in OBJECTIVES.values() if key in member.result},
                "precision": member.result["precision"], "constraints_met": self.answer.feasible,
                "label": "constraints met" if self.answer.feasible else "constraints not met"}

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
                                                "best": self.best(), "evaluations": self.evaluations,
                                                **({"events": self.events} if self.events else {})})

    def write(self, final: bool, interrupted: bool = False) -> dict[str, Any] | None:
        """The run file and trace written whole (the journal is then news to no one) and the answer."""
        self._write_whole(final, interrupted)
        self.journal.remove()
        if self.answer.member is not None:
            self._write_answer()
        return self.best()


class SearchRunner:
    """The loop: ask, train within the deadline, tell, record; the budget policy learns from every result."""

    def __init__(self, optimizer: Optimizer, target: Target, recorder: RunRecorder, policy: BudgetPolicy, *,
                 max_time: float, keep_checkpoints: bool = False, quiet: bool = False):
        self.optimizer, self.target, self.recorder = optimizer, target, recorder
        self.policy, self.max_time = policy, max_time
        self.keep_checkpoints, self.quiet = keep_checkpoints, quiet
        self.time_offset = 0.0
        self.errors: list[str | None] = []  # the unexpected error of each evaluation told, in order
        self.planned: dict[int, float | None] = {}  # job id -> the time left its ask was planned with

    def _epochs_this_call(self, job: Job, epochs: int) -> int:
        return epochs - (job.member.budget if job.checkpoint_in is not None else 0)

    def _predicted_seconds(self, job: Job) -> float:
        return self.policy.job_seconds(job.member, job.fold_epochs)

    def _next_job(self, left: float) -> Job | None:
        """The optimizer's next job, or None to end the run early: a job predicted to outlast the time left is
        not started, since the deadline would cut it off and its training would be lost."""
        job = self.optimizer.ask(left)
        if job is not None:
            self.planned[job.id] = left
        if job is None or len(self.recorder.evaluations) < TRUSTED_AFTER:
            return job
        needed = self._predicted_seconds(job)
        if needed <= left:
            return job
        log.info("ending %.0f s early: member %d to %d epochs would need about %.0f s", left, job.member.id,
                 job.budget, needed)
        return None

    def _learn(self, job: Job, result: dict[str, Any]) -> None:
        if result["status"] == Status.OK:
            self.policy.observe(job.config, result["fold_epochs"], result["train_seconds"])

    def _seconds_left(self) -> float:
        """Search time left after the last recorded evaluation: what the optimizer plans with. It is taken from
        the record, not the clock, so that a resumed run replays the same decisions."""
        last = self.recorder.evaluations[-1]["time"] if self.recorder.evaluations else 0.0
        return self.max_time - RESERVE_SECONDS - last

    def replay(self, evaluations: list[dict[str, Any]]) -> None:
        """Feed a stopped run's evaluations back through the optimizer, which must ask for the same jobs."""
        with self.recorder.replay():
            self._replay(evaluations)
        self.time_offset = evaluations[-1]["time"] if evaluations else 0.0

    def _replay(self, evaluations: list[dict[str, Any]]) -> None:
        for entry in evaluations:
            left = entry.get("seconds_left")
            job = self.optimizer.ask(self._seconds_left() if left is None else left)
            if job is None or job.member.id != entry["member"] or job.budget != entry["budget"]:
                raise ResumeError(f"evaluation {entry['evaluation']} does not replay (member {entry['member']}, "
                                  f"budget {entry['budget']}); was the run made with other code or settings?")
            self._tell_recorded(job, entry)

    def _tell_recorded(self, job: Job, entry: dict[str, Any]) -> None:
        """Tell the optimizer (and the files) a result recorded by the stopped run."""
        if job.checkpoint_in is not None and not job.checkpoint_in.exists():
            job.checkpoint_in = None
        result = result_part(entry)
        if "worker" in entry:
            result["worker"] = entry["worker"]
        self.planned[job.id] = entry.get("seconds_left")  # recorded again as it was
        self._tell(job, result, entry["epochs_this_call"], entry["time"])

    def run(self) -> bool:
        """Search until the time is up; True if interrupted (Ctrl-C or SIGTERM). Files stay valid either way."""
        start = time.monotonic() - self.time_offset
        deadline = start + self.max_time - RESERVE_SECONDS
        bar = tqdm(total=round(self.max_time), unit="s", disable=self.quiet, initial=round(self.time_offset),
                   bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} s {postfix}")
        interrupted = False
        try:
            while time.monotonic() < deadline:
                job = self._next_job(self._seconds_left())
                if job is None:
                    break
                if not self._run_job(job, start, deadline):
                    break
                bar.n = min(round(time.monotonic() - start), bar.total)
                bar.set_postfix(evaluations=len(self.recorder.evaluations), best_feasible=self.recorder.best_feasible)
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: writing what is known")
        finally:
            bar.close()
        return interrupted

    def _run_job(self, job: Job, start: float, deadline: float) -> bool:
        started = time.time()
        result = self.target(job.config, job.budget, folds=job.folds, checkpoint_in=job.checkpoint_in,
                             checkpoint_out=job.checkpoint_out, deadline=deadline, inherit=job.inherit).to_dict()
        result["worker"] = where_and_when(started)
        if result["status"] == Status.STOPPED:
            log.info("deadline reached while training member %d to %d epochs", job.member.id, job.budget)
            return False
        if result["status"] == Status.ABANDONED:
            log.info("member %d to %d epochs %s", job.member.id, job.budget, result["message"])
        self._tell(job, result, self._epochs_this_call(job, result["epochs"]), time.monotonic() - start)
        return True

    def _tell(self, job: Job, result: dict[str, Any], epochs: int, elapsed: float) -> None:
        """What follows every finished job: the budget policy learns, the optimizer is told, the files are
        written, and checkpoints no job will continue from are deleted. Raises RepeatedFailure when the same
        unexpected error ended the last REPEATS_TO_STOP evaluations."""
        self._learn(job, result)
        self.optimizer.tell(job, result)
        self.recorder.record(job, result, epochs, elapsed, self.optimizer, self.planned.pop(job.id, None))
        self._delete(self.optimizer.obsolete_checkpoints())
        self.errors.append(unexpected_error(result))
        last = self.errors[-REPEATS_TO_STOP:]
        if len(last) == REPEATS_TO_STOP and last[0] is not None and len(set(last)) == 1:
            raise RepeatedFailure(f"the same error ended {REPEATS_TO_STOP} evaluations in a row ({result['message']}); "
                                  "this is a bug, not a bad configuration: its traceback is in the log above")

    def _delete(self, paths: list[Path]) -> None:
        if not self.keep_checkpoints:
            for path in paths:
                path.unlink(missing_ok=True)

    def finish(self, interrupted: bool) -> dict[str, Any] | None:
        best = self.recorder.write(final=not interrupted, interrupted=interrupted)
        if not self.keep_checkpoints and not interrupted:
            shutil.rmtree(self.recorder.files.checkpoints, ignore_errors=True)
        return best
