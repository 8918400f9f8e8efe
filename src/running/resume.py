"""--resume: which flags a stopped run's command line may give again, and the settings it goes on with."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from running.cluster import CLUSTER_FLAGS, WORKER_FLAGS, wants_cluster
from running.run_log import RUN_PREFIX
from utils import UsageError

RESUMABLE = ("max_time", "threads", "device")  # flags a resumed run may change, recorded in its settings


def given_flags(parser: argparse.ArgumentParser, argv: list[str] | None) -> set[str]:
    """The flags given on the command line (argparse leaves a namespace's existing attributes alone, so a
    namespace filled with a marker shows which ones were parsed), whatever their values."""
    marker = object()
    namespace = argparse.Namespace(**{action.dest: marker for action in parser._actions})
    return {key for key, value in vars(parser.parse_args(argv, namespace=namespace)).items() if value is not marker}


def resumed_settings(args: argparse.Namespace, record: Any, given: set[str] = frozenset(),
                     defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    """A stopped run's settings, in the folder where its file is now (even if it was moved since). Of the flags
    given with --resume, --max_time (a new total, e.g. to extend the run), --threads and --device apply from now
    on and are appended to the settings' `resumes`, the recorded values staying what the run planned with; the
    cluster flags replace the recorded ones (a run on workers may resume on other workers); --quiet applies; any
    other flag may repeat its recorded value (the command line the run was started with, plus --resume) and is
    refused if it differs. A setting the run predates counts as recorded at its default (`defaults`)."""
    if not isinstance(record, dict) or "settings" not in record:
        raise UsageError(f"{args.resume}: not an {RUN_PREFIX}*.json file")
    settings = {**record["settings"], "output_dir": str(args.resume.parent)}
    for flag in sorted(given - {"resume", "quiet", *RESUMABLE, *CLUSTER_FLAGS}):
        recorded = settings.get(flag, (defaults or {}).get(flag))
        if not same_setting(recorded, getattr(args, flag)):
            raise UsageError(f"{args.resume}: a resumed run keeps its settings; --{flag} was {shown(recorded)} and "
                             f"is given as {shown(getattr(args, flag))} (with --resume, only --max_time, --threads, "
                             "--device, --quiet and the cluster flags may change)")
    cluster = {flag: getattr(args, flag) for flag in CLUSTER_FLAGS if flag in given}
    workers = [flag for flag in WORKER_FLAGS if flag in cluster]
    if workers:
        if not wants_cluster(settings):
            raise UsageError(f"{args.resume}: a run made in one process resumes in one process; drop "
                             + ", ".join(f"--{flag}" for flag in workers))
        settings.update(dict.fromkeys(WORKER_FLAGS))
    now = current(settings)
    changes = {flag: getattr(args, flag) for flag in RESUMABLE
               if flag in given and getattr(args, flag) != now.get(flag)}
    if changes:
        settings["resumes"] = [*settings.get("resumes", []), changes]
    return {**settings, **cluster}


def same_setting(recorded: Any, given: Any) -> bool:
    """Whether a flag given with --resume repeats the recorded value (folders compared as the paths they name)."""
    if isinstance(given, Path):
        return recorded is not None and Path(recorded).resolve() == given.resolve()
    return recorded == given


def shown(value: Any) -> str:
    return "not set" if value is None else str(value)


def current(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings in force now: the recorded ones with the changes of every resume applied in order."""
    return {key: value for part in (settings, *settings.get("resumes", [])) for key, value in part.items()}
