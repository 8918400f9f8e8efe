"""The repair every method applies before it trains a configuration: into the limits and into an affordable
training cost, by the budget policy's predictions (the same for every method, so they compete on equal terms)."""
from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
from ConfigSpace import ConfigurationSpace

from budget.limits import Limits
from budget.policy import BudgetPolicy, affordable_batch
from search.repair import Fit, NoNetworkFits, Shape, repair, smallest_costs

log = logging.getLogger(__name__)


def fitter(policy: BudgetPolicy, space: ConfigurationSpace, input_shape: Shape, num_classes: int,
           limits: Limits) -> Fit:
    """Repair into the limits and into an affordable training cost: the batch raised to what the allowance needs,
    then a network that trains to max_budget within it, or as cheap as the cheapest of the space."""
    cheapest = smallest_costs(space, input_shape, num_classes).macs
    largest_batch = space["batch_size"].upper

    def affordable(candidate: Mapping[str, Any]) -> bool:
        return policy.measure.model_macs(candidate) <= cheapest or policy.full_seconds(candidate) <= policy.allowance

    def fit(config: dict, rng: np.random.Generator) -> dict:
        images = policy.measure.images_per_fold_epoch * policy.full_fold_epochs
        config = affordable_batch(config, policy.cost_model.min_batch_size(policy.allowance, images), largest_batch)
        try:
            return repair(config, space, input_shape, num_classes, limits, affordable, rng)
        except NoNetworkFits:
            log.debug("no network fits the limits and %.0f s of training; the limits alone", policy.allowance)
        return repair(config, space, input_shape, num_classes, limits, None, rng)
    return fit
