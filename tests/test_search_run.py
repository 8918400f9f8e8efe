import json
import time

import pandas as pd
import pytest

from budget.policy import BudgetPolicy
from budget.time_model import PRIORS, CostModel
from EA import AsyncEvolution
from fakes import FakeTarget, SecondPerEpoch
from reporting.runs import load_run
from running.run_log import RunFiles, RunRecorder, journal_lines, read_record
from running.search_run import (REPEATS_TO_STOP, RESERVE_SECONDS, TRUSTED_AFTER, RepeatedFailure, ResumeError,
                                SearchRunner)
from status import Status
from search.space import space
from test_EA import fit_into, size_of

SETTINGS = {"algorithm": "ea", "seed": 5, "constraint_max_model_size": 10**6, "constraint_min_precision": 0.2}


def runner_for(tmp_path, max_time, seconds_per_epoch=0.0, info="run", seed=5, hyperband=True, inherit=False):
    files = RunFiles(tmp_path, info)
    target = FakeTarget(seconds_per_epoch)
    policy = BudgetPolicy(CostModel(PRIORS["cpu"]), target, max_time, 9)
    ea = AsyncEvolution(space(), fit_into(10**6), size_of, 0.2, pop_size=8, min_budget=1 if hyperband else 9,
                        max_budget=9, eta=3, seed=seed, checkpoint_dir=files.checkpoints,
                        job_seconds=policy.job_seconds, inherit=inherit)
    recorder = RunRecorder(files, SETTINGS, 0.2, FakeTarget.n_folds, target.model_costs)
    return SearchRunner(ea, target, recorder, policy, max_time=max_time, quiet=True)


def test_deadline_holds_with_a_cheap_target(tmp_path):
    runner = runner_for(tmp_path, max_time=RESERVE_SECONDS + 2, seconds_per_epoch=0.05)
    start = time.monotonic()
    assert runner.run() is False
    runner.finish(False)
    assert time.monotonic() - start < runner.max_time + 1.0
    assert len(runner.recorder.evaluations) > 5


def run_jobs(runner, n, elapsed):
    """Run n jobs as if `elapsed` seconds of the search had passed before each (the record says so)."""
    for _ in range(n):
        runner.run_job(runner.ask(runner.seconds_left()), time.monotonic() - elapsed, time.monotonic() + 100)


def plain_runner_at_one_second_per_epoch(tmp_path, seconds_left):
    """Plain EA with max_budget 9: every child is predicted to take 9 s."""
    runner = runner_for(tmp_path, max_time=RESERVE_SECONDS + seconds_left, hyperband=False)
    runner.policy.cost_model = SecondPerEpoch()
    return runner


def test_the_first_jobs_run_whatever_their_prediction_and_then_the_run_ends(tmp_path):
    runner = plain_runner_at_one_second_per_epoch(tmp_path, seconds_left=5)
    assert runner.run() is False
    assert len(runner.recorder.evaluations) == len(runner.target.calls) == TRUSTED_AFTER


@pytest.mark.parametrize("seconds_left", [8.5, 9.5])
def test_a_job_that_cannot_finish_before_the_deadline_is_not_started(tmp_path, seconds_left):
    runner = plain_runner_at_one_second_per_epoch(tmp_path, seconds_left)
    run_jobs(runner, TRUSTED_AFTER, elapsed=0)
    assert (runner.ask(runner.seconds_left()) is None) == (seconds_left < 9)


def test_a_promotion_is_predicted_at_the_members_measured_speed(tmp_path):
    runner = runner_for(tmp_path, max_time=1e9)
    runner.target._seconds = lambda fold_epochs: 2.0 * max(fold_epochs, 1)
    run_jobs(runner, 3, elapsed=0)  # three members at 1 epoch on one fold: 2 s per fold-epoch
    promotion = runner.optimizer.ask()
    assert (promotion.budget, promotion.folds, promotion.checkpoint_in is not None) == (3, 1, True)
    assert runner.policy.job_seconds(promotion.member, promotion.fold_epochs) == 2.0 * 2


class AbandonsTheSecondJob(FakeTarget):
    """Reports its second job abandoned as too slow for the deadline, as Target does."""

    def __call__(self, config, budget, **kwargs):
        result = super().__call__(config, budget, **kwargs)
        if len(self.calls) == 2:
            result.status, result.message = "abandoned", "abandoned after 2 fold-epochs"
        return result


def test_an_abandoned_job_is_recorded_and_the_run_goes_on(tmp_path):
    runner = runner_for(tmp_path, max_time=1e9)
    runner.target = AbandonsTheSecondJob()
    run_jobs(runner, 4, elapsed=0)
    statuses = [e["status"] for e in runner.recorder.evaluations]
    assert statuses == ["ok", "abandoned", "ok", "ok"]
    abandoned = runner.optimizer.members[runner.recorder.evaluations[1]["member"]]
    assert abandoned.result is None
    on_disk = read_record(runner.recorder.files.run_json)["evaluations"]
    assert [e["status"] for e in on_disk] == statuses


def test_output_files_parse_and_hold_every_evaluation(tmp_path):
    runner = runner_for(tmp_path, max_time=RESERVE_SECONDS + 1.5)
    runner.run()
    best = runner.finish(False)
    files = runner.recorder.files
    record = json.loads(files.run_json.read_text())
    assert record["finished"] and record["settings"] == SETTINGS and record["best"] == best
    first = record["evaluations"][0]
    for key in ("member", "origin", "configuration", "budget", "top3_accuracy", "precision", "model_size",
                "fold_epochs", "train_seconds", "time", "rung", "status"):
        assert key in first
    times = [e["time"] for e in record["evaluations"]]
    assert times == sorted(times)
    table = pd.read_csv(files.csv)
    assert list(table.columns) == ["step", "time", "evaluations", "epochs_trained", "avg_acc", "best_acc",
                                   "avg_prec", "best_prec", "best_feasible_acc"]
    assert len(table) == len(record["evaluations"])
    assert table["epochs_trained"].iloc[-1] == sum(e["epochs_this_call"] for e in record["evaluations"])
    answer = {**best["configuration"], "origin": best["origin"]}
    assert json.loads(files.opt_cfg.read_text()) == answer == json.loads(files.opt_cfg_copy.read_text())
    assert best["constraints_met"] and best["budget"] == 9 and best["origin"]["kind"] in ("random", "child")
    assert not files.checkpoints.exists()


@pytest.mark.parametrize("inherit", [False, True])
def test_resume_continues_where_the_run_stopped(tmp_path, inherit):
    first = runner_for(tmp_path, max_time=1e9, inherit=inherit)
    stopped_after = 40 if inherit else 20
    for _ in range(stopped_after):
        first.run_job(first.ask(1e9), time.monotonic(), time.monotonic() + 100)
    first.finish(interrupted=True)
    record = json.loads(first.recorder.files.run_json.read_text())
    assert len(record["evaluations"]) == stopped_after and record["interrupted"]
    assert inherit == any("inherited" in e["origin"] for e in record["evaluations"])  # the record says who inherited

    resumed = runner_for(tmp_path, max_time=1e9, inherit=inherit)
    resumed.replay(record["evaluations"])
    assert len(resumed.recorder.evaluations) == stopped_after
    next_job = resumed.optimizer.ask()

    straight = runner_for(tmp_path / "straight", max_time=1e9, inherit=inherit)
    for _ in range(stopped_after):
        straight.run_job(straight.ask(1e9), time.monotonic(), time.monotonic() + 100)
    expected = straight.optimizer.ask()
    assert (next_job.member.id, next_job.budget, next_job.config, next_job.inherit, next_job.member.origin) == (
        expected.member.id, expected.budget, expected.config, expected.inherit, expected.member.origin)
    if next_job.checkpoint_in is not None:
        assert next_job.checkpoint_in.exists()


def test_near_the_deadline_promotions_are_passed_over_and_replay_the_same(tmp_path):
    # 5 s left at a reported 1 s per fold-epoch: a promotion from 3 to 9 epochs (6 + 2 * 9 fold-epochs) does not
    # fit, one from 1 to 3 (2 fold-epochs) does.
    max_time, elapsed = RESERVE_SECONDS + 100, 100 - 5
    runners = [runner_for(tmp_path / name, max_time=max_time) for name in ("first", "resumed")]
    for runner in runners:
        runner.target._seconds = lambda fold_epochs: float(max(fold_epochs, 1))
    first, resumed = runners
    run_jobs(first, 20, elapsed)
    budgets = {e["budget"] for e in first.recorder.evaluations}
    assert budgets == {1, 3}

    resumed.replay(first.recorder.evaluations)
    run_jobs(first, 1, elapsed)
    run_jobs(resumed, 1, elapsed)
    assert first.recorder.evaluations[-1]["member"] == resumed.recorder.evaluations[-1]["member"]


def test_a_running_search_appends_one_journal_line_per_ask_and_per_evaluation_and_rewrites_nothing(tmp_path):
    runner = runner_for(tmp_path, max_time=1e9)
    run_jobs(runner, 12, elapsed=0)
    files = runner.recorder.files
    assert json.loads(files.run_json.read_text())["evaluations"] == []  # written whole before the first one only
    lines = journal_lines(files.journal)
    assert [line["evaluation"] for line in lines if "evaluation" in line] == runner.recorder.evaluations
    assert [line["event"] for line in lines] == runner.recorder.events and len(lines) == 2 * 12
    answer = runner.recorder.best()
    assert read_record(files.run_json)["best"] == answer
    assert json.loads(files.opt_cfg.read_text())["origin"] == answer["origin"]
    runner.finish(interrupted=True)
    record = json.loads(files.run_json.read_text())
    assert not files.journal.exists() and record["evaluations"] == runner.recorder.evaluations


def test_a_killed_run_loses_no_evaluation_a_torn_line_is_ignored_and_it_resumes(tmp_path):
    killed = runner_for(tmp_path, max_time=1e9)
    run_jobs(killed, 15, elapsed=0)
    files = killed.recorder.files
    with open(files.journal, "a") as journal:
        journal.write('{"evaluation": {"evaluation": 15, "memb')  # the kill came mid-line
    run = load_run(files.run_json)
    assert len(run.evaluations) == len(run.trace) == 15
    record = read_record(files.run_json)
    assert record["evaluations"] == killed.recorder.evaluations

    resumed = runner_for(tmp_path, max_time=1e9)
    resumed.replay(record["evaluations"], record["events"])
    assert json.loads(files.run_json.read_text())["evaluations"] == []  # replaying writes nothing
    run_jobs(resumed, 1, elapsed=0)
    straight = runner_for(tmp_path / "straight", max_time=1e9)
    run_jobs(straight, 16, elapsed=0)
    assert resumed.recorder.evaluations[-1]["member"] == straight.recorder.evaluations[-1]["member"]
    assert len(json.loads(files.run_json.read_text())["evaluations"]) == 15  # whole again, then journaled
    assert len(read_record(files.run_json)["evaluations"]) == 16 and len(journal_lines(files.journal)) == 2


def test_a_job_the_deadline_cut_off_is_not_recorded_and_a_resumed_run_runs_it_first(tmp_path):
    first = runner_for(tmp_path, max_time=1e9)
    run_jobs(first, 5, elapsed=0)
    cut = first.ask(first.seconds_left())
    assert first.finished(cut, {"status": Status.STOPPED, "message": "deadline reached"}, 10.0) is False
    first.finish(interrupted=True)
    record = json.loads(first.recorder.files.run_json.read_text())
    assert len(record["evaluations"]) == 5 and record["events"][-1]["ask"] == cut.id

    resumed = runner_for(tmp_path, max_time=1e9)
    resumed.replay(record["evaluations"], record["events"])
    again = resumed.ask(resumed.seconds_left())
    assert (again.id, again.member.id, again.budget, again.config) == (cut.id, cut.member.id, cut.budget, cut.config)


def test_resume_with_other_settings_is_refused(tmp_path):
    first = runner_for(tmp_path, max_time=1e9)
    for _ in range(3):
        first.run_job(first.ask(1e9), time.monotonic(), time.monotonic() + 100)
    other = runner_for(tmp_path / "o", max_time=1e9, hyperband=False)
    with pytest.raises(ResumeError):
        other.replay(first.recorder.evaluations)


def test_a_recorded_result_of_another_configuration_is_refused(tmp_path):
    """Same jobs, other networks (a changed repair): the results would be paired with networks they never were."""
    first = runner_for(tmp_path, max_time=1e9)
    for _ in range(3):
        first.run_job(first.ask(1e9), time.monotonic(), time.monotonic() + 100)
    evaluations = [dict(e) for e in first.recorder.evaluations]
    recorded = evaluations[1]["configuration"]
    evaluations[1]["configuration"] = {**recorded, "kernel_size": 3 if recorded["kernel_size"] == 7 else 7}
    with pytest.raises(ResumeError, match="evaluation 1 .* does not replay"):
        runner_for(tmp_path / "o", max_time=1e9).replay(evaluations)


class FailsWith(FakeTarget):
    """Every evaluation fails with the next of `errors` (an exception type name, as Target reports it)."""

    def __init__(self, errors):
        super().__init__()
        self.errors = list(errors)

    def __call__(self, config, budget, **kwargs):
        result = super().__call__(config, budget, **kwargs)
        error = self.errors[(len(self.calls) - 1) % len(self.errors)]
        result.status, result.message, result.error = Status.FAILED, f"{error}: something", error
        return result


def test_the_same_unexpected_error_three_times_in_a_row_stops_the_run(tmp_path):
    runner = runner_for(tmp_path, max_time=1e9)
    runner.target = FailsWith(["KeyError"])
    with pytest.raises(RepeatedFailure, match="KeyError"):
        runner.run()
    assert len(runner.recorder.evaluations) == REPEATS_TO_STOP
    assert len(read_record(runner.recorder.files.run_json)["evaluations"]) == REPEATS_TO_STOP


@pytest.mark.parametrize("errors", [["OutOfMemoryError"], ["KeyError", "KeyError", "ValueError"]])
def test_out_of_memory_or_different_errors_do_not_stop_the_run(tmp_path, errors):
    runner = runner_for(tmp_path, max_time=RESERVE_SECONDS + 1.0)
    runner.target = FailsWith(errors)
    assert runner.run() is False and len(runner.recorder.evaluations) > REPEATS_TO_STOP


def test_the_objective_top1_changes_what_the_search_keeps_and_what_it_records(tmp_path):
    """The fake target's top-1 prefers a higher learning rate than its top-3: the two objectives rank the same
    evaluations differently, and the run records, traces and returns the one asked for."""
    answers = {}
    for objective in ("top3", "top1"):
        files = RunFiles(tmp_path / objective, "run")
        target = FakeTarget()
        policy = BudgetPolicy(CostModel(PRIORS["cpu"]), target, 1000, 9)
        metric = f"{objective}_accuracy"
        ea = AsyncEvolution(space(), fit_into(10**6), size_of, 0.2, pop_size=8, min_budget=1, max_budget=9, eta=3,
                            seed=5, checkpoint_dir=files.checkpoints, metric=metric)
        recorder = RunRecorder(files, {**SETTINGS, "objective": objective}, 0.2, FakeTarget.n_folds, target.model_costs)
        runner = SearchRunner(ea, target, recorder, policy, max_time=1000, quiet=True)
        run_jobs(runner, 100, elapsed=1)
        best = runner.finish(False)
        full = [e for e in recorder.evaluations if len(e["folds"]) == 3]
        assert best[metric] == max(e[metric] for e in full)
        assert recorder.best_feasible == best[metric]
        assert [m.id for m in ea.population] == [m.id for m in sorted(
            ea.population, key=lambda m: (m.budget, m.result[metric]), reverse=True)]
        answers[objective] = best["configuration"]["learning_rate_init"]
    assert answers["top1"] > answers["top3"]
