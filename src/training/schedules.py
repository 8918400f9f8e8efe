"""Learning-rate schedules as pure functions of training progress, laid over the maximal budget."""
from __future__ import annotations

import math

ONE_CYCLE_WARMUP = 0.3
ONE_CYCLE_START_DIVISOR = 25.0
ONE_CYCLE_END_DIVISOR = 1e4


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
