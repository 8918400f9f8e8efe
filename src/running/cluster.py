"""The workers of a search: a Dask LocalCluster of N processes, or a running cluster (scheduler address or file).

Dask is imported only here and only when a flag asks for workers: a search without them runs in one process,
exactly as before. With CUDA, the local workers are spread over the GPUs, K per GPU (`--workers_per_gpu`,
default 1), each started with CUDA_VISIBLE_DEVICES naming its GPU.
"""
from __future__ import annotations

import argparse
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

from utils import UsageError, file_path, positive_int

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 20.0  # default seconds to reach a scheduler and to see its first worker


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n_workers", type=positive_int,
                        help="train on N local worker processes (a Dask LocalCluster, one job per process)")
    parser.add_argument("--scheduler_address", help="use a running Dask cluster: tcp://HOST:PORT of its scheduler")
    parser.add_argument("--scheduler_file", type=file_path,
                        help="use a running Dask cluster: the file its scheduler wrote "
                             "(dask scheduler --scheduler-file)")
    parser.add_argument("--workers_per_gpu", type=positive_int,
                        help="local workers sharing each GPU (default 1 when CUDA is present: one worker per GPU); "
                             "small networks use a GPU better several at a time")
    parser.add_argument("--connect_timeout", type=float, default=CONNECT_TIMEOUT,
                        help="seconds to reach the scheduler and see a first worker before giving up")


WORKER_FLAGS = ("n_workers", "scheduler_address", "scheduler_file", "workers_per_gpu")  # where the workers are
CLUSTER_FLAGS = (*WORKER_FLAGS, "connect_timeout")


def wants_cluster(settings: dict[str, Any]) -> bool:
    return any(settings.get(flag) for flag in WORKER_FLAGS)


def is_remote(settings: dict[str, Any]) -> bool:
    return bool(settings.get("scheduler_address") or settings.get("scheduler_file"))


def visible_gpus(device: str) -> list[str]:
    """The GPUs local workers may use: those CUDA_VISIBLE_DEVICES lists, else every one torch sees; none on
    --device cpu or without CUDA."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return []
    listed = [gpu.strip() for gpu in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if gpu.strip()]
    return listed or [str(index) for index in range(torch.cuda.device_count())]


def worker_gpus(n_workers: int | None, gpus: Sequence[str], per_gpu: int | None) -> list[str | None]:
    """The GPU of each local worker, in order: per_gpu (default 1) workers on each GPU, round again if
    n_workers asks for more; n_workers (default 1) workers with no GPU when there is none."""
    if not gpus:
        return [None] * (n_workers or 1)
    per_gpu = per_gpu or 1
    return [gpus[(index // per_gpu) % len(gpus)] for index in range(n_workers or len(gpus) * per_gpu)]


def local_worker_gpus(settings: dict[str, Any]) -> list[str | None]:
    """The GPU (or None) of each worker process a local cluster starts."""
    return worker_gpus(settings.get("n_workers"), visible_gpus(settings.get("device", "auto")),
                       settings.get("workers_per_gpu"))


def threads_per_worker(settings: dict[str, Any], threads: int | None) -> int:
    """Torch threads of each worker: --threads, else this machine's cores shared among the local workers."""
    if threads:
        return threads
    workers = 1 if is_remote(settings) else len(local_worker_gpus(settings))
    return max(1, (os.cpu_count() or 1) // workers)


def slots(client: Any) -> int:
    """Threads of the workers connected now (one job per worker thread)."""
    return sum(worker.get("nthreads", 1) for worker in client.scheduler_info()["workers"].values())


def start_local_cluster(gpus: Sequence[str | None]) -> Any:
    """A LocalCluster of one single-threaded worker process per entry of gpus, on 127.0.0.1, no dashboard; a
    worker with a GPU starts with CUDA_VISIBLE_DEVICES set to it."""
    from dask.distributed import LocalCluster

    cluster = LocalCluster(n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None)
    for gpu in gpus:
        name, spec = next(iter(cluster.new_worker_spec().items()))
        if gpu is not None:
            spec = {**spec, "options": {**spec["options"], "env": {"CUDA_VISIBLE_DEVICES": gpu}}}
        cluster.worker_spec[name] = spec
    cluster.scale(len(gpus))
    return cluster


IMPORTS_CODE = ("any(__import__('os').path.isfile(__import__('os').path.join(folder, 'running', 'job_runner.py')) "
                "for folder in __import__('sys').path)")  # run with eval: is src/ on the path? Nothing imported


def check_code(client: Any) -> None:
    """A cluster started elsewhere must import this project's code: the scheduler reads the jobs' functions and
    the workers run them. Asked with the builtin eval, so that the question itself needs nothing imported."""
    if not client.run_on_scheduler(eval, IMPORTS_CODE):
        raise UsageError("the Dask scheduler cannot import this project's code (src/): start it in the repository "
                         "with PYTHONPATH=src dask scheduler …")
    missing = [worker for worker, ok in client.run(eval, IMPORTS_CODE).items() if not ok]
    if missing:
        raise UsageError(f"{len(missing)} Dask worker(s) cannot import this project's code (src/), e.g. {missing[0]}: "
                         "start them in the repository with PYTHONPATH=src dask worker …")


@contextmanager
def connect(settings: dict[str, Any]) -> Iterator[Any]:
    """A Dask client for the search's workers, closed (with its local cluster) on leaving."""
    import dask
    from dask.distributed import Client

    dask.config.set({"distributed.scheduler.allowed-failures": 0})  # a job whose worker dies is crashed, not rerun
    logging.getLogger("distributed").setLevel(logging.WARNING)
    address, scheduler_file = settings.get("scheduler_address"), settings.get("scheduler_file")
    cluster, client, timeout = None, None, settings.get("connect_timeout") or CONNECT_TIMEOUT
    try:
        if address or scheduler_file:
            client = Client(address, scheduler_file=scheduler_file, timeout=timeout)
            client.wait_for_workers(1, timeout=timeout)
            check_code(client)
        else:
            gpus = local_worker_gpus(settings)
            if settings.get("workers_per_gpu") and None in gpus:
                log.warning("--workers_per_gpu: no GPU in use; %d local CPU worker(s)", len(gpus))
            cluster = start_local_cluster(gpus)
            client = Client(cluster)
            client.wait_for_workers(len(gpus), timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        for opened in (client, cluster):
            if opened is not None:
                opened.close()
        if isinstance(error, UsageError):
            raise
        where = address or scheduler_file or "the local cluster"
        raise UsageError(f"no Dask worker reachable at {where} within {timeout:.0f} s "
                         f"({type(error).__name__}: {error})") from error
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def absolute(path: Path | None) -> Path | None:
    """Workers may run elsewhere: paths they get are absolute (and must lie on a file system they share)."""
    return None if path is None else Path(path).resolve()
