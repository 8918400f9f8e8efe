import pytest

from cost_model import CostModel


def test_prior_until_observed_then_fast_quantile():
    model = CostModel(prior_macs_per_second=1e9)
    assert model.seconds(1_000_000, 1000) == pytest.approx(3 * 1e9 / 1e9)
    for rate in [1e10, 2e10, 4e10]:
        model.observe(macs_per_image=1_000_000, images_seen=1000, seconds=3e9 / rate)
    assert 2e10 < model.macs_per_second <= 4e10


def test_max_macs_inverts_seconds():
    model = CostModel(prior_macs_per_second=5e10)
    cap = model.max_macs(seconds=60, images_seen=680 * 3 * 50)
    assert model.seconds(cap, 680 * 3 * 50) == pytest.approx(60, rel=1e-3)


def test_ignores_empty_observations():
    model = CostModel(1e9)
    model.observe(100, 0, 1.0)
    model.observe(100, 10, 0.0)
    assert model.macs_per_second == 1e9
