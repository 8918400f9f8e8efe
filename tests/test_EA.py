"""The ask/tell optimizers with a fake target: warm start and origins, asynchronous successive halving with cheap
folds below max_budget, breeding, the deadline, random search."""
from collections import Counter

import numpy as np
import pytest

from EA import OPENING_MEMBERS, AsyncEvolution
from search.random_search import RandomSearch
from fakes import CLASSES, SHAPE, FakeTarget
from member import default_origin, portfolio_origin
from budget.closed_forms import architecture, count_parameters
from status import Inherit
from budget.limits import Limits
from search.repair import repair
from search.space import DEFAULT_CONFIG, PORTFOLIO, load_config, space


def fit_into(max_size):
    return lambda config, rng: repair(config, space(), SHAPE, CLASSES, Limits(max_size), None, rng)


def size_of(config):
    return count_parameters(config, SHAPE, CLASSES)


PROVEN = [(load_config(config), portfolio_origin(i)) for i, config in enumerate(PORTFOLIO[:2])]
DEFAULT = [(dict(DEFAULT_CONFIG), default_origin())]


def make_ea(tmp_path, max_size=2 * 10**7, **kw):
    args = dict(pop_size=10, min_budget=1, max_budget=9, eta=3, seed=1, checkpoint_dir=tmp_path / "ckpt",
                proven=PROVEN, initial=DEFAULT if size_of(DEFAULT_CONFIG) <= max_size else [])
    args.update(kw)
    return AsyncEvolution(space(), fit_into(max_size), size_of, 0.2, **args)


def run(job, target=None):
    target = target or FakeTarget()
    return target(job.config, job.budget, folds=job.folds, checkpoint_in=job.checkpoint_in,
                  checkpoint_out=job.checkpoint_out).to_dict()


def drive(optimizer, n_jobs, target=None):
    """One slot: ask, run, tell, n_jobs times."""
    jobs = []
    for _ in range(n_jobs):
        job = optimizer.ask()
        optimizer.tell(job, run(job, target))
        jobs.append(job)
    return jobs


def test_the_portfolio_opens_at_max_budget_then_the_default_then_random_then_children(tmp_path):
    ea = make_ea(tmp_path)
    jobs = drive(ea, 40)
    kinds = [j.member.origin["kind"] for j in jobs if j.member.results and min(j.member.results) == j.budget]
    assert kinds[:3] == ["portfolio", "portfolio", "default"]
    assert kinds[3:OPENING_MEMBERS] == ["random"] * (OPENING_MEMBERS - 3)
    assert set(kinds[OPENING_MEMBERS:]) == {"child"}
    assert [(j.budget, j.member.origin) for j in jobs[:2]] == [(9, portfolio_origin(0)), (9, portfolio_origin(1))]
    assert jobs[2].config == DEFAULT_CONFIG and jobs[2].budget == 1


def test_a_child_records_its_parents_and_generation(tmp_path):
    ea = make_ea(tmp_path)
    drive(ea, 60)
    children = [m for m in ea.members.values() if m.origin["kind"] == "child"]
    assert children
    for child in children:
        parents = [ea.members[p] for p in child.parents]
        assert 1 <= len(parents) <= 2 and all(p.id < child.id for p in parents)
        assert child.generation == 1 + max(p.generation for p in parents)
    assert max(child.generation for child in children) >= 2


def test_no_warm_start_begins_with_random_members_at_the_lowest_budget(tmp_path):
    ea = make_ea(tmp_path, proven=[], initial=[])
    jobs = [ea.ask() for _ in range(OPENING_MEMBERS)]
    assert {j.member.origin["kind"] for j in jobs} == {"random"} and {j.budget for j in jobs} == {1}


def test_cheap_rungs_train_one_fold_and_max_budget_all_folds(tmp_path):
    ea = make_ea(tmp_path, proven=[], initial=[])
    jobs = drive(ea, 60)
    assert {(j.budget, j.folds) for j in jobs} == {(1, 1), (3, 1), (9, 3)}
    to_max = [j for j in jobs if j.budget == 9]
    assert to_max and all(j.checkpoint_in is not None for j in to_max)
    assert all(j.fold_epochs == (9 - 3) + 2 * 9 for j in to_max)  # fold 0 continues, folds 1 and 2 start afresh
    for job in jobs:  # a cheap rung of a decaying schedule also trains its measuring decay
        decay = job.budget < 9 and job.config["lr_schedule"] != "constant"
        assert job.measure_epochs == pytest.approx(0.2 * job.budget if decay else 0.0)
        assert job.cost_epochs == job.fold_epochs + job.measure_epochs
    assert any(job.measure_epochs for job in jobs) and not all(job.measure_epochs for job in jobs)
    assert all(len(j.member.results[9]["folds"]) == 3 for j in to_max)


def test_a_rung_promotes_its_best_once_it_has_eta_results(tmp_path):
    ea = make_ea(tmp_path, proven=[])
    first = [ea.ask() for _ in range(3)]
    for job in first[:2]:
        ea.tell(job, run(job))
    assert ea.ask().budget == 1  # two results at budget 1: nothing to promote yet
    ea.tell(first[2], run(first[2]))
    promoted = ea.ask()
    best = max(first, key=lambda j: j.member.result["top3_accuracy"])
    assert promoted.member is best.member and promoted.budget == 3 and promoted.checkpoint_in == best.checkpoint_out


def test_a_promotion_predicted_to_outlast_the_time_left_gives_way_to_a_new_member(tmp_path):
    def job_seconds(member, fold_epochs):
        return 10.0 * fold_epochs  # a promotion from 1 to 3 epochs on one fold: 20 s
    ea = make_ea(tmp_path, proven=[], job_seconds=job_seconds)
    for job in [ea.ask() for _ in range(3)]:
        ea.tell(job, run(job))
    assert ea.ask(seconds_left=15).budget == 1
    assert ea.ask(seconds_left=30).budget == 3


def test_a_crashed_job_is_never_promoted(tmp_path):
    ea = make_ea(tmp_path, proven=[], initial=[])
    for job in [ea.ask() for _ in range(3)]:
        ea.tell(job, {"status": "crashed", "message": "KilledWorker", "top3_accuracy": float("nan"),
                      "precision": 0.0, "train_seconds": 0.0, "folds": []})
    assert ea.ask().budget == 1 and ea.rungs.top(1) == []


def test_the_population_ranks_members_trained_further_first(tmp_path):
    ea = make_ea(tmp_path, proven=[], initial=[])
    drive(ea, 30)
    budgets = [m.budget for m in ea.population]
    assert budgets == sorted(budgets, reverse=True) and budgets[0] == 9


def test_obsolete_checkpoints_are_those_no_job_continues(tmp_path):
    ea = make_ea(tmp_path, proven=[], initial=[])
    jobs = drive(ea, 30)
    stale = set(ea.obsolete_checkpoints())
    assert {j.checkpoint_out for j in jobs if j.budget == 9} == {None}
    for member in ea.members.values():
        assert member.checkpoint is None or member.checkpoint not in stale
    assert stale == {j.checkpoint_out for j in jobs if j.checkpoint_out is not None} - {
        m.checkpoint for m in ea.members.values()}


def test_plain_evolution_trains_every_member_at_max_budget_on_all_folds(tmp_path):
    ea = make_ea(tmp_path, min_budget=9, pop_size=4)
    jobs = drive(ea, 15)
    assert {(j.budget, j.folds) for j in jobs} == {(9, 3)} and all(j.checkpoint_in is None for j in jobs)
    assert [j.member.origin["kind"] for j in jobs[:3]] == ["portfolio", "portfolio", "default"]
    assert all(j.member.parents for j in jobs[4:]) and len(ea.population) == 4


@pytest.mark.parametrize("seed", range(4))
def test_every_evaluated_configuration_fits_any_size_constraint(tmp_path, seed):
    rng = np.random.default_rng(seed)
    max_size = int(10 ** rng.uniform(3.5, 7.5))
    ea = make_ea(tmp_path, max_size=max_size, seed=seed, proven=[])
    jobs = drive(ea, 40)
    assert all(size_of(j.config) <= max_size for j in jobs)
    assert (jobs[0].config == DEFAULT_CONFIG) == (size_of(DEFAULT_CONFIG) <= max_size)


def test_random_search_trains_its_warm_start_first_then_random_configurations_at_max_budget():
    rs = RandomSearch(space(), fit_into(2 * 10**7), size_of, 0.39, 20, 0, None, PROVEN + DEFAULT)
    jobs = drive(rs, 15)
    assert [j.member.origin["kind"] for j in jobs] == ["portfolio", "portfolio", "default"] + ["random"] * 12
    assert {(j.budget, j.folds) for j in jobs} == {(20, 3)}
    assert len({str(sorted(j.config.items())) for j in jobs}) == 15


def test_random_search_samples_within_size():
    rs = RandomSearch(space(), fit_into(50_000), size_of, 0.39, 20, 0, None)
    assert all(size_of(j.config) <= 50_000 for j in drive(rs, 15))


def test_same_seed_same_search(tmp_path):
    a = [j.config for j in drive(make_ea(tmp_path / "a"), 45)]
    b = [j.config for j in drive(make_ea(tmp_path / "b"), 45)]
    assert a == b and Counter(j.budget for j in drive(make_ea(tmp_path / "c"), 45))[9] > 2


def children_in_order(ea):
    return sorted((m for m in ea.members.values() if m.origin["kind"] == "child"), key=lambda m: m.id)


def test_num_children_breeds_that_many_children_from_one_ranking_of_the_population(tmp_path):
    """λ = 10: the first ten children's parents all come from the population as ranked before the first of them was
    bred, although their own results came in between; λ = 1 (steady state) breeds from the latest ranking, so a
    child bred in those ten is already a parent. After ten children the survivors are chosen again."""
    def children(num_children):
        ea = make_ea(tmp_path / str(num_children), proven=[], initial=[], pop_size=4, num_children=num_children)
        drive(ea, 60)
        return children_in_order(ea)

    generation, steady = children(10), children(1)
    first = generation[0].id
    assert all(p < first for child in generation[:10] for p in child.parents)
    assert any(p >= first for child in generation[10:20] for p in child.parents)
    assert any(p >= steady[0].id for child in steady[:10] for p in child.parents)


def first_jobs_of_children(jobs):
    seen, firsts = set(), []
    for job in jobs:
        if job.member.origin["kind"] == "child" and job.member.id not in seen:
            seen.add(job.member.id)
            firsts.append(job)
    return firsts


def test_with_inherit_a_child_starts_from_its_first_parents_checkpoint(tmp_path):
    """Same architecture: the parent's training continued to the next rung below max_budget (the child's first job
    starts above 0 epochs); otherwise the parent's fitting tensors, at the lowest rung. The origin says which. At
    max_budget, where a result may become the answer, an inheriting member trains from scratch on every fold."""
    ea = make_ea(tmp_path, proven=[], initial=[], inherit=True, pop_size=50, max_budget=27)
    parents_state = {}
    jobs = []
    for _ in range(60):
        job = ea.ask()
        if job.member.origin["kind"] == "child" and job.member.id not in parents_state:
            parent = ea.members[job.member.parents[0]]
            parents_state[job.member.id] = (parent.id, parent.budget, parent.folds, parent.checkpoint)
        ea.tell(job, run(job))
        jobs.append(job)
    firsts = first_jobs_of_children(jobs)
    kinds = {job.inherit for job in firsts}
    assert {Inherit.CONTINUE, Inherit.TENSORS} <= kinds
    for job in firsts:
        parent_id, parent_budget, parent_folds, checkpoint = parents_state[job.member.id]
        if job.inherit is None:
            assert checkpoint is None and job.budget == 1 and job.checkpoint_in is None
            assert "inherited" not in job.member.origin
            continue
        assert job.checkpoint_in == checkpoint is not None
        assert job.member.origin["inherited"] == {"member": parent_id, "budget": parent_budget,
                                                  "how": job.inherit.value}
        same = architecture(job.config) == architecture(ea.members[parent_id].config)
        if job.inherit == Inherit.CONTINUE:
            assert same and job.budget == {1: 3, 3: 9}[parent_budget]  # the next rung, below max_budget (27)
            assert job.fold_epochs == ea.fidelity.fold_epochs(job.budget, parent_budget, parent_folds)
            assert job.member.results[job.budget]["epochs"] == job.budget  # continued from the parent's epoch
        else:
            assert (not same or parent_budget == 9) and job.budget == 1 and job.fold_epochs == 1
    to_max = [job for job in jobs if job.budget == 27 and "inherited" in job.member.origin]
    assert to_max and all(job.checkpoint_in is None and job.fold_epochs == 3 * 27 for job in to_max)  # from scratch


def test_without_inherit_every_child_starts_from_scratch(tmp_path):
    jobs = drive(make_ea(tmp_path, proven=[], initial=[]), 60)
    assert all(job.inherit is None and job.checkpoint_in is None and job.budget == 1
               for job in first_jobs_of_children(jobs))


def test_a_checkpoint_a_child_inherits_is_kept_until_the_child_is_told(tmp_path):
    ea = make_ea(tmp_path, proven=[], initial=[], inherit=True)
    for _ in range(200):
        job = ea.ask()
        if job.inherit is not None:
            break
        ea.tell(job, run(job))
    else:
        pytest.fail("no child inherited")
    parent = ea.members[job.member.parents[0]]
    ea._retire(parent)  # the parent's checkpoint is no longer its own (promoted or retired) while the child reads it
    assert job.checkpoint_in not in ea.obsolete_checkpoints()
    ea.tell(job, run(job))
    assert job.checkpoint_in in ea.obsolete_checkpoints()
