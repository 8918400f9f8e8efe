"""A cheap stand-in for the target: accuracy is a smooth function of the configuration and the budget."""
from __future__ import annotations

import math
import time
from pathlib import Path

from model_size import Work, count_macs, count_parameters, count_work
from target import TargetResult

SHAPE, CLASSES = (3, 16, 16), 17


class FakeTarget:
    def __init__(self, seconds_per_epoch: float = 0.0, images_per_epoch: int = 1360):
        self.seconds_per_epoch, self.images_per_epoch = seconds_per_epoch, images_per_epoch
        self.calls: list[tuple[dict, int, Path | None]] = []

    def model_size(self, config) -> int:
        return count_parameters(config, SHAPE, CLASSES)

    def model_macs(self, config) -> int:
        return count_macs(config, SHAPE, CLASSES)

    def model_work(self, config) -> Work:
        return count_work(config, SHAPE, CLASSES)

    def _seconds(self, epochs: int) -> float:
        """Reported, not measured, so that runs compared in tests rank ties the same way."""
        return max(self.seconds_per_epoch, 1e-3) * max(epochs, 1)

    def __call__(self, config, budget, *, checkpoint_in=None, checkpoint_out=None, deadline=None):
        self.calls.append((config, budget, checkpoint_in))
        start_epoch = int(checkpoint_in.read_text()) if checkpoint_in is not None else 0
        epoch, status = start_epoch, "ok"
        while epoch < budget:
            if deadline is not None and time.monotonic() >= deadline:
                status = "stopped"
                break
            time.sleep(self.seconds_per_epoch)
            epoch += 1
        if checkpoint_out is not None and status == "ok":
            Path(checkpoint_out).parent.mkdir(parents=True, exist_ok=True)
            Path(checkpoint_out).write_text(str(epoch))
        quality = math.exp(-abs(math.log10(config["learning_rate_init"]) + 2.5))
        accuracy = quality * (1 - math.exp(-epoch / 10)) * 0.95 + 0.05
        return TargetResult(top3_accuracy=accuracy, precision=accuracy / 2, model_size=self.model_size(config),
                            epochs=epoch, train_seconds=self._seconds(epoch - start_epoch), status=status)


class SecondPerEpoch:
    """A cost model that predicts one second per epoch for every network and learns nothing."""

    def observe(self, *args) -> None:
        pass

    def seconds(self, work, images_seen: int, batch_size: int, evaluations: float = 1.0) -> float:
        return images_seen / FakeTarget().images_per_epoch
