"""Runs an ask/tell optimizer against the target within a wall-clock budget, recording every evaluation.

Every ask and finished evaluation is appended at once to the run's journal (run_log), and the best configuration
so far written to opt_cfg whenever it changes: Ctrl-C or a kill loses nothing that finished, and recording costs the
same however long the run. A stopped run resumes by replaying its recorded asks and tells through a fresh optimizer
with the same seed; the one-process loop and the one with workers (parallel_run) share that path.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from budget.policy import BudgetPolicy
from member import cost_epochs
from search.optimizer import Job
from running.run_log import Optimizer, RunRecorder, result_part
from status import Status
from target import Target
from utils import UsageError, where_and_when

log = logging.getLogger(__name__)

RESERVE_SECONDS = 3.0  # kept free at the end for measuring the last model and writing the results
TRUSTED_AFTER = 10  # evaluations measured before a predicted overrun may end a run (the first include warm-up)
REPEATS_TO_STOP = 3  # the same unexpected error this many times in a row stops the run
OUT_OF_MEMORY = "OutOfMemoryError"


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


def asks_and_tells(evaluations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of a run recorded without them: each evaluation asked, then told."""
    events: list[dict[str, Any]] = []
    for index, entry in enumerate(evaluations):
        events += [{"ask": entry["job"], "member": entry["member"], "budget": entry["budget"],
                    "seconds_left": entry.get("seconds_left")}, {"tell": entry["job"], "evaluation": index}]
    return events


class SearchRunner:
    """The loop: ask, train within the deadline, tell, record; the budget policy learns from every result. Its
    public steps (ask, finished, replay, finish) are what a driver with workers (parallel_run) runs them with."""

    def __init__(self, optimizer: Optimizer, target: Target, recorder: RunRecorder, policy: BudgetPolicy, *,
                 max_time: float, keep_checkpoints: bool = False, quiet: bool = False):
        self.optimizer, self.target, self.recorder = optimizer, target, recorder
        self.policy, self.max_time = policy, max_time
        self.keep_checkpoints, self.quiet = keep_checkpoints, quiet
        self.time_offset = 0.0
        self.errors: list[str | None] = []  # the unexpected error of each evaluation told, in order
        self.planned: dict[int, float | None] = {}  # job id -> the time left its ask was planned with
        self.rerun: list[Job] = []  # asked by a stopped run and never told: they go first when it resumes

    def ask(self, left: float) -> Job | None:
        """The next job, journaled before it starts: one a stopped run asked and never finished, else the
        optimizer's, planned with `left` seconds; None to start no more."""
        if self.rerun:
            return self.rerun.pop(0)
        job = self._next_job(left)
        if job is not None:
            self.recorder.asked(job, left)
        return job

    def _next_job(self, left: float) -> Job | None:
        """The optimizer's next job, or None to end the run early: a job predicted to outlast the time left is
        not started, since the deadline would cut it off and its training would be lost."""
        job = self.optimizer.ask(left)
        if job is not None:
            self.planned[job.id] = left
        if job is None or len(self.recorder.evaluations) < TRUSTED_AFTER:
            return job
        needed = self.policy.job_seconds(job.member, job.cost_epochs)
        if needed <= left:
            return job
        log.info("ending %.0f s early: member %d to %d epochs would need about %.0f s", left, job.member.id,
                 job.budget, needed)
        return None

    def seconds_left(self) -> float:
        """Search time left after the last recorded evaluation: what the optimizer plans with. It is taken from
        the record, not the clock, so that a resumed run replays the same decisions."""
        last = self.recorder.evaluations[-1]["time"] if self.recorder.evaluations else 0.0
        return self.max_time - RESERVE_SECONDS - last

    def replay(self, evaluations: list[dict[str, Any]], events: list[dict[str, Any]] | None = None) -> None:
        """Feed a stopped run's asks and tells back, in their order, through a fresh optimizer with the same seed,
        which must ask for the same jobs; the jobs it asked and never heard of again are run first. A run recorded
        without its asks (events) replays each evaluation as an ask and its tell."""
        with self.recorder.replay():
            self.rerun = self._replay(evaluations, events or asks_and_tells(evaluations))
        self.time_offset = evaluations[-1]["time"] if evaluations else 0.0

    def _replay(self, evaluations: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[Job]:
        asked: dict[int, Job] = {}
        for event in events:
            if "ask" in event:
                left = event.get("seconds_left")
                job = self.optimizer.ask(self.seconds_left() if left is None else left)
                if job is None or (job.id, job.member.id, job.budget) != (event["ask"], event["member"],
                                                                          event["budget"]):
                    raise ResumeError(f"job {event['ask']} does not replay (member {event['member']}, budget "
                                      f"{event['budget']}); was the run made with other code or settings?")
                asked[job.id] = job
                self.recorder.asked(job, left)
            else:
                self._tell_recorded(asked.pop(event["tell"]), evaluations[event["evaluation"]])
        return list(asked.values())

    def _tell_recorded(self, job: Job, entry: dict[str, Any]) -> None:
        """Tell the optimizer (and the files) a result recorded by the stopped run, which must be of the configuration
        the replayed job trains (another repair or sampler would pair results with other networks)."""
        if job.config != entry["configuration"]:
            raise ResumeError(f"evaluation {entry['evaluation']} (member {entry['member']}) does not replay: its "
                              "configuration differs from the recorded one; was the run made with other code?")
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
                job = self.ask(self.seconds_left())
                if job is None or not self.run_job(job, start, deadline):
                    break
                bar.n = min(round(time.monotonic() - start), bar.total)
                bar.set_postfix(evaluations=len(self.recorder.evaluations), best_feasible=self.recorder.best_feasible)
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: writing what is known")
        finally:
            bar.close()
        return interrupted

    def run_job(self, job: Job, start: float, deadline: float) -> bool:
        """Train one job in this process; False when the deadline cut it off."""
        started = time.time()
        result = self.target(job.config, job.budget, folds=job.folds, checkpoint_in=job.checkpoint_in,
                             checkpoint_out=job.checkpoint_out, deadline=deadline, inherit=job.inherit).to_dict()
        result["worker"] = where_and_when(started)
        return self.finished(job, result, time.monotonic() - start)

    def finished(self, job: Job, result: dict[str, Any], elapsed: float) -> bool:
        """A job's result, `elapsed` seconds into the search, told and recorded; False for a job the deadline cut
        off, which is neither (it measured nothing: a resumed run runs it again)."""
        if result["status"] == Status.STOPPED:
            log.info("member %d to %d epochs: %s", job.member.id, job.budget, result["message"])
            return False
        if result["status"] == Status.ABANDONED:
            log.info("member %d to %d epochs %s", job.member.id, job.budget, result["message"])
        epochs = 0 if result["status"] == Status.CRASHED else result["epochs"] - (
            job.member.budget if job.checkpoint_in is not None else 0)
        self._tell(job, result, epochs, elapsed)
        return True

    def _tell(self, job: Job, result: dict[str, Any], epochs: int, elapsed: float) -> None:
        """What follows every finished job: the budget policy learns, the optimizer is told, the files are
        written, and checkpoints no job will continue from are deleted. Raises RepeatedFailure when the same
        unexpected error ended the last REPEATS_TO_STOP evaluations."""
        if result["status"] == Status.OK:
            self.policy.observe(job.config, cost_epochs(result), result["train_seconds"])
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
