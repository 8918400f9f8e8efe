"""Repair of a configuration into its limits (parameters, and MACs, flash and RAM bytes where given, and an
affordable training cost), changing as little as needed.

First all layer widths shrink by one common factor; if even the narrowest layers do not fit, the structure
steps towards the smallest network (fewer branches, global average pooling, smaller kernel, fewer layers,
no BatchNorm, at last no flip test-time augmentation), taking only the steps that lower a cost the narrowest network
breaks: a RAM limit drops the batch norm that doubles the first feature map, not the layers that do not set the peak.
Training hyperparameters are never touched, but for the flip: it is also the test-time augmentation the int8 file
carries (a few bytes of flash).
"""
from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping

import numpy as np
from ConfigSpace import ConfigurationSpace, OrdinalHyperparameter
from ConfigSpace.hyperparameters import CategoricalHyperparameter, Hyperparameter

from budget.closed_forms import Costs, ShapeError, count_macs, count_parameters, network_costs
from budget.limits import LIMITS, Limits
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


def smallest_costs(space: ConfigurationSpace, input_shape: Shape, num_classes: int) -> Costs:
    """The fewest parameters, MACs, flash and RAM bytes any configuration of the space has, each on its own: the
    lowest feasible value of each limit."""
    return _least_costs(_structures(space, input_shape, load_config({})), input_shape, num_classes)


def _least_costs(candidates: list[dict[str, Any]], input_shape: Shape, num_classes: int) -> Costs:
    costs = [network_costs(c, input_shape, num_classes) for c in candidates]
    return Costs(*(min(values) for values in zip(*costs)))


def below_smallest(limits: Limits, smallest: Costs) -> str | None:
    """What is wrong when a limit is below the smallest network of the space (naming the flag and that figure)."""
    for name, value in limits.given().items():
        limit = LIMITS[name]
        if value < getattr(smallest, limit.field):
            return (f"--{limit.setting} {value:.0f} is below the smallest network the search space can build for this "
                    f"data ({getattr(smallest, limit.field)} {limit.unit})")
    return None


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


def _one_fewer(count: str) -> Step:
    def step(config: dict[str, Any], space: ConfigurationSpace) -> dict[str, Any] | None:
        return _with_layers(config, space, **{count: config[count] - 1}) if config[count] > space[count].lower \
            else None
    return step


def _smaller_kernel(config: dict[str, Any], space: ConfigurationSpace) -> dict[str, Any] | None:
    smaller = [k for k in space["kernel_size"].sequence if k < config["kernel_size"]]
    return {**config, "kernel_size": max(smaller)} if smaller else None


def _pooled(config: dict[str, Any], space: ConfigurationSpace) -> dict[str, Any] | None:
    return None if config["global_avg_pooling"] else {**config, "global_avg_pooling": True}


def _without_bn(config: dict[str, Any], space: ConfigurationSpace) -> dict[str, Any] | None:
    return {**config, "use_BN": False} if config["use_BN"] else None


def _without_flip(config: dict[str, Any], space: ConfigurationSpace) -> dict[str, Any] | None:
    return {**config, "random_flip": False} if config["random_flip"] else None


Step = Callable[[dict, ConfigurationSpace], "dict | None"]  # one step towards a smaller structure, None at its end
STEPS: list[Step] = [_one_fewer("n_branches"), _pooled, _smaller_kernel, _one_fewer("n_conv_layers"),
                     _one_fewer("n_fc_layers"), _without_bn, _without_flip]


def _lowers_a_broken_cost(before: dict[str, Any], after: dict[str, Any], space: ConfigurationSpace,
                          input_shape: Shape, num_classes: int, limits: Limits) -> bool:
    """Whether the step lowers a cost that the narrowest network of `before` breaks; when none does (the training
    allowance binds), every step is taken."""
    old = network_costs(_scaled(before, space, 0.0), input_shape, num_classes)
    broken = limits.broken(old)
    if not broken:
        return True
    new = network_costs(_scaled(after, space, 0.0), input_shape, num_classes)
    return any(getattr(new, LIMITS[name].field) < getattr(old, LIMITS[name].field) for name in broken)


def repair(config: Mapping[str, Any], space: ConfigurationSpace, input_shape: Shape, num_classes: int,
           limits: Limits, affordable: Callable[[Mapping[str, Any]], bool] | None = None,
           rng: np.random.Generator | None = None) -> dict[str, Any]:
    """A configuration within the limits (and affordable), as close to config as the steps allow.

    affordable must hold for a network whenever it holds for a wider one (training cost grows with widths).
    Deterministic: rng is accepted only so that repair fits the optimizers' Fit(config, rng) interface.
    Raises NoNetworkFits, naming the smallest network, when no configuration of the space can fit.
    """
    def fits(candidate: Mapping[str, Any]) -> bool:
        return limits.holds(candidate, input_shape, num_classes) and (affordable is None or affordable(candidate))

    current = _buildable_depth(config, space, input_shape)
    fitted = _fit_widths(current, space, fits)
    for step in STEPS:
        while fitted is None and (smaller := step(current, space)) is not None:
            if _lowers_a_broken_cost(current, smaller, space, input_shape, num_classes, limits):
                current = smaller
                fitted = _fit_widths(current, space, fits)
            else:
                break
    if fitted is not None:
        return fitted
    candidates = _structures(space, input_shape, config)
    candidates += [unflipped for c in candidates if (unflipped := _without_flip(c, space)) is not None]
    wrong = below_smallest(limits, _least_costs(candidates, input_shape, num_classes))
    if wrong is not None:
        raise NoNetworkFits(wrong)
    fitting = [c for c in candidates if fits(c)]
    if fitting:
        return _smallest(fitting, input_shape, num_classes)
    if affordable is not None and not any(affordable(c) for c in candidates):
        raise NoNetworkFits("no network of the space is affordable")
    raise NoNetworkFits(f"no network of the space meets the limits together ({limits.given()}) and is affordable")
