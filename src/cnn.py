"""The configurable CNN of the task (its size and cost in closed form live in model_size.py)."""
from __future__ import annotations

from typing import Any, Mapping

from torch import nn

from model_size import conv_widths, fc_widths, features_after_conv


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
    features = features_after_conv(config, input_shape)
    if config["global_avg_pooling"]:
        layers.append(nn.AdaptiveAvgPool2d(1))
    layers.append(nn.Flatten())
    for width in fc_widths(config):
        layers += [nn.Linear(features, width), nn.ReLU(), nn.Dropout(float(config["dropout_rate"]))]
        features = width
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)
