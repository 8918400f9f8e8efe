"""The budget policy: allowance of one evaluation, affordable batches and networks, work shared by workers."""
import numpy as np
import pytest

from budget.limits import Limits
from budget.policy import BudgetPolicy, affordable_batch, evaluation_seconds
from budget.time_model import PRIORS, CostModel
from fakes import CLASSES, SHAPE, FakeTarget, SecondPerEpoch
from member import Member
from search.fitting import fitter
from search.space import DEFAULT_CONFIG, PORTFOLIO, load_config, space


def policy(workers=1, max_time=300.0, max_budget=10, cost_model=None):
    return BudgetPolicy(cost_model or SecondPerEpoch(), FakeTarget(), max_time, max_budget, workers)


@pytest.mark.parametrize("max_time,seconds", [(30, 9), (60, 18), (180, 54), (300, 60), (600, 60), (3600, 360)])
def test_an_evaluation_may_take_a_tenth_of_the_run_but_at_least_a_minute_within_30_percent(max_time, seconds):
    assert evaluation_seconds(max_time) == pytest.approx(seconds)
    assert policy(max_time=max_time).allowance == pytest.approx(seconds)


@pytest.mark.parametrize("batch_size,min_batch,expected", [(4, 7.2, 8), (16, 7.2, 16), (4, 1e4, 300)])
def test_a_batch_too_small_to_train_in_time_is_raised_within_the_space(batch_size, min_batch, expected):
    config = {**DEFAULT_CONFIG, "batch_size": batch_size}
    assert affordable_batch(config, min_batch, space()["batch_size"].upper) == {**config, "batch_size": expected}


@pytest.mark.parametrize("workers,seconds,expected", [(1, 25, 2), (2, 25, 5), (3, 25, 7), (1, 5, 1), (4, 1e9, 8)])
def test_the_opening_configurations_are_those_the_workers_finish_in_time_and_at_least_one(workers, seconds, expected):
    configs = [dict(DEFAULT_CONFIG, batch_size=8 + i) for i in range(8)]  # 10 s each at max_budget 10
    assert policy(workers).opening(configs, seconds) == configs[:expected]


def test_a_set_of_jobs_is_shared_among_the_workers_but_one_job_is_not():
    one, four = policy(1), policy(4)
    assert four.wall_seconds(100) == pytest.approx(one.wall_seconds(100) / 4)
    assert four.training_seconds(DEFAULT_CONFIG, 15) == one.training_seconds(DEFAULT_CONFIG, 15) == pytest.approx(5)
    with pytest.raises(ValueError, match="workers"):
        policy(0)


def test_a_job_is_priced_at_the_members_measured_speed_per_fold_epoch_once_it_has_one():
    member = Member(0, dict(DEFAULT_CONFIG), 10)
    assert policy().job_seconds(member, 30) == pytest.approx(10)  # the cost model: a third of a second each
    member.record(2, {"status": "ok", "train_seconds": 4.0, "fold_epochs": 2, "folds": [{}]}, None)
    member.record(4, {"status": "diverged", "train_seconds": 9.0, "fold_epochs": 0, "folds": [{}]}, None)
    assert policy().job_seconds(member, 30) == pytest.approx(60)  # 2 s per fold-epoch; the failure is not counted
    member.record(6, {"status": "ok", "train_seconds": 8.0, "fold_epochs": 2, "measure_epochs": 2.0, "folds": [{}]},
                  None)
    assert policy().job_seconds(member, 30) == pytest.approx(60)  # 12 s over 6 fold-epochs, the decays' 2 included


def test_the_default_finishes_only_when_its_training_to_max_budget_fits_the_run():
    assert policy(max_time=10, max_budget=10).finishes(DEFAULT_CONFIG)
    assert not policy(max_time=9, max_budget=10).finishes(DEFAULT_CONFIG)


def test_the_cost_model_learns_from_what_the_workers_report():
    learning = policy(cost_model=CostModel(PRIORS["cpu"]))
    before = learning.training_seconds(DEFAULT_CONFIG, 10)
    for _ in range(20):
        learning.observe(DEFAULT_CONFIG, 10, 10 * before)
    assert learning.training_seconds(DEFAULT_CONFIG, 10) > 5 * before


def test_the_fitter_makes_every_portfolio_member_affordable_within_the_size():
    fast = policy(cost_model=CostModel(PRIORS["cpu"]), max_time=60, max_budget=50)
    fit = fitter(fast, space(), SHAPE, CLASSES, Limits(1e6))
    rng = np.random.default_rng(0)
    for config in PORTFOLIO:
        fitted = fit(load_config(config), rng)
        assert FakeTarget().model_size(fitted) <= 1e6
        assert fast.full_seconds(fitted) <= fast.allowance * 1.001


def test_the_fitter_brings_every_portfolio_member_within_a_macs_limit():
    fit = fitter(policy(cost_model=CostModel(PRIORS["cpu"]), max_time=60, max_budget=50), space(), SHAPE, CLASSES,
                 Limits(1e6, max_macs=3e5))
    rng = np.random.default_rng(0)
    assert all(FakeTarget().model_macs(fit(load_config(config), rng)) <= 3e5 for config in PORTFOLIO)
