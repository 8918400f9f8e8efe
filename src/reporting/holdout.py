"""Returned configurations on the held-out test set: train on all of train/ per seed, measure on test/.

Results go to test_results.csv (one row per configuration and seed, with each test image's top-3 hit and the
confusion matrix), rewritten atomically after each training: a stopped evaluation keeps what finished and a
rerun trains only what is missing. A configuration already measured with the same seed, epochs and data (under
any name: two optimizers may return the same network) is not trained again.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from training.data import ImageData
from training.metrics import OBJECTIVES, compute_metrics
from reporting.runs import load_run
from running.run_log import ANSWER_FILE, CONFIG_PREFIX, RUN_PREFIX
from member import origin_label
from search.space import DEFAULT_CONFIG, DEFAULT_NAME, ORIGIN_KEY, ConfigError, load_config
from training.fold_run import TrainingDiverged
from target import Target
from utils import UsageError, atomic_write_text, read_json
from status import Mode, Status

log = logging.getLogger(__name__)

RESULTS_FILE = "test_results.csv"



@dataclass(frozen=True)
class Candidate:
    """A configuration to measure, and what is known of the search that returned it (None: not from a run)."""

    name: str
    config: dict[str, Any]
    optimizer: str = "default configuration"
    origin: str = "default"
    warm_start: str | None = None
    search_seed: int | None = None
    max_size: float | None = None
    min_precision: float | None = None
    max_macs: float | None = None
    max_flash: float | None = None
    max_ram: float | None = None

    @property
    def key(self) -> str:
        return json.dumps(self.config, sort_keys=True)


def _run_beside(config_path: Path) -> Path | None:
    """The automl_run file that produced an opt_cfg file: opt_cfg_{info}.json's twin, or the folder's only run."""
    twin = config_path.with_name(config_path.name.replace(CONFIG_PREFIX, RUN_PREFIX, 1))
    if config_path.name.startswith(CONFIG_PREFIX) and twin.is_file():
        return twin
    runs = list(config_path.parent.glob(f"{RUN_PREFIX}*.json"))
    return runs[0] if len(runs) == 1 else None


def candidate_from(path: Path) -> Candidate:
    """A configuration file, or a run folder (its opt_cfg.json); the run's constraints come with it."""
    path = Path(path)
    if path.is_dir():
        config_path = path / ANSWER_FILE
        if not config_path.is_file():
            raise UsageError(f"{path}: no {ANSWER_FILE} in this run folder (did the search return a configuration?)")
    elif path.is_file():
        config_path = path
    else:
        raise UsageError(f"{path}: no such file or folder")
    raw = read_json(config_path)
    try:
        config = load_config(raw)
    except ConfigError as error:
        raise UsageError(f"{config_path}: {error}") from None
    origin = origin_label(raw.get(ORIGIN_KEY)) if isinstance(raw, dict) and raw.get(ORIGIN_KEY) else None
    name = config_path.parent.name if config_path.name == ANSWER_FILE else config_path.stem
    run_path = _run_beside(config_path)
    if run_path is None:
        return Candidate(name, config, optimizer="unknown", origin=origin or "not recorded")
    run = load_run(run_path)
    return Candidate(name, config, run.optimizer, origin or run.answer_origin, run.warm_start, run.seed,
                     run.max_size, run.min_precision, run.max_macs, run.max_flash, run.max_ram)


def default_candidate() -> Candidate:
    return Candidate(DEFAULT_NAME, dict(DEFAULT_CONFIG))


def read_results(path: Path) -> pd.DataFrame:
    """The results recorded so far (an empty table when there are none)."""
    if not path.exists():
        return pd.DataFrame()
    try:
        return pd.read_csv(path, dtype={"top3_hits": str, "top1_hits": str})
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        raise UsageError(f"{path}: not a readable results table ({str(error).splitlines()[0]})") from None


def measure(target: Target, config: dict[str, Any], epochs: int) -> dict[str, Any]:
    """Train config on all of train/ and measure it on test/: metrics, per-image top-3 and top-1 hits, confusion
    matrix."""
    try:
        (run,) = target.trained_runs(config, epochs)
    except TrainingDiverged as error:
        return {"status": Status.DIVERGED, "message": str(error), "top3_accuracy": np.nan, "top1_accuracy": np.nan,
                "precision": np.nan, "top3_hits": "", "top1_hits": "", "confusion": "[]"}
    x_test, y_test = target.validation(0)
    metrics = compute_metrics(run.scores(x_test), y_test.cpu().numpy(), target.num_classes)
    hits = {f"{k}_hits": "".join("1" if h else "0" for h in metrics[f"{k}_hits"]) for k in OBJECTIVES}
    return {"status": Status.OK, "message": "", "top3_accuracy": metrics["top3_accuracy"],
            "top1_accuracy": metrics["top1_accuracy"], "precision": metrics["precision"], **hits,
            "confusion": json.dumps(metrics["confusion"].tolist())}


def evaluate(candidates: Sequence[Candidate], seeds: Sequence[int], epochs: int, train: ImageData,
             test: ImageData, out: Path, data_dir: str, device: str = "auto") -> pd.DataFrame:
    """Measure every candidate with every seed (reusing what test_results.csv in `out` already holds)."""
    path = out / RESULTS_FILE
    results = read_results(path)
    bar = tqdm(total=len(seeds) * len(candidates), unit="training", desc="test/",
               bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} trainings [{elapsed} elapsed, about {remaining} left]")
    for seed in seeds:
        target = Target(train, test, mode=Mode.TEST, seed=seed, max_budget=epochs, device=device)
        for candidate in candidates:
            row = _row(candidate, seed, epochs, data_dir)
            done = _find(results, row)
            if done is None:
                log.info("training %s, seed %d, %d epochs on all of train/", candidate.name, seed, epochs)
                started = pd.Timestamp.now()
                measured = measure(target, candidate.config, epochs)
                measured["train_seconds"] = (pd.Timestamp.now() - started).total_seconds()
            else:
                measured = done
            row.update({key: measured.get(key, np.nan) for key in MEASURED})  # tables made before top-1: NaN
            costs = target.model_costs(candidate.config)
            row.update(model_size=costs.parameters, macs=costs.macs, flash=costs.flash, ram=costs.ram)
            results = _replace(results, row)
            atomic_write_text(path, results.to_csv(index=False))
            bar.update()
    bar.close()
    return results


MEASURED = ("status", "message", "top3_accuracy", "top1_accuracy", "precision", "train_seconds", "top3_hits",
            "top1_hits", "confusion")
IDENTITY = ("config", "seed", "epochs", "data_dir")


def _row(candidate: Candidate, seed: int, epochs: int, data_dir: str) -> dict[str, Any]:
    return {"name": candidate.name, "optimizer": candidate.optimizer, "origin": candidate.origin,
            "warm_start": candidate.warm_start,
            "search_seed": candidate.search_seed,
            "max_size": candidate.max_size, "min_precision": candidate.min_precision, "max_macs": candidate.max_macs,
            "max_flash": candidate.max_flash, "max_ram": candidate.max_ram,
            "seed": seed,
            "epochs": epochs, "data_dir": data_dir, "config": candidate.key}


def _find(results: pd.DataFrame, row: dict[str, Any]) -> dict[str, Any] | None:
    """A finished measurement of the same configuration, seed, epochs and data, under any name."""
    if results.empty:
        return None
    same = np.logical_and.reduce([results[key].astype(str) == str(row[key]) for key in IDENTITY])
    match = results[same & (results["status"] == Status.OK)]
    return None if match.empty else match.iloc[0].to_dict()


def _replace(results: pd.DataFrame, row: dict[str, Any]) -> pd.DataFrame:
    """results with row in place of an earlier row of the same name, seed, epochs and data."""
    if not results.empty:
        keys = ("name", "seed", "epochs", "data_dir")
        same = np.logical_and.reduce([results[key].astype(str) == str(row[key]) for key in keys])
        results = results[~same]
    return pd.concat([results, pd.DataFrame([row])], ignore_index=True)
