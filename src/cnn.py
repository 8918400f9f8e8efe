"""The configurable CNN of the task (its size and cost in closed form live in closed_forms.py)."""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from budget.closed_forms import branches, conv_widths, fc_widths, features_after_conv


class Branches(nn.Module):
    """Independently initialised copies of one network, each trained on its own loss (an ensemble in one
    module): predictions are the mean of their logits."""

    def __init__(self, towers: list[nn.Module]):
        super().__init__()
        self.towers = nn.ModuleList(towers)

    def branch_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every branch, shaped (branches, batch, classes)."""
        return torch.stack([tower(x) for tower in self.towers])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch_logits(x).mean(0)


def branch_logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per-branch logits (branches, batch, classes) of a network built by build_cnn, with or without branches."""
    return model.branch_logits(x) if isinstance(model, Branches) else model(x)[None]


def build_tower(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> nn.Sequential:
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


def build_cnn(config: Mapping[str, Any], input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The network of a configuration: one tower, or n_branches towers whose logits are averaged."""
    if branches(config) == 1:
        return build_tower(config, input_shape, num_classes)
    return Branches([build_tower(config, input_shape, num_classes) for _ in range(branches(config))])
