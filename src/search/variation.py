"""Variation operators of the evolutionary search: random sampling, mutation, uniform crossover, tournaments.

Configurations are plain dicts of the active hyperparameters (Python scalars), as `search.space.load_config`
returns them; every operator returns a valid member of the space. Randomness only through the Generator passed in.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from ConfigSpace import ConfigurationSpace, OrdinalHyperparameter
from ConfigSpace.hyperparameters import (
    CategoricalHyperparameter,
    Hyperparameter,
    IntegerHyperparameter,
)
from ConfigSpace.util import deactivate_inactive_hyperparameters

from search.space import MAX_CONV_LAYERS, MAX_FC_LAYERS, conv_key, fc_key, python_value

SIGMA = 0.17  # Gaussian step of numeric hyperparameters, in their normalized [0, 1] (log where log=True) space
LAYER_COUNTS = ("n_conv_layers", "n_fc_layers")  # mutated by +-1: a step adds or removes one layer
PREVIOUS_WIDTH = {
    **{conv_key(i): conv_key(i - 1) for i in range(1, MAX_CONV_LAYERS)},
    **{fc_key(i): fc_key(i - 1) for i in range(1, MAX_FC_LAYERS)},
}  # a newly active layer starts as a copy of the layer before it


def _complete(values: Mapping[str, Any], space: ConfigurationSpace) -> dict[str, Any]:
    """Give new layers the previous layer's width, drop inactive keys, validate (raises on an illegal value)."""
    full = dict(values)
    for name, previous in PREVIOUS_WIDTH.items():  # in layer order: a layer two deeper copies the filled one
        full.setdefault(name, full[previous])
    active = deactivate_inactive_hyperparameters(full, space)
    return {name: python_value(full[name]) for name in space if name in active}


def sample(space: ConfigurationSpace, rng: np.random.Generator) -> dict[str, Any]:
    """A random configuration from the space's priors: the initial population and random search."""
    seed = np.random.RandomState(rng.integers(2**32))
    return _complete({name: python_value(hp.sample_value(seed=seed)) for name, hp in space.items()}, space)


def _step(value: Any, choices: Sequence[Any], rng: np.random.Generator) -> Any:
    """A neighbour of value in an ordered sequence of choices: ordinal and layer-count moves."""
    i = list(choices).index(value)
    neighbours = [choices[j] for j in (i - 1, i + 1) if 0 <= j < len(choices)]
    return neighbours[rng.integers(len(neighbours))]


def _gaussian(hp: Hyperparameter, value: Any, rng: np.random.Generator) -> Any:
    """A clipped Gaussian step in the normalized space, redrawn until the (rounded) value changes."""
    x = float(hp.to_vector(value))
    while True:
        new = python_value(hp.to_value(np.clip(x + rng.normal(0.0, SIGMA), 0.0, 1.0)))
        if new != value:
            return new


def _mutate_value(hp: Hyperparameter, value: Any, rng: np.random.Generator) -> Any:
    """A different value for one hyperparameter: switch, neighbour, +-1 layer or Gaussian step."""
    if isinstance(hp, CategoricalHyperparameter):
        others = [c for c in hp.choices if c != value]
        return others[rng.integers(len(others))]
    if isinstance(hp, OrdinalHyperparameter):
        return _step(value, hp.sequence, rng)
    if isinstance(hp, IntegerHyperparameter) and hp.name in LAYER_COUNTS:
        return _step(value, range(hp.lower, hp.upper + 1), rng)
    return _gaussian(hp, value, rng)


def mutate(config: Mapping[str, Any], space: ConfigurationSpace, rng: np.random.Generator,
           rate: float | None = None) -> dict[str, Any]:
    """Change each active hyperparameter with probability rate (default 1/their number), at least one."""
    names = [name for name in config if space[name].size > 1]
    mask = rng.random(len(names)) < (1.0 / len(names) if rate is None else rate)
    if not mask.any():
        mask[rng.integers(len(names))] = True
    child = dict(config)
    for name in (name for name, chosen in zip(names, mask) if chosen):
        child[name] = _mutate_value(space[name], config[name], rng)
    return _complete(child, space)


def crossover(a: Mapping[str, Any], b: Mapping[str, Any], space: ConfigurationSpace,
              rng: np.random.Generator) -> dict[str, Any]:
    """Uniform crossover: each hyperparameter from either parent; a width one parent lacks from the other."""
    child = {}
    for name in space:
        first, second = (a, b) if rng.random() < 0.5 else (b, a)
        if name in first or name in second:
            child[name] = first.get(name, second.get(name))
    return _complete(child, space)


def tournament(ranks: Sequence[float], rng: np.random.Generator, k: int = 3) -> int:
    """Index of the best (lowest rank) of k distinct random entries: parent selection with mild pressure."""
    entrants = rng.choice(len(ranks), size=min(k, len(ranks)), replace=False)
    return int(min(entrants, key=lambda i: ranks[i]))
