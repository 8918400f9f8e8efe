"""Repair of a configuration into the size constraint (and a MACs limit, and an affordable training cost),
changing as little as needed.

First all layer widths shrink by one common factor; if even the narrowest layers do not fit, the structure
steps towards the smallest network (fewer branches, global average pooling, smaller kernel, fewer layers,
no BatchNorm).
Training hyperparameters are never touched.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Iterator, Mapping

import numpy as np
from ConfigSpace import ConfigurationSpace, OrdinalHyperparameter
from ConfigSpace.hyperparameters import CategoricalHyperparameter, Hyperparameter

from budget.closed_forms import ShapeError, count_macs, count_parameters
from search.space import conv_key, fc_key, load_config


class NoNetworkFits(ValueError):
    """No configuration of the space meets the size limit (and the MACs limit, and the training allowance)."""


Shape = tuple[int, int, int]
Fit = Callable[[dict, np.random.Generator], dict]  # repairs a configuration into the constraints
STRUCTURE = ("n_branches", "n_conv_layers", "n_fc_layers", "kernel_size", "use_BN", "global_avg_pooling")
SCALE_STEPS = 40  # bisection steps of the width factor: far below one channel of the widest layer


def width_keys(config: Mapping[str, Any]) -> list[str]:
    """The active layer widths of a configuration, convolutions first."""
    return ([conv_key(i) for i in range(config["n_conv_layers"])]
            + [fc_key(i) for i in range(config["n_fc_layers"])])


def _is_width(name: str) -> bool:
    return name.startswith(("n_channels_conv_", "n_channels_fc_"))


def _choices(hp: Hyperparameter) -> list[Any]:
    """Every value of a structural hyperparameter."""
    if isinstance(hp, CategoricalHyperparameter):
        return list(hp.choices)
    if isinstance(hp, OrdinalHyperparameter):
        return list(hp.sequence)
    return list(range(hp.lower, hp.upper + 1))


def _with_layers(config: Mapping[str, Any], space: ConfigurationSpace, **structure: Any) -> dict[str, Any]:
    """The configuration with a new structure: widths of removed layers dropped, of new layers at their lower bound."""
    out = {name: value for name, value in config.items() if not _is_width(name)} | structure
    return {**out, **{key: config.get(key, space[key].lower) for key in width_keys(out)}}


def _structures(space: ConfigurationSpace, input_shape: Shape, base: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every structure of the space with every width at its lower bound, that the image is large enough for."""
    narrow = {name: value for name, value in base.items() if not _is_width(name)}
    out = []
    for values in itertools.product(*(_choices(space[name]) for name in STRUCTURE)):
        config = _with_layers(narrow, space, **dict(zip(STRUCTURE, values)))
        if _buildable(config, input_shape):
            out.append(config)
    if not out:
        raise ShapeError(f"no network of the search space fits a {input_shape[1]}x{input_shape[2]} image")
    return out


def _buildable(config: Mapping[str, Any], input_shape: Shape) -> bool:
    try:
        count_parameters(config, input_shape, 1)
    except ShapeError:
        return False
    return True


def _smallest(candidates: list[dict[str, Any]], input_shape: Shape, num_classes: int) -> dict[str, Any]:
    return min(candidates, key=lambda c: (count_parameters(c, input_shape, num_classes),
                                          count_macs(c, input_shape, num_classes)))


def smallest_config(space: ConfigurationSpace, input_shape: Shape, num_classes: int,
                    base: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The network with the fewest parameters (then MACs) the space builds; training values from base or default."""
    candidates = _structures(space, input_shape, load_config({}) if base is None else base)
    return _smallest(candidates, input_shape, num_classes)


def smallest_model_size(space: ConfigurationSpace, input_shape: Shape, num_classes: int) -> int:
    """Fewest parameters any configuration of the space has: the lowest feasible size constraint."""
    return count_parameters(smallest_config(space, input_shape, num_classes), input_shape, num_classes)


def smallest_model_macs(space: ConfigurationSpace, input_shape: Shape, num_classes: int) -> int:
    """Fewest multiply-accumulates any configuration of the space has: the lowest feasible cost cap."""
    candidates = _structures(space, input_shape, load_config({}))
    return min(count_macs(c, input_shape, num_classes) for c in candidates)


def within_limits(config: Mapping[str, Any], input_shape: Shape, num_classes: int, max_size: float,
                  max_macs: float | None = None) -> bool:
    """Whether config has at most max_size parameters and, when max_macs is given, at most max_macs
    multiply-accumulates per image: the limits every trained network meets."""
    return (count_parameters(config, input_shape, num_classes) <= max_size
            and (max_macs is None or count_macs(config, input_shape, num_classes) <= max_macs))


def _scaled(config: Mapping[str, Any], space: ConfigurationSpace, s: float) -> dict[str, Any]:
    """Every active width times s, rounded, not below its lower bound."""
    return {**config, **{key: max(space[key].lower, round(config[key] * s)) for key in width_keys(config)}}


def _fit_widths(config: dict[str, Any], space: ConfigurationSpace,
                fits: Callable[[Mapping[str, Any]], bool]) -> dict[str, Any] | None:
    """The configuration with the largest common width factor in [0, 1] that fits; None if none does."""
    if fits(config):
        return config
    if not fits(_scaled(config, space, 0.0)):
        return None
    low, high = 0.0, 1.0  # size and MACs grow with s: bisect the boundary
    for _ in range(SCALE_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if fits(_scaled(config, space, middle)) else (low, middle)
    return _scaled(config, space, low)


def _buildable_depth(config: Mapping[str, Any], space: ConfigurationSpace, input_shape: Shape) -> dict[str, Any]:
    """Drop the deepest convolutions while their pooling would shrink the image to nothing."""
    out = dict(config)
    while not _buildable(out, input_shape) and out["n_conv_layers"] > space["n_conv_layers"].lower:
        out = _with_layers(out, space, n_conv_layers=out["n_conv_layers"] - 1)
    return out


def _one_fewer_each_step(config: dict[str, Any], space: ConfigurationSpace, count: str) -> Iterator[dict[str, Any]]:
    """The configuration with one fewer of `count` (branches or layers) at each step, down to its lower bound."""
    while config[count] > space[count].lower:
        config = _with_layers(config, space, **{count: config[count] - 1})
        yield config


def _smaller_structures(config: dict[str, Any], space: ConfigurationSpace) -> Iterator[dict[str, Any]]:
    """Ever smaller structures, one step at a time: fewer branches, global average pooling, smaller kernel, fewer
    layers, no BN."""
    for config in _one_fewer_each_step(config, space, "n_branches"):
        yield config
    if not config["global_avg_pooling"]:
        config = {**config, "global_avg_pooling": True}
        yield config
    for kernel in sorted((k for k in space["kernel_size"].sequence if k < config["kernel_size"]), reverse=True):
        config = {**config, "kernel_size": kernel}
        yield config
    for count in ("n_conv_layers", "n_fc_layers"):
        for config in _one_fewer_each_step(config, space, count):
            yield config
    if config["use_BN"]:
        yield {**config, "use_BN": False}


def repair(config: Mapping[str, Any], space: ConfigurationSpace, input_shape: Shape, num_classes: int,
           max_size: int, affordable: Callable[[Mapping[str, Any]], bool] | None = None,
           rng: np.random.Generator | None = None, *, max_macs: float | None = None) -> dict[str, Any]:
    """A configuration within max_size parameters, within max_macs multiply-accumulates per image when given (and
    affordable), as close to config as the steps allow.

    affordable must hold for a network whenever it holds for a wider one (training cost grows with widths).
    Deterministic: rng is accepted only so that repair fits the optimizers' Fit(config, rng) interface.
    Raises NoNetworkFits, naming the smallest network, when no configuration of the space can fit.
    """
    candidates = _structures(space, input_shape, config)
    smallest = _smallest(candidates, input_shape, num_classes)  # also the fewest MACs: widths and layers add both
    size, macs = count_parameters(smallest, input_shape, num_classes), count_macs(smallest, input_shape, num_classes)
    if max_size < size:
        raise NoNetworkFits(f"max model size {max_size} is below the smallest network of the space ({size} parameters)")
    if max_macs is not None and max_macs < macs:
        raise NoNetworkFits(f"max MACs {max_macs} is below the smallest network of the space ({macs} "
                            "multiply-accumulates per image)")
    if affordable is not None and not any(affordable(c) for c in candidates):
        raise NoNetworkFits("no network of the space is affordable")

    def fits(candidate: Mapping[str, Any]) -> bool:
        return (within_limits(candidate, input_shape, num_classes, max_size, max_macs)
                and (affordable is None or affordable(candidate)))

    start = _buildable_depth(config, space, input_shape)
    for candidate in itertools.chain([start], _smaller_structures(start, space), [smallest]):
        fitted = _fit_widths(candidate, space, fits)
        if fitted is not None:
            return fitted
    raise NoNetworkFits(f"no network of the space meets the limits (at most {max_size} parameters, MACs limit "
                        f"{max_macs}) and is affordable")
