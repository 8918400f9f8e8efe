"""The configurable CNN of the task and its parameter count (closed form, no weights allocated)."""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from search_space import conv_key, fc_key


class ShapeError(ValueError):
    """The configuration cannot be built for this input (the feature map shrinks to nothing)."""


def conv_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[conv_key(i)]) for i in range(int(config["n_conv_layers"]))]


def fc_widths(config: Mapping[str, Any]) -> list[int]:
    return [int(config[fc_key(i)]) for i in range(int(config["n_fc_layers"]))]


def _features_after_conv(config: Mapping[str, Any], input_shape: tuple[int, int, int]) -> int:
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
    """Model size (all parameters, BatchNorm included) in closed form: milliseconds for any size."""
    k = int(config["kernel_size"])
    total, channels = 0, input_shape[0]
    for width in conv_widths(config):
        total += channels * width * k * k + width + (2 * width if config["use_BN"] else 0)
        channels = width
    features = _features_after_conv(config, input_shape)
    for width in fc_widths(config) + [num_classes]:
        total += features * width + width
        features = width
    return total


def build_cnn(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
    """Conv blocks (Conv → ReLU → [BN] → MaxPool), GAP or flatten, FC blocks (Linear → ReLU → Dropout), classifier."""
    k = int(config["kernel_size"])
    layers: list[nn.Module] = []
    channels = input_shape[0]
    for width in conv_widths(config):
        layers += [nn.Conv2d(channels, width, k, padding=(k - 1) // 2), nn.ReLU()]
        if config["use_BN"]:
            layers.append(nn.BatchNorm2d(width))
        layers.append(nn.MaxPool2d(2, 2))
        channels = width
    features = _features_after_conv(config, input_shape)
    if config["global_avg_pooling"]:
        layers.append(nn.AdaptiveAvgPool2d(1))
    layers.append(nn.Flatten())
    for width in fc_widths(config):
        layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(float(config["dropout_rate"]))]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)
