"""One job on a worker: plain data in (configuration, budget, checkpoint paths, an absolute deadline), plain
data out (the result, and where and when it ran). The dataset is loaded once per worker process and cached, so
no Target or tensor travels with a job.
"""
from __future__ import annotations

import ctypes
import os
import socket
import time
from pathlib import Path
from typing import Any

import torch

from training.data import DataError, load_dataset
from prepare_data import DataPreparationError, ensure_data
from status import Inherit
from target import Target
from utils import where_and_when

_TARGETS: dict[tuple, Target] = {}  # this worker's dataset, loaded once per search (only the latest is kept)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
MALLOC_THRESHOLDS = {M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 64 * 2**20}  # glibc's adaptive maximum


def job_spec(config: dict, budget: int, folds: int, checkpoint_in: Path | None, checkpoint_out: Path | None,
             deadline: float, data_dir: str, seed: int, max_budget: int, device: str,
             threads: int | None, inherit: Inherit | None = None) -> dict[str, Any]:
    """A job as plain data; `deadline` is wall-clock time (time.time()), the same on every host of a cluster;
    `inherit`: checkpoint_in is a parent's (status.Inherit)."""
    return {"config": dict(config), "budget": int(budget), "folds": int(folds),
            "inherit": None if inherit is None else inherit.value,
            "checkpoint_in": None if checkpoint_in is None else str(checkpoint_in),
            "checkpoint_out": None if checkpoint_out is None else str(checkpoint_out), "deadline": deadline,
            "data_dir": data_dir, "seed": seed, "max_budget": max_budget, "device": device, "threads": threads}


def undo_malloc_trim() -> bool:
    """Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns glibc's adaptive mmap threshold
    off: every tensor over 128 KiB is then mapped and unmapped anew and training runs about twice as slowly.
    Raise both thresholds to glibc's adaptive maximum; True if done (glibc only)."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return all(libc.mallopt(parameter, value) == 1 for parameter, value in MALLOC_THRESHOLDS.items())


def prepare_worker(data_dir: str, seed: int, max_budget: int, device: str, threads: int | None) -> str:
    """Load the dataset into this worker (once) and set its torch threads; run on every worker before the
    search's clock starts, so that the first jobs do not pay for it. Returns the host name."""
    if threads:
        torch.set_num_threads(threads)
    key = (data_dir, seed, max_budget, device)
    if key not in _TARGETS:
        undo_malloc_trim()
        try:
            ensure_data(Path(data_dir))
            train, _ = load_dataset(Path(data_dir))
        except (DataPreparationError, DataError, OSError) as error:
            raise DataPreparationError(f"a worker on {socket.gethostname()} cannot use the data: {error} (workers "
                                       "need the driver's --data_dir path on a file system they share)") from None
        _TARGETS.clear()  # a worker that served another search lets that one's data go
        _TARGETS[key] = Target(train, seed=seed, max_budget=max_budget, device=device)
    return socket.gethostname()


def _target(spec: dict[str, Any]) -> Target:
    prepare_worker(spec["data_dir"], spec["seed"], spec["max_budget"], spec["device"], spec["threads"])
    return _TARGETS[(spec["data_dir"], spec["seed"], spec["max_budget"], spec["device"])]


def run_job(spec: dict[str, Any]) -> dict[str, Any]:
    """Train and measure one job; never raises for a failed training (the result says so)."""
    started = time.time()
    target = _target(spec)
    deadline = time.monotonic() + (spec["deadline"] - time.time())
    checkpoint_in = None if spec["checkpoint_in"] is None else Path(spec["checkpoint_in"])
    if checkpoint_in is not None and not checkpoint_in.exists():
        raise FileNotFoundError(f"checkpoint {checkpoint_in} is not visible on {socket.gethostname()}: "
                                "workers need the driver's --output_dir on a shared file system")
    checkpoint_out = None if spec["checkpoint_out"] is None else Path(spec["checkpoint_out"])
    result = target(spec["config"], spec["budget"], folds=spec["folds"], checkpoint_in=checkpoint_in,
                    checkpoint_out=checkpoint_out, deadline=deadline,
                    inherit=None if spec.get("inherit") is None else Inherit(spec["inherit"])).to_dict()
    result.pop("confusion", None)
    result["worker"] = where_and_when(started)
    return result
