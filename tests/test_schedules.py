import pytest
import torch

from training.schedules import (DECAY_FRACTION, decay_learning_rate, decay_steps, decays, learning_rate,
                                ONE_CYCLE_END_DIVISOR, ONE_CYCLE_START_DIVISOR, ONE_CYCLE_WARMUP)

TOTAL = 200


def torch_rates(scheduler_of, total: int = TOTAL) -> list[float]:
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = scheduler_of(optimizer)
    rates = []
    for _ in range(total):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


@pytest.mark.parametrize("schedule, scheduler_of", [
    ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL)),
    ("onecycle", lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.1, total_steps=TOTAL, pct_start=ONE_CYCLE_WARMUP, div_factor=ONE_CYCLE_START_DIVISOR,
        final_div_factor=ONE_CYCLE_END_DIVISOR, cycle_momentum=False)),
])
def test_schedules_are_torchs(schedule, scheduler_of):
    ours = [learning_rate(schedule, 0.1, step, TOTAL) for step in range(TOTAL)]
    assert ours == pytest.approx(torch_rates(scheduler_of), rel=1e-6, abs=1e-12)


def test_constant_is_constant_and_an_unknown_schedule_is_an_error():
    assert {learning_rate("constant", 0.1, step, TOTAL) for step in range(TOTAL)} == {0.1}
    assert not decays("constant") and decays("cosine") and decays("onecycle")
    with pytest.raises(ValueError, match="unknown schedule"):
        decays("linear")


@pytest.mark.parametrize("rung_steps, fraction, expected", [(100, 0.2, 20), (17, 0.2, 3), (2, 0.2, 1), (1, 0.1, 1)])
def test_the_decay_is_a_fraction_of_the_rungs_steps_and_at_least_one(rung_steps, fraction, expected):
    assert decay_steps(rung_steps, fraction) == expected
    assert decay_steps(100) == round(DECAY_FRACTION * 100)


@pytest.mark.parametrize("schedule", ["cosine", "onecycle"])
@pytest.mark.parametrize("branch_at", [12, 60, 120])  # one-cycle: warming up, at its peak, annealing
def test_the_measured_point_is_the_decayed_one(schedule, branch_at):
    """The decay starts where the schedule stands at the branch, falls steadily and ends at the schedule's final
    rate: the network the rung measures has annealed as the full training will."""
    n = 25
    rates = [decay_learning_rate(schedule, 0.1, branch_at, TOTAL, k, n) for k in range(n)]
    here, final = learning_rate(schedule, 0.1, branch_at, TOTAL), learning_rate(schedule, 0.1, TOTAL, TOTAL)
    assert final < 1e-4 * 0.1 + 1e-12 and rates[-1] == pytest.approx(final, abs=1e-15)
    assert rates[0] < here and rates[0] == pytest.approx(here - (here - final) / n)
    assert all(a > b for a, b in zip(rates, rates[1:]))
