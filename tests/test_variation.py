import numpy as np
import pytest
from ConfigSpace import Configuration

from search.space import conv_key, fc_key, load_config, space
from search.variation import crossover, mutate, sample, tournament

N_PARENTS = 300


def assert_valid(config):
    """A member of the space: conditions hold, no inactive key, plain Python scalars only."""
    Configuration(space(), values=config).check_valid_configuration()
    assert all(type(v) in (int, float, bool, str) for v in config.values())
    assert all(conv_key(i) in config for i in range(config["n_conv_layers"]))
    assert all(fc_key(i) in config for i in range(config["n_fc_layers"]))
    assert len(config) == len(space()) - 4 + config["n_conv_layers"] - 1 + config["n_fc_layers"] - 1


@pytest.fixture(scope="module")
def parents():
    rng = np.random.default_rng(0)
    return [sample(space(), rng) for _ in range(N_PARENTS)] + [load_config({})]


def test_samples_are_valid_and_varied(parents):
    for config in parents:
        assert_valid(config)
    assert {c["n_conv_layers"] for c in parents} == {1, 2, 3}
    assert len({c["batch_size"] for c in parents}) > 50


def test_sampling_is_reproducible():
    assert sample(space(), np.random.default_rng(7)) == sample(space(), np.random.default_rng(7))


def test_mutation_children_are_valid_and_changed(parents):
    rng = np.random.default_rng(1)
    for i, parent in enumerate(parents):
        child = mutate(parent, space(), rng, (None, 0.0, 0.5)[i % 3])
        assert_valid(child)
        assert child != parent


def test_default_mutation_changes_few_values(parents):
    rng = np.random.default_rng(2)
    changed = [sum(c.get(k) != p.get(k) for k in set(p) | set(c))
               for p in parents for c in [mutate(p, space(), rng)]]
    assert 1.2 < np.mean(changed) < 2.0  # about one changed value (+ widths added or dropped with a layer)


def test_mutation_steps_are_local():
    rng = np.random.default_rng(3)
    parent = load_config({})  # 3 conv, 2 fc, kernel 5
    counts, kernels = set(), set()
    for _ in range(300):
        child = mutate(parent, space(), rng, rate=1.0)
        counts.add(child["n_fc_layers"])
        kernels.add(child["kernel_size"])
        assert child["n_conv_layers"] == 2  # at the upper bound: only down
        assert child["optimizer"] != parent["optimizer"] and child["use_BN"] != parent["use_BN"]
    assert counts == {1, 3} and kernels == {3, 7}


def test_a_new_layer_copies_the_previous_width_and_a_removed_one_is_dropped():
    rng = np.random.default_rng(4)
    parent = load_config({"n_fc_layers": 1})
    seen = set()
    for _ in range(200):
        child = mutate(parent, space(), rng)
        if child["n_fc_layers"] == 2:
            seen.add(2)
            assert child[fc_key(1)] == child[fc_key(0)]
    assert seen == {2}
    shrunk = mutate(load_config({}), space(), rng, rate=1.0)
    assert conv_key(2) not in shrunk


def test_crossover_children_are_valid_and_inherit_every_value(parents):
    rng = np.random.default_rng(5)
    mixes = 0
    for a, b in zip(parents, parents[1:]):
        child = crossover(a, b, space(), rng)
        assert_valid(child)
        for key, value in child.items():
            assert value in (a.get(key), b.get(key))  # widths a parent lacks come from the other one
        mixes += child not in (a, b)
    assert mixes > 0.9 * (len(parents) - 1)


def test_crossover_of_equal_parents_is_the_parent(parents):
    rng = np.random.default_rng(6)
    assert all(crossover(p, dict(p), space(), rng) == p for p in parents[:20])


def test_tournament_over_everyone_returns_the_best():
    rng = np.random.default_rng(7)
    ranks = [4, 2, 0, 3, 1]
    assert all(tournament(ranks, rng, k=5) == 2 for _ in range(20))
    assert all(tournament(ranks, rng, k=10) == 2 for _ in range(20))  # k above the population size
    assert tournament([0], rng) == 0


def test_tournament_returns_the_best_of_those_sampled():
    rng = np.random.default_rng(8)
    ranks = [4, 2, 0, 3, 1]
    picks = [tournament(ranks, rng, k=2) for _ in range(500)]
    assert 0 not in picks and set(picks) == {1, 2, 3, 4}  # the worst never wins a tournament of two
    assert np.bincount(picks).argmax() == 2  # the best wins most often
