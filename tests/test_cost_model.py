import numpy as np
import pytest

from cost_model import Coefficients, CostModel

TRUE = Coefficients(seconds_per_mac=1e-11, seconds_per_step=3e-3, seconds_per_evaluation=0.5)
PRIOR = Coefficients(2e-11, 2e-3, 0.3)


def true_seconds(macs: int, images: int, batch: int) -> float:
    return TRUE.seconds_per_mac * 3 * macs * images + TRUE.seconds_per_step * images / batch + TRUE.seconds_per_evaluation


def measured(model: CostModel, n: int, seed: int = 0) -> None:
    """n evaluations of networks from 10^4 to 10^8 MACs at batch sizes 4…300, timed by TRUE with 5 % noise."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        macs, images, batch = int(10 ** rng.uniform(4, 8)), 2040 * int(rng.integers(1, 51)), int(rng.integers(4, 301))
        model.observe(macs, images, batch, true_seconds(macs, images, batch) * rng.uniform(0.95, 1.05))


def test_prior_until_observed():
    model = CostModel(PRIOR)
    assert model.coefficients == pytest.approx(PRIOR)
    assert model.seconds(10**6, 1000, 100) == pytest.approx(3 * 1e9 * 2e-11 + 10 * 2e-3 + 0.3)


def test_learns_the_three_costs_from_measured_evaluations():
    model = CostModel(PRIOR)
    measured(model, 200)
    assert model.coefficients == pytest.approx(TRUE, rel=0.1)


def test_a_small_batch_costs_more_than_its_arithmetic_says():
    model = CostModel(PRIOR)
    measured(model, 50)
    assert model.seconds(10**5, 102_000, 4) > 10 * model.seconds(10**5, 102_000, 256)


def test_max_macs_inverts_seconds():
    model = CostModel(PRIOR)
    measured(model, 50)
    cap = model.max_macs(seconds=60, images_seen=680 * 3 * 50, batch_size=64)
    assert model.seconds(cap, 680 * 3 * 50, 64) == pytest.approx(60, rel=1e-3)
    assert model.max_macs(seconds=0.1, images_seen=680 * 3 * 50, batch_size=4) == 0


def test_min_batch_size_leaves_the_share_for_arithmetic():
    model = CostModel(PRIOR)
    batch = model.min_batch_size(seconds=60, images_seen=102_000, share=0.5)
    steps_seconds = model.seconds(0, 102_000, batch, evaluations=0)
    assert steps_seconds == pytest.approx(0.5 * (60 - PRIOR.seconds_per_evaluation))


def test_ignores_empty_observations():
    model = CostModel(PRIOR)
    model.observe(100, 0, 32, 1.0)
    model.observe(100, 10, 32, 0.0)
    assert model.rows == []
