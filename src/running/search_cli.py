"""The command line shared by AutoML.py and AutoML_random_search.py: flags, checks, wiring, summary."""
from __future__ import annotations

import argparse
import logging
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from running.cluster import absolute, add_cluster_arguments, connect, slots, threads_per_worker, wants_cluster
from running.job_runner import job_spec
from member import answer_origin
from search.front import alternatives
from training.metrics import DEFAULT_OBJECTIVE, OBJECTIVES, objective_key, objective_label
from running.parallel_run import ParallelSearchRunner
from prepare_data import DEFAULT_DATA_DIR
from running.resume import current, given_flags, resumed_settings
from running.run_log import RUN_PREFIX, RunFiles, RunRecorder, read_record
from running.search_run import RepeatedFailure, SearchRunner
from running.search_setup import Search, min_budget, planned, training_data
from target import DEFAULT_EPOCHS, resolve_device
from status import Algorithm
from utils import (OneLineParser, UsageError, add_device_arguments, fail, file_path, folder_path, parse_bool,
                   parse_fraction, parse_size, positive_int, set_threads, setup_logging)

log = logging.getLogger("automl")

EXIT_FAILED, EXIT_NOT_MET, EXIT_INTERRUPTED = 1, 3, 130
WARM_STARTS = ("portfolio", "default", "none")
DEFAULT_MAX_SIZE, DEFAULT_MIN_PRECISION = 20_000_000, 0.39  # the original project's limits



def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser(prog: str, evolutionary: bool) -> OneLineParser:
    parser = OneLineParser(prog=prog, description="Find the CNN with the highest top-3 (or top-1) accuracy within "
                                                  "a size and a precision constraint, within a time budget.")
    parser.add_argument("--constraint_max_model_size", type=parse_size, default=DEFAULT_MAX_SIZE,
                        help="largest network allowed, in parameters (2e7 or 20000000)")
    parser.add_argument("--constraint_min_precision", type=parse_fraction, default=DEFAULT_MIN_PRECISION,
                        help="smallest macro precision allowed, in [0, 1]")
    parser.add_argument("--constraint_max_macs", type=parse_size, default=None,
                        help="largest cost allowed, in multiply-accumulates of one image's forward pass through all "
                             "branches (5e6); no limit when not given")
    parser.add_argument("--constraint_max_flash", type=parse_size, default=None,
                        help="largest int8 network allowed, in bytes of the tensors it stores (weights, biases, "
                             "scales: what flash holds, e.g. 32768); no limit when not given")
    parser.add_argument("--constraint_max_ram", type=parse_size, default=None,
                        help="most bytes of int8 activations alive at once in one image's inference, as TensorFlow "
                             "Lite Micro's arena holds them (e.g. 16384); no limit when not given")
    parser.add_argument("--prefer_smaller", type=parse_bool, nargs="?", const=True, default=False,
                        help="return the smallest network (flash, then MACs) whose accuracy is within one standard "
                             "error (over folds) of the best one's, rather than the best (the one-standard-error rule)")
    if evolutionary:
        add_evolution_arguments(parser)
    parser.add_argument("--objective", choices=list(OBJECTIVES), default=DEFAULT_OBJECTIVE,
                        help="the accuracy maximised among the configurations that meet the constraints: top3 (the "
                             "true class among the three highest scores) or top1 (with few classes, the one that "
                             "means something)")
    parser.add_argument("--warm_start", choices=WARM_STARTS, default="portfolio",
                        help="what the run trains before any random or bred configuration: portfolio (the proven "
                             "networks of PORTFOLIO in search/space.py, then the default configuration), default "
                             "(only the default configuration) or none (a search from scratch)")
    parser.add_argument("--max_time", type=positive_float, default=3600.0, help="wall-clock seconds")
    parser.add_argument("--max_budget", type=positive_int, default=DEFAULT_EPOCHS, help="epochs of a full evaluation")
    parser.add_argument("--seed", type=int, default=123,
                        help="seeds sampling, variation, cross-validation folds and initialisation")
    parser.add_argument("--data_dir", type=folder_path, default=DEFAULT_DATA_DIR,
                        help="ImageFolder dataset: train/ (searched) and test/ (never read by the search)")
    parser.add_argument("--output_dir", type=folder_path, default=Path("."), help="where the run writes its files")
    parser.add_argument("--resume", type=file_path, help="automl_run_*.json of a stopped run to continue")
    parser.add_argument("--keep_checkpoints", type=parse_bool, nargs="?", const=True, default=False,
                        help="keep the weights of partially trained members after the run")
    add_device_arguments(parser)
    add_cluster_arguments(parser)
    parser.add_argument("--quiet", type=parse_bool, nargs="?", const=True, default=False,
                        help="no progress bar")
    return parser


def add_evolution_arguments(parser: OneLineParser) -> None:
    """The flags of the evolution (AutoML.py), which random search does not have."""
    parser.add_argument("--pop_size", type=int, default=50,
                        help="members kept by steady-state survival: the parents' pool (the original's mu)")
    parser.add_argument("--num_children", type=positive_int, default=1,
                        help="children bred from one ranking of the population before the survivors are chosen "
                             "again (the original's lambda of (mu + lambda)); 1: each child from the latest one")
    parser.add_argument("--hyperband", type=parse_bool, default=True,
                        help="asynchronous successive halving over epochs; False: every member trained to "
                             "--max_budget")
    parser.add_argument("--inherit", type=parse_bool, default=False,
                        help="a child starts from its first parent's checkpoint where it has one: the same "
                             "architecture continues that training to the next rung with the child's "
                             "hyperparameters, another one takes the tensors that fit")
    parser.add_argument("--candidates", type=positive_int, default=1,
                        help="children bred for each new member; above 1, a surrogate (extra trees fitted to "
                             "every result so far, the budget a feature) trains only the one it predicts best")
    parser.add_argument("--eta", type=float, default=3.0,
                        help="successive halving promotes the top 1/eta of a rung to eta times its budget")
    parser.add_argument("--min_budget", type=positive_float, default=None,
                        help="epochs of the lowest rung; the rungs are --max_budget / eta^k down to it (default: "
                             "--max_budget / eta^2, three rungs: 6, 17 and 50 epochs)")


def check_settings(s: dict[str, Any]) -> None:
    """Bad values end the run before any training, with one line naming the flag."""
    if s["algorithm"] == Algorithm.EA:
        if s["pop_size"] < 2:
            raise UsageError(f"--pop_size must be at least 2, got {s['pop_size']}")
        if s["eta"] <= 1:
            raise UsageError(f"--eta must be greater than 1, got {s['eta']}")
        if min_budget(s) > s["max_budget"]:
            raise UsageError(f"--min_budget {s['min_budget']} is larger than --max_budget {s['max_budget']}")


def run_info(s: dict[str, Any], now: datetime) -> str:
    head = (f"popSize_{s['pop_size']}_numChildren_{s['num_children']}_hyperband_{s['hyperband']}"
            if s["algorithm"] == Algorithm.EA else "randomSearch")
    devices = "".join(f"_{name}_{s[key]}" for name, key in (("maxFlash", "constraint_max_flash"),
                                                             ("maxRam", "constraint_max_ram")) if s.get(key))
    return (f"{head}_minPrecision_{s['constraint_min_precision']}_maxModelSize_{s['constraint_max_model_size']}"
            f"{devices}_seed_{s['seed']}_date_{now.strftime('%Y_%m_%d-%H_%M_%S')}")


def settings_from(args: argparse.Namespace, algorithm: str) -> dict[str, Any]:
    settings = {key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()
                if key not in ("resume", "quiet")}
    settings["algorithm"] = algorithm
    return settings


def limits_text(s: dict[str, Any]) -> str:
    """The run's limits, as the summary states them."""
    given = [f"at most {s['constraint_max_model_size']:,} parameters"]
    for key, unit in (("constraint_max_macs", "multiply-accumulates per image"), ("constraint_max_flash", "B of flash"),
                      ("constraint_max_ram", "B of RAM")):
        if s.get(key) is not None:
            given.append(f"at most {s[key]:,} {unit}")
    return ", ".join(given) + f", precision at least {s['constraint_min_precision']}"


def summary(best: dict[str, Any] | None, recorder: RunRecorder, s: dict[str, Any]) -> str:
    files, n = recorder.files, len(recorder.evaluations)
    if best is None:
        return f"No evaluation finished within {s['max_time']:.0f} s. Files: {files.run_json}."
    objective = s.get("objective")
    return (f"{best['label'].capitalize()}: member {best['member']} ({answer_origin(best['origin'])}) reached "
            f"cross-validated {objective_label(objective)} {best[objective_key(objective)]:.4f} "
            f"± {best['standard_error']:.4f} (standard error over folds) and precision "
            f"{best['precision']:.4f} at {best['budget']} epochs, with "
            f"{best['model_size']:,} parameters, {best['macs']:,} multiply-accumulates per image, "
            f"{best['flash']:,} B of flash and {best['ram']:,} B of RAM as an int8 network (limits: "
            f"{limits_text(s)}). {n} evaluations, "
            f"{recorder.epochs_trained} epochs trained. Configuration: {files.opt_cfg} (copied to "
            f"{files.opt_cfg_copy}); every evaluation: {files.run_json}; progress: {files.csv}. "
            f"Measure it on the test set with: {test_command(files, s)}" + trade_offs(best, recorder))


def trade_offs(best: dict[str, Any], recorder: RunRecorder) -> str:
    """Up to four networks of the run's front beside the answer, each against it ('0.4 points lower at half the
    flash'); empty when the front holds nothing else."""
    rows = recorder.front()
    answer = next((row for row in rows if row["member"] == best["member"]), best)
    lines = alternatives(answer, rows, recorder.metric)
    if not lines:
        return ""
    return ("\nAlso on the front of accuracy against flash, RAM and MACs (python src/evaluation.py front "
            f"{recorder.files.run_json}):\n" + "\n".join(f"  {line}" for line in lines))


def test_command(files: RunFiles, s: dict[str, Any]) -> str:
    """main.py on the answer as the search measured it: its epochs, data and byte limits; results next to the run's
    files."""
    epochs = f" -e {s['max_budget']}" if s["max_budget"] != DEFAULT_EPOCHS else ""
    objective = f" --objective {s['objective']}" if s.get("objective", DEFAULT_OBJECTIVE) != DEFAULT_OBJECTIVE else ""
    data = f" --data_dir {s['data_dir']}" if Path(s["data_dir"]) != DEFAULT_DATA_DIR else ""
    devices = "".join(f" --{flag} {s[f'constraint_{flag}']}" for flag in ("max_flash", "max_ram")
                      if s.get(f"constraint_{flag}") is not None)
    main_py = os.path.relpath(Path(__file__).parent.parent / "main.py")  # src/main.py, or main.py typed in src/
    return (f"python {main_py} -c {files.opt_cfg_copy} -t{epochs}{objective}{data}{devices} "
            f"--output_dir {files.output_dir}")


def worker_setup(settings: dict[str, Any]) -> dict[str, Any]:
    """What every worker needs before its first job: the dataset (absolute path), seed, budget, device, threads."""
    now = current(settings)
    return {"data_dir": str(absolute(Path(settings["data_dir"]))), "seed": settings["seed"],
            "max_budget": settings["max_budget"], "device": now["device"],
            "threads": threads_per_worker(now, now.get("threads"))}


def job_spec_of(setup: dict[str, Any]) -> Callable:
    """How the driver describes a job to a worker: plain data, absolute paths, the wall-clock deadline."""
    def spec_of(job, wall_deadline: float) -> dict:
        return job_spec(job.config, job.budget, job.folds, absolute(job.checkpoint_in),
                        absolute(job.checkpoint_out), wall_deadline, **setup, inherit=job.inherit)
    return spec_of


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args: argparse.Namespace, algorithm: str, given: set[str] = frozenset(),
        defaults: dict[str, Any] | None = None) -> int:
    """One search, new or resumed (`given`: the flags on the command line; `defaults`: every flag's default)."""
    if args.resume is not None:
        record = read_record(args.resume)
        settings = resumed_settings(args, record, given, defaults)
        info = args.resume.stem.removeprefix(RUN_PREFIX)
    else:
        settings, record = settings_from(args, algorithm), None
        check_settings(settings)
        info = run_info(settings, datetime.now())
    options = {"max_time": current(settings)["max_time"], "keep_checkpoints": settings["keep_checkpoints"],
               "quiet": args.quiet}
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        runner, outcome = _search_and_run(settings, info, record, options)
        return _finish(runner, outcome, settings)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _finish(runner: SearchRunner, outcome: bool | RepeatedFailure, settings: dict[str, Any]) -> int:
    """Write the run's files whole, print its summary; the exit code."""
    if isinstance(outcome, RepeatedFailure):
        runner.finish(interrupted=True)
        log.error("%s", outcome)
        return EXIT_FAILED
    interrupted = outcome
    best = runner.finish(interrupted)
    print(summary(best, runner.recorder, settings))
    if interrupted:
        return EXIT_INTERRUPTED
    return 0 if best is not None and best["constraints_met"] else EXIT_NOT_MET


def _search_and_run(settings: dict[str, Any], info: str, record: Any,
                    options: dict[str, Any]) -> tuple[SearchRunner, bool | RepeatedFailure]:
    """Build the search (on the cluster, or in this process), replay a stopped run, and run it; the outcome is
    whether it was interrupted, or the RepeatedFailure that stopped it."""
    if wants_cluster(settings):
        with connect(settings) as client:
            # The plan depends on how many jobs run side by side: fixed when the run starts, kept on resume.
            settings["planned_workers"] = settings.get("planned_workers") or slots(client)
            runner, setup = _runner(settings, info, record, options), worker_setup(settings)
            return runner, _outcome(ParallelSearchRunner(runner, client, job_spec_of(setup), setup).run)
    runner = _runner(settings, info, record, options)
    return runner, _outcome(runner.run)


def _runner(settings: dict[str, Any], info: str, record: dict[str, Any] | None,
            options: dict[str, Any]) -> SearchRunner:
    """The run's search, recorder and runner (the settings the run records get its plan), with a stopped run's
    record replayed through it."""
    train = training_data(settings)
    settings.update(planned(settings))
    search = Search(settings, info, train, settings.get("planned_workers") or 1)
    recorder = RunRecorder(search.files, settings, settings["constraint_min_precision"], search.target.n_folds,
                           search.target.model_costs, search.warnings)
    runner = SearchRunner(search.optimizer, search.target, recorder, search.policy, **options)
    if record is not None:
        runner.replay(record["evaluations"], record.get("events"))
        log.info("resumed after %d evaluations and %.0f s; %d jobs asked and never finished run again",
                 len(record["evaluations"]), runner.time_offset, len(runner.rerun))
    return runner


def _outcome(run: Callable[[], bool]) -> bool | RepeatedFailure:
    try:
        return run()
    except RepeatedFailure as error:
        return error


def main(argv: list[str] | None, prog: str, algorithm: str) -> int:
    parser = build_parser(prog, evolutionary=algorithm == Algorithm.EA)
    args = parser.parse_args(argv)
    setup_logging(args.quiet)
    set_threads(args.threads)
    try:
        resolve_device(args.device)
        return run(args, algorithm, given_flags(parser, argv), vars(parser.parse_args([])))
    except UsageError as error:
        fail(str(error), prog)

