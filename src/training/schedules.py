"""Learning-rate schedules as pure functions of training progress, laid over the maximal budget, and the short
decay a rung below it measures on a branch (the member itself continues undecayed)."""
from __future__ import annotations

import math

ONE_CYCLE_WARMUP = 0.3
ONE_CYCLE_START_DIVISOR = 25.0
ONE_CYCLE_END_DIVISOR = 1e4
DECAY_FRACTION = 0.2  # a rung's measuring decay, as a fraction of the rung's steps (bench/bench_fidelity.py)


def _cosine(start: float, end: float, fraction: float) -> float:
    return end + (start - end) * (1 + math.cos(math.pi * fraction)) / 2


def learning_rate(schedule: str, base_lr: float, step: int, total_steps: int) -> float:
    """The learning rate at optimizer step `step` of `total_steps`: constant, cosine or one-cycle, as torch's."""
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        return _cosine(base_lr, 0.0, min(step / max(total_steps, 1), 1.0))
    if schedule == "onecycle":
        start = base_lr / ONE_CYCLE_START_DIVISOR
        end = start / ONE_CYCLE_END_DIVISOR
        peak = max(ONE_CYCLE_WARMUP * total_steps - 1, 1.0)
        if step <= peak:
            return _cosine(start, base_lr, step / peak)
        return _cosine(base_lr, end, min((step - peak) / max(total_steps - 1 - peak, 1.0), 1.0))
    raise ValueError(f"lr_schedule: unknown schedule {schedule!r}")


def decays(schedule: str) -> bool:
    """Whether a schedule ends below where it runs, so that a rung's figure needs its decay to be comparable."""
    learning_rate(schedule, 1.0, 0, 1)
    return schedule != "constant"


def decay_steps(rung_steps: int, fraction: float = DECAY_FRACTION) -> int:
    """Steps of the measuring decay at a rung of `rung_steps` steps: `fraction` of them, at least one."""
    return max(1, round(fraction * rung_steps))


def decay_learning_rate(schedule: str, base_lr: float, step: int, total_steps: int, decay_step: int,
                        n_decay_steps: int) -> float:
    """The rate of the measuring decay branched off at `step` of a schedule over `total_steps`: from the schedule's
    rate there, linearly down to its final rate, reached at the last of n_decay_steps (a warmup-stable-decay
    cooldown, Hägele et al. 2024), so that the measured network has annealed as the full training will."""
    start = learning_rate(schedule, base_lr, step, total_steps)
    end = learning_rate(schedule, base_lr, total_steps, total_steps)
    return start + (end - start) * (decay_step + 1) / n_decay_steps
