import pytest
import torch

from cnn import branch_logits, build_cnn
from budget.closed_forms import ShapeError, count_macs, count_parameters
from search.space import load_config, space, to_dict

SECOND_CHECK = {"batch_size": 280, "dropout_rate": 0.0139, "global_avg_pooling": True, "kernel_size": 5,
                "learning_rate_init": 0.00153, "n_channels_conv_0": 351, "n_channels_fc_0": 226, "n_conv_layers": 2,
                "n_fc_layers": 1, "use_BN": True, "n_channels_conv_1": 109}


def built_size(config, shape, classes):
    return sum(p.numel() for p in build_cnn(config, shape, classes).parameters())


def test_default_configuration_has_reference_size():
    config = load_config({})
    assert count_parameters(config, (3, 16, 16), 17) == 6_360_741
    assert built_size(config, (3, 16, 16), 17) == 6_360_741


def test_second_reference_configuration():
    config = load_config(SECOND_CHECK)
    assert count_parameters(config, (3, 16, 16), 17) == 1_012_899
    assert built_size(config, (3, 16, 16), 17) == 1_012_899


@pytest.mark.parametrize("shape,classes", [((3, 16, 16), 17), ((1, 28, 28), 10), ((3, 9, 13), 2)])
def test_closed_form_matches_built_network(shape, classes):
    for config in space().sample_configuration(25):
        config = to_dict(config)
        assert count_parameters(config, shape, classes) == built_size(config, shape, classes)


def test_reference_layer_order():
    model = build_cnn(load_config({"n_conv_layers": 1, "use_BN": True, "n_fc_layers": 1}), (3, 16, 16), 17)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Conv2d", "ReLU", "BatchNorm2d", "MaxPool2d", "AdaptiveAvgPool2d", "Flatten",
                     "Linear", "ReLU", "Dropout", "Linear"]
    assert model[0].padding == (2, 2) and model[0].bias is not None


def test_flatten_without_global_pooling_forward():
    config = load_config({"global_avg_pooling": False, "n_conv_layers": 2, "kernel_size": 7})
    model = build_cnn(config, (3, 16, 16), 5)
    assert model(torch.zeros(2, 3, 16, 16)).shape == (2, 5)
    assert model[-1].out_features == 5


def test_huge_configuration_counted_without_weights():
    config = load_config({"n_conv_layers": 3, "global_avg_pooling": False, "kernel_size": 7,
                          "n_channels_conv_0": 1024, "n_channels_conv_1": 1024, "n_channels_conv_2": 1024,
                          "n_fc_layers": 3, "n_channels_fc_0": 512, "n_channels_fc_1": 512, "n_channels_fc_2": 512})
    size = count_parameters(config, (3, 1024, 1024), 17)
    flatten = 1024 * 128 * 128
    assert size > 10**9
    assert size == (3 * 1024 * 49 + 1024) + 2 * (1024 * 1024 * 49 + 1024) + flatten * 512 + 512 \
        + 2 * (512 * 512 + 512) + 512 * 17 + 17


def test_image_too_small_for_the_pooling_is_a_shape_error():
    with pytest.raises(ShapeError, match="pooling"):
        count_parameters(load_config({"n_conv_layers": 3}), (3, 4, 4), 3)


@pytest.mark.parametrize("shape,classes", [((3, 16, 16), 17), ((1, 12, 10), 4)])
def test_closed_form_macs_match_torch_flop_counter(shape, classes):
    from torch.utils.flop_counter import FlopCounterMode
    for config in space().sample_configuration(10):
        config = to_dict(config)
        model = build_cnn(config, shape, classes)
        with FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *shape))
        assert counter.get_total_flops() == 2 * count_macs(config, shape, classes)


def test_branches_are_independent_copies_averaged():
    config = load_config({"n_branches": 3, "n_conv_layers": 1, "use_BN": True, "n_fc_layers": 1})
    single = load_config({**config, "n_branches": 1})
    assert count_parameters(config, (3, 16, 16), 17) == 3 * count_parameters(single, (3, 16, 16), 17)
    assert count_macs(config, (3, 16, 16), 17) == 3 * count_macs(single, (3, 16, 16), 17)
    torch.manual_seed(0)
    model = build_cnn(config, (3, 16, 16), 17).eval()
    x = torch.randn(5, 3, 16, 16)
    per_branch = branch_logits(model, x)
    assert per_branch.shape == (3, 5, 17)
    assert not torch.allclose(per_branch[0], per_branch[1])  # initialised independently
    assert torch.allclose(model(x), per_branch.mean(0))
    tower = build_cnn(single, (3, 16, 16), 17).eval()
    assert torch.equal(branch_logits(tower, x), tower(x)[None])
