"""Closed-form size (parameters) and cost (multiply-accumulates) of the CNN: no torch, milliseconds for any size."""
from __future__ import annotations

from typing import Any, Mapping

from search_space import conv_key, fc_key


class ShapeError(ValueError):
    """The configuration cannot be built for this input (the feature map shrinks to nothing)."""


def conv_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[conv_key(i)]) for i in range(int(config["n_conv_layers"]))]


def fc_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[fc_key(i)]) for i in range(int(config["n_fc_layers"]))]


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
    """Model size: all parameters, BatchNorm included."""
    k = int(config["kernel_size"])
    total, channels = 0, input_shape[0]
    for width in conv_widths(config):
        total += channels * width * k * k + width + (2 * width if config["use_BN"] else 0)
        channels = width
    features = features_after_conv(config, input_shape)
    for width in fc_widths(config) + [num_classes]:
        total += features * width + width
        features = width
    return total


def count_macs(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> int:
    """Multiply-accumulates of one forward pass of one image: the training cost per image, up to a factor."""
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
    return total
