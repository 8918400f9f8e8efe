from collections import Counter

import numpy as np
import pytest

from EA import EvolutionaryHyperband, RandomSearch
from fakes import CLASSES, SHAPE, FakeTarget
from hyperband import make_bracket
from model_size import count_parameters
from repair import repair
from search_space import DEFAULT_CONFIG, SPACE


def fit_into(max_size):
    return lambda config, rng: repair(config, SPACE, SHAPE, CLASSES, max_size, None, rng)


def size_of(config):
    return count_parameters(config, SHAPE, CLASSES)


def drive(optimizer, target, n_jobs, tmp_path=None):
    jobs = []
    for _ in range(n_jobs):
        job = optimizer.ask()
        result = target(job.config, job.budget, checkpoint_in=job.checkpoint_in, checkpoint_out=job.checkpoint_out)
        optimizer.tell(job, result.to_dict())
        jobs.append(job)
    return jobs


def make_ea(tmp_path, max_size=2 * 10**7, **kw):
    args = dict(pop_size=10, min_budget=1, max_budget=50, eta=3, seed=1, checkpoint_dir=tmp_path / "ckpt",
                initial_configs=[dict(DEFAULT_CONFIG)] if size_of(DEFAULT_CONFIG) <= max_size else [])
    args.update(kw)
    return EvolutionaryHyperband(SPACE, fit_into(max_size), size_of, 0.39, **args)


def test_hyperband_brackets_run_their_sizes_and_budgets(tmp_path):
    ea = make_ea(tmp_path)
    jobs = drive(ea, FakeTarget(), 27 + 9 + 3 + 1 + 12 + 4 + 1)
    first = Counter(j.budget for j in jobs[:40])
    assert first == {2: 27, 6: 9, 17: 3, 50: 1}
    assert Counter(j.budget for j in jobs[40:]) == {6: 12, 17: 4, 50: 1}
    assert jobs[0].config == DEFAULT_CONFIG
    assert all(not j.member.parents for j in jobs[:27])
    assert all(j.member.parents for j in jobs[40:52])


def after_first_bracket(tmp_path):
    """An EA that finished its first bracket, and the population's median seconds per epoch."""
    ea = make_ea(tmp_path)
    drive(ea, FakeTarget(), 27 + 9 + 3 + 1)
    return ea, float(np.median([m.seconds_per_epoch for m in ea.population]))


def test_near_the_deadline_a_bracket_gives_way_to_what_fits_at_max_budget(tmp_path):
    ea, per_epoch = after_first_bracket(tmp_path)
    jobs = [ea.ask(seconds_left=per_epoch * 120.5)]  # bracket 2 (12, 4, 1 at 6, 17, 50) needs 149 epochs
    jobs.append(ea.ask(seconds_left=0.0))
    assert [(j.budget, j.rung) for j in jobs] == [(50, 0), (50, 0)]
    assert ea.ask() is None  # two members fit in 120 epochs: the bracket is those two
    assert all(j.member.parents for j in jobs)


def test_with_time_to_spare_brackets_keep_their_size(tmp_path):
    ea, per_epoch = after_first_bracket(tmp_path)
    assert ea.ask(seconds_left=per_epoch * 150).budget == 6


PROVEN = [{**DEFAULT_CONFIG, "n_conv_layers": 1, "n_channels_conv_0": 16 * (i + 1), "learning_rate_init": 3e-3}
          for i in range(4)]


def test_proven_configurations_open_the_run_straight_at_max_budget(tmp_path):
    ea = make_ea(tmp_path, proven_configs=PROVEN)
    jobs = drive(ea, FakeTarget(), 4 + 27)
    assert [(j.config, j.budget, j.member.parents) for j in jobs[:4]] == [(c, 50, ()) for c in PROVEN]
    assert {j.budget for j in jobs[4:]} == {2} and ea.bracket.sizes == (27, 9, 3, 1)
    assert jobs[4].config == DEFAULT_CONFIG and not jobs[4].member.parents  # the default joins the first bracket
    proven_ids = {j.member.id for j in jobs[:4]}
    assert all(j.member.parents and set(j.member.parents) <= proven_ids for j in jobs[5:])


def test_proven_configurations_that_do_not_fit_go_first_in_the_next_bracket(tmp_path):
    ea = make_ea(tmp_path, proven_configs=PROVEN, epoch_seconds=lambda config: 1.0)
    first = ea.ask(seconds_left=120.0)  # 50 s each: two fit
    assert first.budget == 50 and ea.bracket.sizes == (2,)
    ea.tell(first, FakeTarget()(first.config, 50).to_dict())
    second = ea.ask()
    ea.tell(second, FakeTarget()(second.config, 50).to_dict())
    rung = [ea.ask(seconds_left=1e4) for _ in range(27)]
    assert [j.config for j in rung[:3]] == [*PROVEN[2:], DEFAULT_CONFIG] and {j.budget for j in rung} == {2}


def test_a_bracket_cut_short_by_the_deadline_leaves_the_default_for_a_later_one(tmp_path):
    seconds = {str(c): 1.0 for c in PROVEN} | {str(DEFAULT_CONFIG): 50.0}  # per epoch; the default is costly
    ea = make_ea(tmp_path, proven_configs=PROVEN, epoch_seconds=lambda config: seconds[str(config)])
    drive(ea, FakeTarget(), 4)
    job = ea.ask(seconds_left=60.0)  # bracket 3 would start with 2 epochs of the default: 100 s
    assert ea.bracket.cut_short and job.budget == 50 and job.member.parents
    assert list(ea.initial) == [DEFAULT_CONFIG]


def test_a_bracket_is_priced_with_its_pending_proven_and_initial_configurations(tmp_path):
    seconds = {str(c): 1.0 for c in PROVEN} | {str(DEFAULT_CONFIG): 50.0}  # per epoch; the default is costly
    ea = make_ea(tmp_path, proven_configs=PROVEN, epoch_seconds=lambda config: seconds[str(config)])
    # 2 epochs of the four proven (1 s) and the default (50 s), 22 children at the median 1 s: 152 s; then
    # 9 * 4 + 3 * 11 + 33 = 102 epochs of promotions at 1 s: 254 s in all
    assert ea._bracket_seconds(make_bracket(3, 3, 50, 3)) == 254


def test_plain_evolution_trains_the_proven_then_the_default_first(tmp_path):
    ea = make_ea(tmp_path, hyperband=False, pop_size=6, proven_configs=PROVEN)
    jobs = drive(ea, FakeTarget(), 6)
    assert [j.config for j in jobs[:5]] == [*PROVEN, DEFAULT_CONFIG] and {j.budget for j in jobs} == {50}


def test_children_are_bred_from_members_trained_to_their_first_budget(tmp_path):
    ea = make_ea(tmp_path, pop_size=50)  # the population keeps members judged at 2 epochs too
    jobs = drive(ea, FakeTarget(), 27 + 9 + 3 + 1 + 12 + 4 + 1 + 6)
    bracket_starts = {2: 6, 3: 17}  # Hyperband with budgets 2..50, eta 3: brackets 2 and 3 start at 6 and 17
    for job in jobs[40:]:
        if job.rung == 0:
            start = bracket_starts[job.bracket]
            assert job.budget == start
            assert all(ea.members[p].budget >= start for p in job.member.parents)
    assert Counter(m.budget for m in ea.population)[2] > 0


def test_promotions_continue_from_the_checkpoint_of_the_best(tmp_path):
    ea = make_ea(tmp_path)
    target = FakeTarget()
    jobs = drive(ea, target, 27 + 9)
    rung0 = {j.member.id: j for j in jobs[:27]}
    promoted = jobs[27:]
    for job in promoted:
        assert job.checkpoint_in == rung0[job.member.id].checkpoint_out
        assert job.checkpoint_in.exists()
    best = sorted(rung0.values(), key=lambda j: -j.member.results[2]["top3_accuracy"])[:9]
    assert {j.member.id for j in promoted} == {j.member.id for j in best}
    assert target.calls[27][2] is not None  # the first promotion did not train from scratch


def test_rung_waits_for_results_when_asked_ahead(tmp_path):
    ea = make_ea(tmp_path)
    jobs = [ea.ask() for _ in range(27)]
    assert ea.ask() is None
    for job in jobs:
        ea.tell(job, FakeTarget()(job.config, job.budget, checkpoint_out=job.checkpoint_out).to_dict())
    assert ea.ask().budget == 6


def test_obsolete_checkpoints_are_those_not_promoted(tmp_path):
    ea = make_ea(tmp_path)
    jobs = drive(ea, FakeTarget(), 27)
    stale = ea.obsolete_checkpoints()
    assert len(stale) == 27 - 9
    kept = {j.checkpoint_out for j in jobs} - set(stale)
    assert {m.checkpoint for m in ea.rung_members} == kept


def test_plain_evolution_trains_every_child_at_max_budget(tmp_path):
    ea = make_ea(tmp_path, hyperband=False, pop_size=6, num_children=3)
    jobs = drive(ea, FakeTarget(), 6 + 3 + 3)
    assert {j.budget for j in jobs} == {50}
    assert all(j.checkpoint_in is None for j in jobs)
    assert all(j.member.parents for j in jobs[6:])
    assert len(ea.population) == 6


def test_survival_keeps_the_best(tmp_path):
    ea = make_ea(tmp_path, hyperband=False, pop_size=4, num_children=4)
    jobs = drive(ea, FakeTarget(), 8)
    scores = sorted((j.member.result["precision"] >= 0.39, j.member.result["top3_accuracy"]) for j in jobs)
    kept = sorted((m.result["precision"] >= 0.39, m.result["top3_accuracy"]) for m in ea.population)
    assert kept == scores[-4:]


@pytest.mark.parametrize("seed", range(4))
def test_every_evaluated_configuration_fits_any_size_constraint(tmp_path, seed):
    rng = np.random.default_rng(seed)
    max_size = int(10 ** rng.uniform(3.5, 7.5))
    ea = make_ea(tmp_path, max_size=max_size, seed=seed)
    jobs = drive(ea, FakeTarget(), 60)
    assert all(size_of(j.config) <= max_size for j in jobs)
    assert (jobs[0].config == DEFAULT_CONFIG) == (size_of(DEFAULT_CONFIG) <= max_size)


def test_random_search_samples_within_size_at_max_budget():
    rs = RandomSearch(SPACE, fit_into(50_000), size_of, 0.39, 20, 0, None)
    jobs = drive(rs, FakeTarget(), 15)
    assert {j.budget for j in jobs} == {20} and all(size_of(j.config) <= 50_000 for j in jobs)
    assert len({str(sorted(j.config.items())) for j in jobs}) == 15


def test_same_seed_same_search(tmp_path):
    a = [j.config for j in drive(make_ea(tmp_path / "a"), FakeTarget(), 45)]
    b = [j.config for j in drive(make_ea(tmp_path / "b"), FakeTarget(), 45)]
    assert a == b
