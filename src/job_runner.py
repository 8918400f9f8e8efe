"""One job on a worker: plain data in (configuration, budget, checkpoint paths, an absolute deadline), plain
data out (the result, and where and when it ran). The dataset is loaded once per worker process and cached, so
no Target or tensor travels with a job.
"""
from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import torch

from data import load_dataset
from prepare_data import ensure_data
from target import Target

_TARGETS: dict[tuple, Target] = {}


def job_spec(config: dict, budget: int, checkpoint_in: Path | None, checkpoint_out: Path | None, deadline: float,
             data_dir: str, seed: int, max_budget: int, device: str, threads: int | None) -> dict[str, Any]:
    """A job as plain data; `deadline` is wall-clock time (time.time()), the same on every host of a cluster."""
    return {"config": dict(config), "budget": int(budget),
            "checkpoint_in": None if checkpoint_in is None else str(checkpoint_in),
            "checkpoint_out": None if checkpoint_out is None else str(checkpoint_out), "deadline": deadline,
            "data_dir": data_dir, "seed": seed, "max_budget": max_budget, "device": device, "threads": threads}


def prepare_worker(data_dir: str, seed: int, max_budget: int, device: str, threads: int | None) -> str:
    """Load the dataset into this worker (once) and set its torch threads; run on every worker before the
    search's clock starts, so that the first jobs do not pay for it. Returns the host name."""
    if threads:
        torch.set_num_threads(threads)
    key = (data_dir, seed, max_budget, device)
    if key not in _TARGETS:
        ensure_data(Path(data_dir))
        train, _ = load_dataset(Path(data_dir))
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
    result = target(spec["config"], spec["budget"], checkpoint_in=checkpoint_in, checkpoint_out=checkpoint_out,
                     deadline=deadline).to_dict()
    result.pop("confusion", None)
    result["worker"] = {"host": socket.gethostname(), "pid": os.getpid(), "start": started, "end": time.time()}
    return result
