"""The one search space (ConfigSpace) and the default configuration; validation of configuration files."""
from __future__ import annotations

import math
from functools import cache
from typing import Any, Mapping

from ConfigSpace import (
    Categorical,
    Configuration,
    ConfigurationSpace,
    Float,
    GreaterThanCondition,
    Integer,
    OrdinalHyperparameter,
)
from ConfigSpace.hyperparameters import FloatHyperparameter, IntegerHyperparameter
from ConfigSpace.util import deactivate_inactive_hyperparameters

from budget.closed_forms import conv_key, fc_key
from utils import UsageError

MAX_CONV_LAYERS = 3
MAX_FC_LAYERS = 3
MAX_BRANCHES = 4

DEFAULT_NAME = "default"  # the default configuration, as tables and comparisons name it
DEFAULT_CONFIG: dict[str, Any] = {
    "n_conv_layers": 3,
    "n_channels_conv_0": 457,
    "n_channels_conv_1": 511,
    "n_channels_conv_2": 38,
    "kernel_size": 5,
    "global_avg_pooling": True,
    "use_BN": False,
    "n_fc_layers": 2,
    "n_channels_fc_0": 27,
    "n_channels_fc_1": 17,
    "n_channels_fc_2": 16,
    "n_branches": 1,
    "dropout_rate": 0.2,
    "batch_size": 290,
    "learning_rate_init": 0.0016651181400389517,
    "optimizer": "adamw",
    "weight_decay": 0.01,
    "lr_schedule": "constant",
    "label_smoothing": 0.0,
    "standardize": False,
    "random_flip": False,
    "crop_padding": 0,
}

# Starting points that join the initial population after the default (each repaired into the constraints like
# any child): well-trained small networks of different shapes, so the first bracket is not all random, and four
# branches of the first (an ensemble; 1.1 points above it on average over three cross-validation seeds). Chosen by
# 3-fold cross-validation on micro17flower's train/ only (bench/bench_tta.py prints their accuracy).
PORTFOLIO: list[dict[str, Any]] = [
    {"n_conv_layers": 3, "n_channels_conv_0": 32, "n_channels_conv_1": 64, "n_channels_conv_2": 128,
     "kernel_size": 3, "use_BN": True, "n_fc_layers": 1, "n_channels_fc_0": 128, "batch_size": 64,
     "learning_rate_init": 0.002, "lr_schedule": "cosine", "random_flip": True, "crop_padding": 2,
     "standardize": True},
    {"n_conv_layers": 3, "n_channels_conv_0": 64, "n_channels_conv_1": 128, "n_channels_conv_2": 256,
     "kernel_size": 3, "use_BN": True, "n_fc_layers": 1, "n_channels_fc_0": 128, "batch_size": 64,
     "learning_rate_init": 0.05, "optimizer": "sgd", "weight_decay": 5e-4, "lr_schedule": "cosine",
     "random_flip": True, "crop_padding": 2, "standardize": True},
    {"n_conv_layers": 3, "n_channels_conv_0": 64, "n_channels_conv_1": 128, "n_channels_conv_2": 256,
     "kernel_size": 3, "use_BN": True, "global_avg_pooling": False, "n_fc_layers": 1, "n_channels_fc_0": 128,
     "batch_size": 64, "learning_rate_init": 0.002, "lr_schedule": "cosine", "random_flip": True,
     "crop_padding": 2, "standardize": True},
    {"n_conv_layers": 3, "n_channels_conv_0": 48, "n_channels_conv_1": 96, "n_channels_conv_2": 192,
     "kernel_size": 3, "use_BN": True, "global_avg_pooling": False, "n_fc_layers": 2, "n_channels_fc_0": 256,
     "n_channels_fc_1": 64, "batch_size": 48, "learning_rate_init": 0.001, "optimizer": "adam",
     "lr_schedule": "cosine", "random_flip": True, "crop_padding": 1, "standardize": True},
    {"n_conv_layers": 3, "n_channels_conv_0": 32, "n_channels_conv_1": 64, "n_channels_conv_2": 128,
     "kernel_size": 3, "use_BN": True, "n_fc_layers": 1, "n_channels_fc_0": 128, "n_branches": 4, "batch_size": 64,
     "learning_rate_init": 0.002, "lr_schedule": "cosine", "random_flip": True, "crop_padding": 2,
     "standardize": True},
]


ORIGIN_KEY = "origin"  # a configuration file written by a search says where the answer came from; not a hyperparameter


class ConfigError(UsageError):
    """A configuration that is not a member of the search space; the message names the key."""


def build_space(seed: int | None = None) -> ConfigurationSpace:
    """The search space: network shape, training hyperparameters and their conditions."""
    d = DEFAULT_CONFIG
    cs = ConfigurationSpace(seed=seed)
    cs.add([
        Float("learning_rate_init", (1e-5, 1e-1), default=d["learning_rate_init"], log=True),
        Integer("batch_size", (4, 300), default=d["batch_size"], log=True),
        OrdinalHyperparameter("kernel_size", [3, 5, 7], default_value=d["kernel_size"]),
        Categorical("use_BN", [True, False], default=d["use_BN"]),
        Categorical("global_avg_pooling", [True, False], default=d["global_avg_pooling"]),
        Float("dropout_rate", (0.01, 0.5), default=d["dropout_rate"], log=True),
        Integer("n_conv_layers", (1, MAX_CONV_LAYERS), default=d["n_conv_layers"]),
        Integer("n_fc_layers", (1, MAX_FC_LAYERS), default=d["n_fc_layers"]),
        Integer("n_branches", (1, MAX_BRANCHES), default=d["n_branches"]),
        Categorical("optimizer", ["adam", "adamw", "sgd"], default=d["optimizer"]),
        Float("weight_decay", (1e-6, 1e-1), default=d["weight_decay"], log=True),
        Categorical("lr_schedule", ["constant", "cosine", "onecycle"], default=d["lr_schedule"]),
        Float("label_smoothing", (0.0, 0.3), default=d["label_smoothing"]),
        Categorical("standardize", [True, False], default=d["standardize"]),
        Categorical("random_flip", [True, False], default=d["random_flip"]),
        Integer("crop_padding", (0, 4), default=d["crop_padding"]),
    ])
    for i in range(MAX_CONV_LAYERS):
        cs.add(Integer(conv_key(i), (16, 1024), default=d[conv_key(i)], log=True))
        if i > 0:
            cs.add(GreaterThanCondition(cs[conv_key(i)], cs["n_conv_layers"], i))
    for i in range(MAX_FC_LAYERS):
        cs.add(Integer(fc_key(i), (4, 512), default=d[fc_key(i)], log=True))
        if i > 0:
            cs.add(GreaterThanCondition(cs[fc_key(i)], cs["n_fc_layers"], i))
    return cs


@cache
def space() -> ConfigurationSpace:
    """The search space, built when first asked for (nothing is built at import) and shared from then on."""
    return build_space()


def _check_value(space: ConfigurationSpace, key: str, value: Any) -> None:
    hp = space[key]
    if isinstance(hp, IntegerHyperparameter):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
    elif isinstance(hp, FloatHyperparameter):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
    else:
        choices = hp.sequence if isinstance(hp, OrdinalHyperparameter) else hp.choices
        if not any(type(value) is type(c) and value == c for c in choices):
            raise ConfigError(f"{key}: expected one of {list(choices)}, got {value!r}")
        return
    if not hp.lower <= value <= hp.upper:
        raise ConfigError(f"{key}: {value!r} is outside [{hp.lower}, {hp.upper}]")


def load_config(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate a (partial) configuration; fill missing keys from the default; drop inactive layer widths (and
    the file's `origin`, which is not a hyperparameter)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"a configuration must be a JSON object, got {type(raw).__name__}")
    raw = {key: value for key, value in raw.items() if key != ORIGIN_KEY}
    cs = space()
    for key, value in raw.items():
        if key not in cs:
            raise ConfigError(f"{key}: unknown hyperparameter")
        _check_value(cs, key, value)
    values = {**DEFAULT_CONFIG, **raw}
    active = deactivate_inactive_hyperparameters(values, cs)
    return {key: values[key] for key in cs if key in active}


def python_value(value: Any) -> Any:
    """A Python scalar for a numpy one, so configurations stay JSON-serialisable and compare plainly."""
    return value.item() if hasattr(value, "item") else value


def to_dict(config: Configuration | Mapping[str, Any]) -> dict[str, Any]:
    """A plain JSON-serialisable dict (numpy scalars become Python scalars)."""
    return {key: python_value(value) for key, value in dict(config).items()}
