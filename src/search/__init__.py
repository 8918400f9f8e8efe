"""The search's own logic, free of I/O and torch: the space, repair into the limits, variation, ranking, successive
halving, the surrogate, and the ask/tell optimizers' shared parts and random search."""
