"""The workers of a search: a Dask LocalCluster of N processes, or a running cluster (scheduler address or file).

Dask is imported only here and only when a flag asks for workers: a search without them runs in one process,
exactly as before.
"""
from __future__ import annotations

import argparse
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from utils import UsageError, file_path, positive_int

CONNECT_TIMEOUT = 20.0  # default seconds to reach a scheduler and to see its first worker


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n_workers", type=positive_int,
                        help="train on N local worker processes (a Dask LocalCluster, one job per process)")
    parser.add_argument("--scheduler_address", help="use a running Dask cluster: tcp://HOST:PORT of its scheduler")
    parser.add_argument("--scheduler_file", type=file_path,
                        help="use a running Dask cluster: the file its scheduler wrote (dask scheduler --scheduler-file)")
    parser.add_argument("--connect_timeout", type=float, default=CONNECT_TIMEOUT,
                        help="seconds to reach the scheduler and see a first worker before giving up")


def wants_cluster(settings: dict[str, Any]) -> bool:
    return bool(settings.get("n_workers") or settings.get("scheduler_address") or settings.get("scheduler_file"))


def threads_per_worker(settings: dict[str, Any], threads: int | None) -> int:
    """Torch threads of each worker: --threads, else this machine's cores shared among the local workers."""
    if threads:
        return threads
    return max(1, (os.cpu_count() or 1) // (settings.get("n_workers") or 1))


@contextmanager
def connect(settings: dict[str, Any]) -> Iterator[Any]:
    """A Dask client for the search's workers, closed (with its local cluster) on leaving."""
    import dask
    from dask.distributed import Client, LocalCluster

    dask.config.set({"distributed.scheduler.allowed-failures": 0})  # a job whose worker dies is crashed, not rerun
    logging.getLogger("distributed").setLevel(logging.WARNING)
    address, scheduler_file = settings.get("scheduler_address"), settings.get("scheduler_file")
    cluster, timeout = None, settings.get("connect_timeout") or CONNECT_TIMEOUT
    try:
        if address or scheduler_file:
            client = Client(address, scheduler_file=scheduler_file, timeout=timeout)
        else:
            cluster = LocalCluster(n_workers=settings["n_workers"], threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as error:
        if cluster is not None:
            cluster.close()
        where = address or scheduler_file or "the local cluster"
        raise UsageError(f"no Dask worker reachable at {where} within {timeout:.0f} s "
                         f"({type(error).__name__}: {error})") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def absolute(path: Path | None) -> Path | None:
    """Workers may run elsewhere: paths they get are absolute (and must lie on a file system they share)."""
    return None if path is None else Path(path).resolve()
