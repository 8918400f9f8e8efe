"""A cheap stand-in for the target: accuracy is a smooth function of the configuration and the budget."""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from budget.closed_forms import Costs, Work, count_macs, count_parameters, count_work, network_costs
from target import TargetResult

SHAPE, CLASSES = (3, 16, 16), 17


class FakeTarget:
    """Three folds; a checkpoint holds the epoch and the number of folds trained; folds it lacks start at 0."""

    n_folds = 3

    def __init__(self, seconds_per_epoch: float = 0.0, images_per_fold_epoch: float = 453.0):
        self.seconds_per_epoch, self.images_per_fold_epoch = seconds_per_epoch, images_per_fold_epoch
        self.calls: list[tuple[dict, int, Path | None]] = []

    def model_size(self, config) -> int:
        return count_parameters(config, SHAPE, CLASSES)

    def model_macs(self, config) -> int:
        return count_macs(config, SHAPE, CLASSES)

    def model_costs(self, config) -> Costs:
        return network_costs(config, SHAPE, CLASSES)

    def model_work(self, config) -> Work:
        return count_work(config, SHAPE, CLASSES)

    def _seconds(self, fold_epochs: int) -> float:
        """Reported, not measured, so that runs compared in tests rank ties the same way."""
        return max(self.seconds_per_epoch, 1e-3) * max(fold_epochs, 1)

    def __call__(self, config, budget, *, folds=None, checkpoint_in=None, checkpoint_out=None, deadline=None,
                 inherit=None):
        self.calls.append((config, budget, checkpoint_in))
        folds = folds or self.n_folds
        start_epoch, kept = json.loads(checkpoint_in.read_text()) if checkpoint_in is not None else (0, 0)
        if inherit == "tensors":  # the parent's weights, but training starts at epoch 0
            start_epoch, kept = 0, 0
        epoch, status = start_epoch, "ok"
        while epoch < budget:
            if deadline is not None and time.monotonic() >= deadline:
                status = "stopped"
                break
            time.sleep(self.seconds_per_epoch)
            epoch += 1
        if checkpoint_out is not None and status == "ok":
            Path(checkpoint_out).parent.mkdir(parents=True, exist_ok=True)
            Path(checkpoint_out).write_text(json.dumps([epoch, folds]))
        fold_epochs = kept * (epoch - start_epoch) + (folds - kept) * epoch
        learning = 1 - math.exp(-epoch / 10)
        accuracy = math.exp(-abs(math.log10(config["learning_rate_init"]) + 2.5)) * learning * 0.95 + 0.05
        # top-1 prefers another learning rate, so that the two objectives rank configurations differently
        top1 = math.exp(-abs(math.log10(config["learning_rate_init"]) + 1.5)) * learning * 0.8 + 0.05
        fold = {"top3_accuracy": accuracy, "precision": accuracy / 2, "top1_accuracy": top1}
        return TargetResult(top3_accuracy=accuracy, precision=accuracy / 2, model_size=self.model_size(config),
                            epochs=epoch, fold_epochs=fold_epochs, train_seconds=self._seconds(fold_epochs),
                            status=status, folds=[fold] * folds, top1_accuracy=top1)


class SecondPerEpoch:
    """A cost model that predicts one second per epoch of all folds (a third per fold-epoch) for every network
    and learns nothing."""

    def observe(self, *args) -> None:
        pass

    def seconds(self, work, images_seen: int, batch_size: int, evaluations: float = 1.0) -> float:
        return images_seen / (FakeTarget.n_folds * FakeTarget().images_per_fold_epoch)
