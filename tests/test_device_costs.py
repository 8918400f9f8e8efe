"""Flash and RAM of the int8 network in closed form (budget/closed_forms.py) against the exported int8 ONNX file:
the bytes of its initializers, and the activation bytes planned from its tensors' shapes (deploy/onnx_costs.py);
the limits in bytes repaired into like size and MACs."""
import numpy as np
import pytest
import torch

from budget.closed_forms import count_flash_bytes, count_ram_bytes, network_costs
from budget.limits import Limits
from cnn import build_cnn
from deploy.bundle import Bundle
from deploy.onnx_costs import initializer_bytes, planned_activation_bytes
from deploy.onnx_export import export_onnx, quantize_int8
from search.repair import NoNetworkFits, repair, smallest_costs
from search.space import PORTFOLIO, load_config, space
from search.variation import sample

CONFIGS = {
    "conv-relu-bn-pool": {"n_conv_layers": 1, "n_channels_conv_0": 16, "kernel_size": 3, "use_BN": True,
                          "n_fc_layers": 1, "n_channels_fc_0": 8},
    "two-convs-flatten-standardised": {"n_conv_layers": 2, "n_channels_conv_0": 16, "n_channels_conv_1": 32,
                                       "kernel_size": 3, "use_BN": True, "global_avg_pooling": False,
                                       "n_fc_layers": 1, "n_channels_fc_0": 20, "standardize": True},
    "three-branches": {"n_conv_layers": 3, "n_channels_conv_0": 20, "n_channels_conv_1": 24, "n_channels_conv_2": 30,
                       "kernel_size": 5, "global_avg_pooling": False, "n_fc_layers": 2, "n_channels_fc_0": 30,
                       "n_channels_fc_1": 12, "n_branches": 3},
    "four-branches-bn-kernel-7": {"n_conv_layers": 2, "n_channels_conv_0": 40, "n_channels_conv_1": 16,
                                  "kernel_size": 7, "use_BN": True, "n_fc_layers": 3, "n_channels_fc_0": 4,
                                  "n_channels_fc_1": 5, "n_channels_fc_2": 6, "n_branches": 4},
    "portfolio-0": {**PORTFOLIO[0], "random_flip": False},
    "portfolio-4-four-branches-flip": PORTFOLIO[4],  # the flip's second view counted as a second pass
}


def int8_file(config, shape, classes, folder, flip=False):
    """The network exported and quantised as main.py --save --int8 does; batch norms get trained-like statistics
    (at their initial values, identical tensors would be stored once)."""
    torch.manual_seed(0)
    network = build_cnn(config, shape, classes)
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            for tensor in (module.weight.data, module.bias.data, module.running_mean, module.running_var):
                tensor.uniform_(0.5, 1.5)
    channels = shape[0]
    bundle = Bundle(config, [str(i) for i in range(classes)], shape, [0.5] * channels, [0.25] * channels, flip,
                    network.state_dict())
    export_onnx(bundle, folder / "model.onnx")
    quantize_int8(folder / "model.onnx", folder / "model_int8.onnx",
                  np.random.default_rng(0).random((16, *shape), dtype=np.float32))
    return folder / "model_int8.onnx"


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_flash_and_ram_in_closed_form_match_the_int8_file(name, tmp_path):
    config, shape, classes = load_config(CONFIGS[name]), (3, 16, 16), 17
    path = int8_file(config, shape, classes, tmp_path, flip=config["random_flip"])
    stored = initializer_bytes(path)
    assert 0 <= count_flash_bytes(config, shape, classes) - stored <= 0.01 * stored  # never below: the limit holds
    assert count_ram_bytes(config, shape, classes) == planned_activation_bytes(path)


def test_ram_counts_the_branches_stacked_logits_where_they_set_the_peak(tmp_path):
    """A tiny image and many classes: the four towers' logits, stacked (4 x 400 bytes, read and written), need more
    than any convolution."""
    config = load_config({"n_conv_layers": 1, "n_channels_conv_0": 16, "kernel_size": 3, "n_fc_layers": 1,
                          "n_channels_fc_0": 4, "n_branches": 4})
    path = int8_file(config, (1, 8, 8), 400, tmp_path)
    assert count_ram_bytes(config, (1, 8, 8), 400) == planned_activation_bytes(path) == 2 * 4 * 400


def test_the_closed_forms_hold_on_grayscale_images_with_ten_classes_and_flip(tmp_path):
    config, shape = load_config({**CONFIGS["two-convs-flatten-standardised"], "random_flip": True}), (1, 28, 28)
    path = int8_file(config, shape, 10, tmp_path, flip=True)
    assert count_flash_bytes(config, shape, 10) == initializer_bytes(path)
    assert count_ram_bytes(config, shape, 10) == planned_activation_bytes(path)  # the flip: a second pass


def test_ram_counts_what_tensorflow_lite_micro_allocates():
    """conv 3->16 -> ReLU -> batch norm -> max-pool at 16x16: the batch norm reads 4,096 bytes and writes 4,096
    more (TensorFlow Lite Micro's arena for it is 8,192 bytes), where an in-place rule would give 768 + 4,096."""
    config = load_config(CONFIGS["conv-relu-bn-pool"])
    assert count_ram_bytes(config, (3, 16, 16), 17) == 8192
    assert count_ram_bytes({**config, "use_BN": False}, (3, 16, 16), 17) == 4096 + 1024  # then the pooling


@pytest.mark.parametrize("limit", ["flash", "ram"])
def test_repair_meets_a_byte_limit_and_the_size_limit_together(limit):
    shape, classes = (3, 16, 16), 17
    smallest = getattr(smallest_costs(space(), shape, classes), limit)
    rng = np.random.default_rng(1)
    for bound in (smallest, 2 * smallest, 8192, 32768):
        for _ in range(15):
            fitted = repair(sample(space(), rng), space(), shape, classes, Limits(2e7, **{f"max_{limit}": bound}),
                            None, rng)
            assert getattr(network_costs(fitted, shape, classes), limit) <= bound


def test_a_ram_limit_drops_the_batch_norm_before_the_layers():
    """The first feature map sets the peak: fewer layers would not lower it, no batch norm halves it."""
    config = load_config({**CONFIGS["two-convs-flatten-standardised"], "n_channels_conv_0": 16})
    fitted = repair(config, space(), (3, 16, 16), 17, Limits(2e7, max_ram=6000))
    assert fitted["n_conv_layers"] == 2 and not fitted["use_BN"]
    assert count_ram_bytes(fitted, (3, 16, 16), 17) <= 6000


@pytest.mark.parametrize("limit,flag", [("flash", "--constraint_max_flash"), ("ram", "--constraint_max_ram")])
def test_a_byte_limit_below_the_smallest_network_names_its_figure(limit, flag):
    smallest = getattr(smallest_costs(space(), (3, 16, 16), 17), limit)
    with pytest.raises(NoNetworkFits, match=f"{flag} {smallest - 1} .*\\({smallest} bytes"):
        repair(load_config({}), space(), (3, 16, 16), 17, Limits(2e7, **{f"max_{limit}": smallest - 1}))


def test_the_flip_is_dropped_only_when_its_bytes_break_the_flash_limit():
    smallest = smallest_costs(space(), (3, 16, 16), 17).flash
    flipped = {**load_config({"n_conv_layers": 1, "n_channels_conv_0": 16, "n_fc_layers": 1, "n_channels_fc_0": 4}),
               "random_flip": True}
    assert not repair(flipped, space(), (3, 16, 16), 17, Limits(2e7, max_flash=smallest))["random_flip"]
    assert repair(flipped, space(), (3, 16, 16), 17, Limits(2e7, max_ram=6000))["random_flip"]
