"""Closed-form size (parameters) and cost (multiply-accumulates, feature-map elements) of the CNN: no torch,
milliseconds for any size."""
from __future__ import annotations

from typing import Any, Mapping, NamedTuple

from search.space import conv_key, fc_key
from utils import UsageError


class ShapeError(UsageError):
    """The configuration cannot be built for this input (the feature map shrinks to nothing)."""


def conv_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[conv_key(i)]) for i in range(int(config["n_conv_layers"]))]


def fc_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[fc_key(i)]) for i in range(int(config["n_fc_layers"]))]


def branches(config: Mapping[str, Any]) -> int:
    """Independent copies of the network (conv blocks to classifier) whose logits are averaged."""
    return int(config["n_branches"])


def architecture(config: Mapping[str, Any]) -> tuple:
    """What fixes every tensor's shape: two configurations with the same architecture differ only in how they
    train (learning rate, weight decay, dropout, batch size, augmentation, optimizer, schedule, …)."""
    return (tuple(conv_widths(config)), int(config["kernel_size"]), bool(config["use_BN"]),
            bool(config["global_avg_pooling"]), tuple(fc_widths(config)), branches(config))


def features_after_conv(config: Mapping[str, Any], input_shape: tuple[int, int, int]) -> int:
    """Number of features entering the first Linear layer."""
    _, height, width = input_shape
    for _ in conv_widths(config):
        height, width = height // 2, width // 2
    if height < 1 or width < 1:
        raise ShapeError(
            f"{config['n_conv_layers']} pooling layers shrink a {input_shape[1]}x{input_shape[2]} image to nothing"
        )
    channels = conv_widths(config)[-1]
    return channels if config["global_avg_pooling"] else channels * height * width


def count_parameters(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Model size: all parameters of all branches, BatchNorm included."""
    k = int(config["kernel_size"])
    total, channels = 0, input_shape[0]
    for width in conv_widths(config):
        total += channels * width * k * k + width + (2 * width if config["use_BN"] else 0)
        channels = width
    features = features_after_conv(config, input_shape)
    for width in fc_widths(config) + [num_classes]:
        total += features * width + width
        features = width
    return total * branches(config)


def count_macs(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Multiply-accumulates of one forward pass of one image through all branches: the training cost per image,
    up to a factor."""
    k = int(config["kernel_size"])
    channels, height, width = input_shape
    total = 0
    for out in conv_widths(config):
        total += channels * out * k * k * height * width
        channels, height, width = out, height // 2, width // 2
    features = features_after_conv(config, input_shape)
    for out in fc_widths(config) + [num_classes]:
        total += features * out
        features = out
    return total * branches(config)


def count_activations(config: Mapping[str, Any], input_shape: tuple[int, int, int]) -> int:
    """Feature-map elements the convolutions write for one image (before pooling): the memory traffic that
    BatchNorm, ReLU and pooling add, which arithmetic alone misses (a single wide convolution on the full image)."""
    _, height, width = input_shape
    total = 0
    for out in conv_widths(config):
        total += out * height * width
        height, width = height // 2, width // 2
    return total * branches(config)


FLOAT_BYTES, INDEX_BYTES = 4, 8  # float32 activations; the int64 indices torch's max-pooling also returns


def _tower_operations(config: Mapping[str, Any], input_shape: tuple[int, int, int],
                      num_classes: int) -> list[tuple[int, int]]:
    """(input bytes, output bytes) of each operation of one tower's forward pass, in order, for one image."""
    channels, height, width = input_shape
    current, operations = FLOAT_BYTES * channels * height * width, []
    for out in conv_widths(config):
        mapped = FLOAT_BYTES * out * height * width
        operations += [(current, mapped), (mapped, mapped)] + [(mapped, mapped)] * bool(config["use_BN"])
        height, width = height // 2, width // 2
        operations.append((mapped, (FLOAT_BYTES + INDEX_BYTES) * out * height * width))
        current = FLOAT_BYTES * out * height * width
    if config["global_avg_pooling"]:
        operations.append((current, FLOAT_BYTES * conv_widths(config)[-1]))
    features = features_after_conv(config, input_shape)
    for out in fc_widths(config):
        operations += [(FLOAT_BYTES * features, FLOAT_BYTES * out), (FLOAT_BYTES * out, FLOAT_BYTES * out)]
        features = out
    return operations + [(FLOAT_BYTES * features, FLOAT_BYTES * num_classes)]


def peak_activation_bytes(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Most bytes of tensors alive at once in one image's forward pass (eval mode, float32, as torch runs it):
    the input, which the caller holds throughout, plus each operation's input and output (an operation's input
    is freed once the next one has run), plus the logits of the branches already run."""
    image = FLOAT_BYTES * input_shape[0] * input_shape[1] * input_shape[2]
    operations = _tower_operations(config, input_shape, num_classes)
    tower = max(out if i == 0 else into + out for i, (into, out) in enumerate(operations))
    logits, n = FLOAT_BYTES * num_classes, branches(config)
    if n == 1:
        return image + tower
    stacked = n * logits  # torch.stack of the branches' logits, then their mean
    return image + max(tower + (n - 1) * logits, n * logits + stacked, stacked + logits)


class Work(NamedTuple):
    """What one image costs a forward pass of the network: what training time is predicted from."""
    macs: int
    activations: int


def count_work(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> Work:
    return Work(count_macs(config, input_shape, num_classes), count_activations(config, input_shape))
