import numpy as np
import pytest
from ConfigSpace import Configuration

from model_size import count_macs, count_parameters
from repair import repair, smallest_model_size
from search_space import SPACE
from variation import crossover, mutate, sample, tournament


def assert_valid(config):
    Configuration(SPACE, values=config).check_valid_configuration()
    assert all(type(v) in (int, float, bool, str) for v in config.values())


def test_mutation_and_crossover_children_are_valid():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = sample(SPACE, rng), sample(SPACE, rng)
        child = mutate(a, SPACE, rng)
        assert_valid(child)
        assert child != a
        mixed = crossover(a, b, SPACE, rng)
        assert_valid(mixed)
        for key, value in mixed.items():
            assert value in (a.get(key), b.get(key)) or key.startswith("n_channels")


@pytest.mark.parametrize("shape,classes", [((3, 16, 16), 17), ((1, 8, 8), 3)])
def test_repair_fits_any_size_and_cost(shape, classes):
    rng = np.random.default_rng(1)
    smallest = smallest_model_size(SPACE, shape, classes)
    for _ in range(150):
        max_size = int(smallest * 10 ** rng.uniform(0, np.log10(1e8 / smallest)))
        config = sample(SPACE, rng)
        fitted = repair(config, SPACE, shape, classes, max_size, None, rng)
        assert_valid(fitted)
        assert count_parameters(fitted, shape, classes) <= max_size
    for _ in range(50):
        max_macs = int(10 ** rng.uniform(6, 8))
        fitted = repair(sample(SPACE, rng), SPACE, shape, classes, 10**8, max_macs, rng)
        assert count_macs(fitted, shape, classes) <= max_macs


def test_repair_leaves_a_fitting_configuration_alone_and_scales_widths_first():
    rng = np.random.default_rng(2)
    config = sample(SPACE, rng)
    size = count_parameters(config, (3, 16, 16), 17)
    assert repair(config, SPACE, (3, 16, 16), 17, size, None, rng) == config
    config = {**config, "n_conv_layers": 2, "n_channels_conv_0": 512, "n_channels_conv_1": 512}
    config.pop("n_channels_conv_2", None)
    fitted = repair(config, SPACE, (3, 16, 16), 17, count_parameters(config, (3, 16, 16), 17) // 3, None, rng)
    structure = ("n_conv_layers", "n_fc_layers", "kernel_size", "use_BN", "global_avg_pooling", "learning_rate_init")
    assert all(fitted[k] == config[k] for k in structure)
    assert fitted["n_channels_conv_1"] < 512


def test_smallest_size_by_hand():
    # one conv of 16 3x3 filters (3*16*9 + 16), GAP, one FC of 4 (16*4 + 4), classifier (4*17 + 17)
    assert smallest_model_size(SPACE, (3, 16, 16), 17) == 3 * 16 * 9 + 16 + 16 * 4 + 4 + 4 * 17 + 17
    with pytest.raises(ValueError, match=str(3 * 16 * 9 + 16 + 16 * 4 + 4 + 4 * 17 + 17)):
        repair(sample(SPACE, np.random.default_rng(0)), SPACE, (3, 16, 16), 17, 100)


def test_tournament_with_the_whole_population_returns_the_best():
    rng = np.random.default_rng(3)
    ranks = [4, 2, 0, 3, 1]
    assert all(tournament(ranks, rng, k=5) == 2 for _ in range(20))
    picks = {tournament(ranks, rng, k=2) for _ in range(200)}
    assert 0 not in picks and picks == {1, 2, 3, 4}  # the worst never wins a tournament of two
