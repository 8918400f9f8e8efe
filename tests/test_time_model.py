import numpy as np
import pytest

from budget.time_model import PRIORS, Coefficients, CostModel, prior
from budget.closed_forms import Work

TRUE = Coefficients(seconds_per_mac=1e-11, seconds_per_step=3e-3, seconds_per_evaluation=0.5,
                    seconds_per_activation=6e-9)
PRIOR = Coefficients(2e-11, 2e-3, 0.3, 3e-9)


def true_seconds(work: Work, images: int, batch: int) -> float:
    return (TRUE.seconds_per_mac * 3 * work.macs * images + TRUE.seconds_per_step * images / batch
            + TRUE.seconds_per_activation * work.activations * images + TRUE.seconds_per_evaluation)


def measured(model: CostModel, n: int, seed: int = 0) -> None:
    """n evaluations of networks from 10^4 to 10^8 MACs and 10^3 to 3·10^5 feature-map elements at batch sizes
    4…300, timed by TRUE with 5 % noise."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        work = Work(int(10 ** rng.uniform(4, 8)), int(10 ** rng.uniform(3, 5.5)))
        images, batch = 2040 * int(rng.integers(1, 51)), int(rng.integers(4, 301))
        model.observe(work, images, batch, true_seconds(work, images, batch) * rng.uniform(0.95, 1.05))


def test_prior_until_observed():
    model = CostModel(PRIOR)
    assert model.coefficients == pytest.approx(PRIOR)
    assert model.seconds(Work(10**6, 10**4), 1000, 100) == pytest.approx(3 * 1e9 * 2e-11 + 10 * 2e-3 + 0.3 + 1e7 * 3e-9)


def test_learns_the_four_costs_from_measured_evaluations():
    model = CostModel(PRIOR)
    measured(model, 200)
    assert model.coefficients == pytest.approx(TRUE, rel=0.1)


def test_a_small_batch_costs_more_than_its_arithmetic_says():
    model = CostModel(PRIOR)
    measured(model, 50)
    work = Work(10**5, 10**3)
    assert model.seconds(work, 102_000, 4) > 10 * model.seconds(work, 102_000, 256)


def test_a_wide_feature_map_costs_more_than_its_arithmetic_says():
    """A single 800-channel convolution on a 16x16 image against three narrower layers with more MACs."""
    model = CostModel(PRIOR)
    measured(model, 50)
    wide, deep = Work(7_300_000, 800 * 256), Work(10_000_000, 28_672)
    assert model.seconds(wide, 102_000, 64) > 2 * model.seconds(deep, 102_000, 64)


def test_min_batch_size_leaves_the_share_for_the_rest():
    model = CostModel(PRIOR)
    batch = model.min_batch_size(seconds=60, images_seen=102_000, share=0.5)
    steps_seconds = model.seconds(Work(0, 0), 102_000, batch, evaluations=0)
    assert steps_seconds == pytest.approx(0.5 * (60 - PRIOR.seconds_per_evaluation))


def test_ignores_empty_observations():
    model = CostModel(PRIOR)
    model.observe(Work(100, 10), 0, 32, 1.0)
    model.observe(Work(100, 10), 10, 32, 0.0)
    assert model.rows == []


def test_the_prior_of_a_one_thread_worker_does_the_arithmetic_at_half_the_speed():
    one, base = prior("cpu", 1), PRIORS["cpu"]
    assert one.seconds_per_mac == pytest.approx(2 * base.seconds_per_mac)
    assert one.seconds_per_activation == pytest.approx(2 * base.seconds_per_activation)
    assert (one.seconds_per_step, one.seconds_per_evaluation) == (base.seconds_per_step, base.seconds_per_evaluation)
    assert prior("cpu", 8) == prior("cpu", 2) == base and prior("cuda", 1) == PRIORS["cuda"]
