"""The closed-form cost of a network (closed_forms.py) against measurements on the real module."""
import pytest

from cnn import build_cnn
from budget.traced_cost import counted_macs, measured_peak_bytes
from budget.closed_forms import ShapeError, count_macs, features_after_conv, peak_activation_bytes
from search.space import DEFAULT_CONFIG, space

SHAPES = [(3, 16, 16), (1, 12, 20), (3, 8, 8), (1, 32, 32)]


def random_configs(n: int, seed: int):
    space().seed(seed)
    return [dict(config) for config in space().sample_configuration(n)]


@pytest.mark.parametrize("input_shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_closed_forms_match_the_module(input_shape):
    checked = 0
    for config in random_configs(15, seed=sum(input_shape)):
        try:
            features_after_conv(config, input_shape)
        except ShapeError:
            continue
        model = build_cnn(config, input_shape, 17)
        assert count_macs(config, input_shape, 17) == counted_macs(model, input_shape), config
        assert peak_activation_bytes(config, input_shape, 17) == measured_peak_bytes(model, input_shape), config
        checked += 1
    assert checked >= 5


def test_peak_memory_grows_with_the_widest_feature_map():
    narrow = {**DEFAULT_CONFIG, "n_conv_layers": 1, "n_channels_conv_0": 16, "n_branches": 1}
    wide = {**narrow, "n_channels_conv_0": 64}
    assert peak_activation_bytes(wide, (3, 16, 16), 17) > peak_activation_bytes(narrow, (3, 16, 16), 17) \
        >= 4 * 2 * 16 * 16 * 16
