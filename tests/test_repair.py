import numpy as np
import pytest
from ConfigSpace import Configuration

from budget.closed_forms import count_activations, count_macs, count_parameters
from budget.limits import Limits
from search.repair import NoNetworkFits, repair, smallest_config, smallest_costs, width_keys
from search.space import load_config, space
from search.variation import sample

SHAPES = [((3, 16, 16), 17), ((1, 8, 8), 3)]
STRUCTURE = ("n_branches", "n_conv_layers", "n_fc_layers", "kernel_size", "use_BN", "global_avg_pooling")
# one conv of 16 3x3 filters over 3 channels (3*16*9 + 16 = 448), global average pooling,
# one FC layer of 4 (16*4 + 4 = 68), the classifier (4*17 + 17 = 85): 601 parameters
SMALLEST_3x16x16_17 = 448 + 68 + 85


def assert_valid(config):
    Configuration(space(), values=config).check_valid_configuration()
    assert all(type(v) in (int, float, bool, str) for v in config.values())


def training_values(config):
    return {k: v for k, v in config.items() if k not in STRUCTURE and not k.startswith("n_channels")}


def test_smallest_size_by_hand():
    assert SMALLEST_3x16x16_17 == 601
    assert smallest_costs(space(), (3, 16, 16), 17).parameters == 601
    smallest = smallest_config(space(), (3, 16, 16), 17)
    assert_valid(smallest)
    assert {k: smallest[k] for k in STRUCTURE} == {"n_branches": 1, "n_conv_layers": 1, "n_fc_layers": 1,
                                                   "kernel_size": 3, "use_BN": False, "global_avg_pooling": True}
    assert smallest["n_channels_conv_0"] == 16 and smallest["n_channels_fc_0"] == 4
    assert training_values(smallest) == training_values(load_config({}))
    assert smallest_costs(space(), (3, 16, 16), 17).macs == count_macs(smallest, (3, 16, 16), 17)


def test_an_impossible_constraint_names_the_smallest_network():
    config = sample(space(), np.random.default_rng(0))
    with pytest.raises(ValueError, match="601 parameters"):
        repair(config, space(), (3, 16, 16), 17, Limits(600))
    assert count_parameters(repair(config, space(), (3, 16, 16), 17, Limits(601)), (3, 16, 16), 17) == 601
    macs = smallest_costs(space(), (3, 16, 16), 17).macs
    with pytest.raises(ValueError, match="affordable"):
        repair(config, space(), (3, 16, 16), 17, Limits(10**8), lambda c: count_macs(c, (3, 16, 16), 17) < macs)


@pytest.mark.parametrize("shape,classes", [*SHAPES, ((1, 28, 28), 10), ((3, 64, 64), 100), ((3, 2, 2), 2)])
def test_the_network_with_the_fewest_parameters_also_has_the_fewest_macs(shape, classes):
    """Why a MACs limit at the smallest figure always leaves a network that fits the size limit too."""
    assert count_macs(smallest_config(space(), shape, classes), shape, classes) == smallest_costs(space(), shape,
                                                                                                     classes).macs


def test_a_macs_limit_below_the_smallest_network_names_its_figure():
    config = sample(space(), np.random.default_rng(0))
    cheapest = smallest_costs(space(), (3, 16, 16), 17).macs
    with pytest.raises(NoNetworkFits, match=f"{cheapest} multiply-accumulates"):
        repair(config, space(), (3, 16, 16), 17, Limits(10**8, cheapest - 1))
    assert count_macs(repair(config, space(), (3, 16, 16), 17, Limits(10**8, cheapest)), (3, 16, 16), 17) == cheapest


def test_an_image_too_small_for_any_network_is_an_error():
    with pytest.raises(ValueError, match="1x1 image"):
        smallest_costs(space(), (3, 1, 1), 2).parameters


@pytest.mark.parametrize("shape,classes", SHAPES)
def test_repair_meets_any_size_constraint(shape, classes):
    rng = np.random.default_rng(1)
    smallest = smallest_costs(space(), shape, classes).parameters
    for _ in range(150):
        max_size = int(smallest * (1e8 / smallest) ** rng.uniform(0, 1))  # log-uniform in [smallest, 1e8]
        config = sample(space(), rng)
        fitted = repair(config, space(), shape, classes, Limits(max_size), None, rng)
        assert_valid(fitted)
        assert count_parameters(fitted, shape, classes) <= max_size
        assert training_values(fitted) == training_values(config)
        if count_parameters(config, shape, classes) <= max_size:
            assert fitted == config


@pytest.mark.parametrize("shape,classes", SHAPES)
def test_repair_meets_size_and_cost_together(shape, classes):
    """Cost as the search prices it: MACs and feature-map elements, each with its own weight."""
    rng = np.random.default_rng(2)
    least = smallest_costs(space(), shape, classes)
    smallest, cheapest = least.parameters, least.macs

    def cost(config):
        return count_macs(config, shape, classes) + 50 * count_activations(config, shape)
    floor = cost(smallest_config(space(), shape, classes))  # at least the cheapest network's cost: always feasible
    for _ in range(100):
        max_size = int(smallest * (1e8 / smallest) ** rng.uniform(0, 1))
        max_cost = floor * (1e9 / cheapest) ** rng.uniform(0, 1)
        fitted = repair(sample(space(), rng), space(), shape, classes, Limits(max_size), lambda c: cost(c) <= max_cost)
        assert_valid(fitted)
        assert count_parameters(fitted, shape, classes) <= max_size
        assert cost(fitted) <= max_cost


@pytest.mark.parametrize("shape,classes", SHAPES)
def test_repair_meets_a_macs_limit_and_the_size_limit_together(shape, classes):
    rng = np.random.default_rng(3)
    least = smallest_costs(space(), shape, classes)
    smallest, cheapest = least.parameters, least.macs
    for _ in range(150):
        max_size = int(smallest * (1e8 / smallest) ** rng.uniform(0, 1))  # log-uniform in [smallest, 1e8]
        max_macs = int(cheapest * (1e9 / cheapest) ** rng.uniform(0, 1))  # log-uniform in [cheapest, 1e9]
        config = sample(space(), rng)
        fitted = repair(config, space(), shape, classes, Limits(max_size, max_macs), None, rng)
        assert_valid(fitted)
        assert count_parameters(fitted, shape, classes) <= max_size and count_macs(fitted, shape, classes) <= max_macs
        assert training_values(fitted) == training_values(config)
        if count_parameters(config, shape, classes) <= max_size and count_macs(config, shape, classes) <= max_macs:
            assert fitted == config


def test_a_fitting_configuration_is_returned_unchanged():
    config = load_config({})
    size = count_parameters(config, (3, 16, 16), 17)
    assert repair(config, space(), (3, 16, 16), 17, Limits(size)) == config
    macs = count_macs(config, (3, 16, 16), 17)
    assert repair(config, space(), (3, 16, 16), 17, Limits(size),
                  lambda c: count_macs(c, (3, 16, 16), 17) <= macs) == config


def test_scaling_the_widths_is_enough_when_it_can_be():
    config = load_config({"n_conv_layers": 2, "n_channels_conv_0": 512, "n_channels_conv_1": 256,
                          "n_fc_layers": 2, "n_channels_fc_0": 64, "n_channels_fc_1": 32})
    max_size = count_parameters(config, (3, 16, 16), 17) // 3
    fitted = repair(config, space(), (3, 16, 16), 17, Limits(max_size))
    assert {k: fitted[k] for k in STRUCTURE} == {k: config[k] for k in STRUCTURE}
    assert fitted.keys() == config.keys()
    assert all(fitted[k] <= config[k] for k in width_keys(config))
    assert fitted["n_channels_conv_0"] < 512
    # the largest common factor: the next channel up of the widest layer would not fit
    assert count_parameters(fitted, (3, 16, 16), 17) > 0.95 * max_size


def test_the_structure_steps_towards_the_smallest_in_order():
    config = load_config({"global_avg_pooling": False, "kernel_size": 7, "use_BN": True})  # 3 conv, 2 fc
    at_lower = {**config, **{k: space()[k].lower for k in width_keys(config)}}
    shape = (3, 32, 32)
    gap = {**at_lower, "global_avg_pooling": True}
    fitted = repair(config, space(), shape, 10, Limits(count_parameters(gap, shape, 10)))
    assert fitted == gap  # the first step (global average pooling) is enough; all else kept
    kernel5 = {**gap, "kernel_size": 5}
    fitted = repair(config, space(), shape, 10, Limits(count_parameters(kernel5, shape, 10)))
    assert fitted == kernel5  # then one kernel step
    fitted = repair(config, space(), shape, 10, Limits(count_parameters(kernel5, shape, 10) - 1))
    assert fitted["kernel_size"] == 3 and fitted["n_conv_layers"] == 3 and fitted["use_BN"]


def test_too_many_pooling_layers_lose_convolutions():
    config = load_config({"n_conv_layers": 3})
    fitted = repair(config, space(), (3, 4, 4), 5, Limits(10**8))  # 4 -> 2 -> 1: two poolings at most
    assert fitted["n_conv_layers"] == 2 and "n_channels_conv_2" not in fitted
    assert_valid(fitted)
    assert {k: fitted[k] for k in fitted if k != "n_conv_layers"} == {
        k: v for k, v in config.items() if k not in ("n_conv_layers", "n_channels_conv_2")}


def test_branches_are_dropped_before_the_structure_changes():
    config = load_config({"n_branches": 3, "global_avg_pooling": False, "kernel_size": 5})
    two = {**config, **{k: space()[k].lower for k in width_keys(config)}, "n_branches": 2}
    assert repair(config, space(), (3, 16, 16), 17, Limits(count_parameters(two, (3, 16, 16), 17))) == two
