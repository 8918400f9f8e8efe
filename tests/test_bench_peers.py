"""bench/bench_peers.py without its peers' packages: the space Optuna is asked for is this project's."""
import sys

import numpy as np

from conftest import REPO_ROOT
from search_space import SPACE, load_config

sys.path.insert(0, str(REPO_ROOT / "bench"))
import bench_peers  # noqa: E402


class RandomTrial:
    """Optuna's define-by-run calls, answered at random (and remembered, as a trial does)."""

    def __init__(self, seed):
        self.rng, self.asked = np.random.default_rng(seed), {}

    def suggest_categorical(self, name, choices):
        self.asked[name] = choices[self.rng.integers(len(choices))]
        return self.asked[name]

    def suggest_int(self, name, low, high, log=False):
        self.asked[name] = int(self.rng.integers(low, high + 1))
        return self.asked[name]

    def suggest_float(self, name, low, high, log=False):
        self.asked[name] = float(self.rng.uniform(low, high))
        return self.asked[name]


def test_the_peers_search_this_projects_space_with_widths_only_for_layers_that_exist():
    for seed in range(20):
        trial = RandomTrial(seed)
        config = load_config(bench_peers.suggest(trial))
        assert set(trial.asked) == set(config)  # nothing inactive was asked, nothing active left to its default
        assert set(config) <= set(SPACE)
