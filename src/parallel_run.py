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

from cluster import slots
from optimizer import Job
from job_runner import prepare_worker, run_job
from status import Status
from target import TargetResult
from search_run import RESERVE_SECONDS, ResumeError, SearchRunner

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the loop looks at the cluster when nothing finishes
GRACE_SECONDS = 5.0  # after the deadline, jobs still running are cancelled
SpecOf = Callable[[Job, float], dict]  # a job and the wall-clock deadline -> the job's plain-data description


class ParallelSearchRunner(SearchRunner):
    """SearchRunner's bookkeeping (cost model, files, checkpoints) with many jobs in flight on a Dask client."""

    def __init__(self, optimizer, target, recorder, policy, client, spec_of: SpecOf, worker_setup: dict,
                 **kwargs: Any):
        super().__init__(optimizer, target, recorder, policy, **kwargs)
        self.client, self.spec_of, self.worker_setup = client, spec_of, worker_setup
        self.rerun: list[Job] = []  # asked by a stopped run and never told: they go first when it resumes

    def replay_events(self, record: dict[str, Any]) -> None:
        """Replay a stopped run's asks and tells in their order through a fresh optimizer with the same seed (it
        must ask for the same jobs); the jobs it asked and never heard of again are run first."""
        with self.recorder.replay():
            self.rerun = self._replay_events(record)
        self.time_offset = record["evaluations"][-1]["time"] if record["evaluations"] else 0.0

    def _replay_events(self, record: dict[str, Any]) -> list[Job]:
        by_job = {entry["job"]: entry for entry in record["evaluations"]}
        asked: dict[int, Job] = {}
        for event in record.get("events", []):
            if "ask" in event:
                job = self.optimizer.ask(event.get("seconds_left"))
                if job.id != event["ask"] or job.member.id != event["member"] or job.budget != event["budget"]:
                    raise ResumeError(f"job {event['ask']} does not replay (member {event['member']}, budget "
                                      f"{event['budget']}); was the run made with other code or settings?")
                asked[job.id] = job
                self.recorder.asked(job, self.optimizer, event.get("seconds_left"))
            else:
                self._tell_recorded(asked.pop(event["tell"]), by_job[event["tell"]])
        return list(asked.values())

    def run(self) -> bool:
        """Search until the time is up; True if interrupted. Finished evaluations are in the files either way."""
        from dask.distributed import wait

        self._prepare_workers()
        start = time.monotonic() - self.time_offset
        deadline = start + self.max_time - RESERVE_SECONDS
        wall_deadline = time.time() + (deadline - time.monotonic())
        in_flight: dict[Any, Job] = {}
        asking, interrupted = True, False
        try:
            while True:
                while asking and time.monotonic() < deadline and len(in_flight) < slots(self.client):
                    job = self.rerun.pop(0) if self.rerun else self._asked_job(deadline)
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

    def _prepare_workers(self) -> None:
        """Every worker loads the dataset and sets its torch threads before the clock starts (workers that join
        later do so on their first job). It runs as a task pinned to each worker, in the thread that runs its
        jobs (prepared by `client.run`, in the worker's event-loop thread, jobs trained about 1.4 times as
        slowly)."""
        workers = list(self.client.scheduler_info()["workers"])
        self.client.gather([self.client.submit(prepare_worker, **self.worker_setup, workers=[worker],
                                               allow_other_workers=False, pure=False) for worker in workers])

    def _asked_job(self, deadline: float) -> Job | None:
        """The optimizer's next job, planned with the time left now (None: start no more), logged before it
        leaves for a worker."""
        left = deadline - time.monotonic()
        job = self._next_job(left)
        if job is not None:
            self.recorder.asked(job, self.optimizer, left)
        return job

    def _finish(self, future, job: Job, start: float) -> None:
        if future.status == "error":
            error = future.exception()
            status = Status.CRASHED if _worker_died(error) else Status.FAILED
            result = self._failure(job, status, f"{type(error).__name__}: {error}", type(error).__name__)
            log.warning("member %d to %d epochs: %s", job.member.id, job.budget, result["message"])
        else:
            result = future.result()
        epochs = self._epochs_this_call(job, result["epochs"]) if result["status"] != Status.CRASHED else 0
        self._tell(job, result, epochs, time.monotonic() - start)

    def _cancel(self, in_flight: dict, start: float) -> None:
        """Jobs still running well after the deadline: cancelled and recorded as stopped."""
        self.client.cancel(list(in_flight))
        for future, job in list(in_flight.items()):
            self._finish_stopped(job, start)
            del in_flight[future]

    def _finish_stopped(self, job: Job, start: float) -> None:
        result = self._failure(job, Status.STOPPED, "cancelled at the deadline")
        self.optimizer.tell(job, result)
        self.recorder.record(job, result, 0, time.monotonic() - start, self.optimizer)

    @staticmethod
    def _failure(job: Job, status: Status, message: str, error: str | None = None) -> dict[str, Any]:
        result = TargetResult.failure(status, message, job.member.model_size, error).to_dict()
        result.pop("confusion")
        return result


def _worker_died(error: BaseException) -> bool:
    """A job lost with its worker process (killed, out of memory), not an error inside training."""
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    return isinstance(error, (KilledWorker, FutureCancelledError))

