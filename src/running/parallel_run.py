"""Runs an asynchronous ask/tell optimizer's jobs on a Dask cluster, as many at a time as it has slots.

A free slot gets a job at once; the number of slots is read again from the scheduler as workers come and go.
Jobs travel as plain data to `job_runner.run_job`. A job whose worker dies is recorded as crashed; jobs still
running at the deadline stop there themselves (they carry it), and any left after a short grace are cancelled:
neither is recorded, and a resumed run runs them again, as in one process.
Every finished evaluation is written at once, as in the one-process loop (`search_run.SearchRunner`).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from running.cluster import slots
from search.optimizer import Job
from running.job_runner import prepare_worker, run_job
from status import Status
from target import TargetResult
from running.search_run import RESERVE_SECONDS, SearchRunner

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the loop looks at the cluster when nothing finishes
GRACE_SECONDS = 5.0  # after the deadline, jobs still running are cancelled
SpecOf = Callable[[Job, float], dict]  # a job and the wall-clock deadline -> the job's plain-data description


class ParallelSearchRunner:
    """Many jobs in flight on a Dask client, run through a SearchRunner's steps: it asks, tells, records and
    replays as in one process (cost model, files, checkpoints)."""

    def __init__(self, runner: SearchRunner, client, spec_of: SpecOf, worker_setup: dict):
        self.runner, self.client, self.spec_of, self.worker_setup = runner, client, spec_of, worker_setup

    def run(self) -> bool:
        """Search until the time is up; True if interrupted. Finished evaluations are in the files either way."""
        from dask.distributed import wait

        self._prepare_workers()
        start = time.monotonic() - self.runner.time_offset
        deadline = start + self.runner.max_time - RESERVE_SECONDS
        wall_deadline = time.time() + (deadline - time.monotonic())
        in_flight: dict[Any, Job] = {}
        asking, interrupted = True, False
        try:
            while True:
                while asking and time.monotonic() < deadline and len(in_flight) < slots(self.client):
                    job = self.runner.ask(deadline - time.monotonic())
                    if job is None:
                        asking = False
                        break
                    in_flight[self.client.submit(run_job, self.spec_of(job, wall_deadline), pure=False)] = job
                if not in_flight:
                    break
                try:
                    done, _ = wait(list(in_flight), timeout=POLL_SECONDS, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    done = []
                for future in done:
                    self._finish(future, in_flight.pop(future), start)
                if time.monotonic() > deadline + GRACE_SECONDS:
                    log.info("cancelling %d jobs still running after the deadline", len(in_flight))
                    self.client.cancel(list(in_flight))
                    break
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: cancelling %d jobs, writing what is known", len(in_flight))
            self.client.cancel(list(in_flight))
        return interrupted

    def _prepare_workers(self) -> None:
        """Every worker loads the dataset and sets its torch threads before the clock starts (workers that join
        later do so on their first job). It runs as a task pinned to each worker, in the thread that runs its
        jobs (prepared by `client.run`, in the worker's event-loop thread, jobs trained about 1.4 times as
        slowly)."""
        workers = list(self.client.scheduler_info()["workers"])
        self.client.gather([self.client.submit(prepare_worker, **self.worker_setup, workers=[worker],
                                               allow_other_workers=False, pure=False) for worker in workers])

    def _finish(self, future, job: Job, start: float) -> None:
        if future.status == "error":
            error = future.exception()
            status = Status.CRASHED if _worker_died(error) else Status.FAILED
            result = TargetResult.failure(status, f"{type(error).__name__}: {error}", job.member.model_size,
                                          type(error).__name__).to_dict()
            log.warning("member %d to %d epochs: %s", job.member.id, job.budget, result["message"])
        else:
            result = future.result()
        self.runner.finished(job, result, time.monotonic() - start)


def _worker_died(error: BaseException) -> bool:
    """A job lost with its worker process (killed, out of memory), not an error inside training."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    return isinstance(error, (KilledWorker, FutureCancelledError))

