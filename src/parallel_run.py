"""Runs an asynchronous ask/tell optimizer's jobs on a Dask cluster, as many at a time as it has slots.

A free slot gets a job at once; the number of slots is read again from the scheduler as workers come and go.
Jobs travel as plain data to `job_runner.run_job`. A job whose worker dies is recorded as crashed; jobs still
running at the deadline stop there themselves (they carry it), and any left after a short grace are cancelled.
Every finished evaluation is written at once, as in the one-process loop (`search_run.SearchRunner`).
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from EA import Job
from job_runner import prepare_worker, run_job
from member import CRASHED
from search_run import RESERVE_SECONDS, SearchRunner

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the loop looks at the cluster when nothing finishes
GRACE_SECONDS = 5.0  # after the deadline, jobs still running are cancelled
SpecOf = Callable[[Job, float], dict]  # a job and the wall-clock deadline -> the job's plain-data description


class ParallelSearchRunner(SearchRunner):
    """SearchRunner's bookkeeping (cost model, files, checkpoints) with many jobs in flight on a Dask client."""

    def __init__(self, optimizer, target, recorder, cost_model, client, spec_of: SpecOf, worker_setup: dict,
                 **kwargs: Any):
        super().__init__(optimizer, target, recorder, cost_model, **kwargs)
        self.client, self.spec_of, self.worker_setup = client, spec_of, worker_setup

    def slots(self) -> int:
        """Threads of the workers connected now (one job per worker thread)."""
        return sum(worker.get("nthreads", 1) for worker in self.client.scheduler_info()["workers"].values())

    def run(self) -> bool:
        """Search until the time is up; True if interrupted. Finished evaluations are in the files either way."""
        from dask.distributed import wait

        self.client.run(prepare_worker, **self.worker_setup)  # workers that join later prepare on their first job
        start = time.monotonic() - self.time_offset
        deadline = start + self.max_time - RESERVE_SECONDS
        wall_deadline = time.time() + (deadline - time.monotonic())
        in_flight: dict[Any, Job] = {}
        asking, interrupted = True, False
        try:
            while True:
                while asking and time.monotonic() < deadline and len(in_flight) < self.slots():
                    job = self._next_job()
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
                    self._cancel(in_flight, start)
                    break
        except KeyboardInterrupt:
            interrupted = True
            log.warning("interrupted: cancelling %d jobs, writing what is known", len(in_flight))
            self.client.cancel(list(in_flight))
        return interrupted

    def _finish(self, future, job: Job, start: float) -> None:
        if future.status == "error":
            error = future.exception()
            status = CRASHED if _worker_died(error) else "failed"
            result = self._failure(job, status, f"{type(error).__name__}: {error}")
            log.warning("member %d to %d epochs: %s", job.member.id, job.budget, result["message"])
        else:
            result = future.result()
        epochs = self._epochs_this_call(job, result["epochs"]) if result["status"] != CRASHED else 0
        self._learn(job, result, epochs)
        self.optimizer.tell(job, result)
        self.recorder.record(job, result, epochs, time.monotonic() - start, self.optimizer)
        self._delete(self.optimizer.obsolete_checkpoints())

    def _cancel(self, in_flight: dict, start: float) -> None:
        """Jobs still running well after the deadline: cancelled and recorded as stopped."""
        self.client.cancel(list(in_flight))
        for future, job in list(in_flight.items()):
            self._finish_stopped(job, start)
            del in_flight[future]

    def _finish_stopped(self, job: Job, start: float) -> None:
        result = self._failure(job, "stopped", "cancelled at the deadline")
        self.optimizer.tell(job, result)
        self.recorder.record(job, result, 0, time.monotonic() - start, self.optimizer)

    def _failure(self, job: Job, status: str, message: str) -> dict[str, Any]:
        return {"top3_accuracy": float("nan"), "precision": 0.0, "model_size": job.member.model_size, "epochs": 0,
                "train_seconds": 0.0, "status": status, "message": message, "folds": []}


def _worker_died(error: BaseException) -> bool:
    """A job lost with its worker process (killed, out of memory), not an error inside training."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    return isinstance(error, (KilledWorker, FutureCancelledError))

