"""One network's training on one fold (FoldRun): model, optimizer, schedule and RNG states, trained an epoch at a
time on batches of the whole dataset held as one tensor, saved and restored whole; what the target function runs."""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch
from torch import nn

from training.augment import augment, channel_stats
from cnn import branch_logits, build_cnn
from budget.closed_forms import branches, count_macs
from training.schedules import DECAY_FRACTION, decay_learning_rate, decay_steps, learning_rate

EVAL_BATCH = 1024
SGD_MOMENTUM = 0.9
CHANNELS_LAST_MAX_MACS = 80e6  # wider networks (multiply-accumulates per image) train in the default layout


class TrainingDiverged(RuntimeError):
    pass


def memory_format_for(config: Mapping[str, Any], input_shape: tuple[int, int, int],
                      num_classes: int) -> torch.memory_format:
    """Channels-last up to CHANNELS_LAST_MAX_MACS per branch: on the CPU, bench/bench_target.py's small and tiny
    networks train a quarter to a third faster in it, and its widest (the default configuration among them)
    10-28 % slower; among other small networks either layout may win."""
    small = count_macs(config, input_shape, num_classes) / branches(config) <= CHANNELS_LAST_MAX_MACS
    return torch.channels_last if small else torch.contiguous_format


def make_optimizer(config: Mapping[str, Any], model: nn.Module) -> torch.optim.Optimizer:
    lr, wd = float(config["learning_rate_init"]), float(config["weight_decay"])
    if config["optimizer"] == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    if config["optimizer"] == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=wd, momentum=SGD_MOMENTUM, nesterov=True)


def branch_loss(loss_fn: nn.Module, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The sum over branches of each branch's mean loss, so that each branch gets exactly the gradient it would
    get trained alone (an ensemble, not one network fitted through its averaged logits)."""
    return loss_fn(logits.flatten(0, 1), labels.repeat(len(logits))) * len(logits)


class FoldRun:
    """Training state of one fold: model, optimizer, RNG states and epoch; saved and restored whole.

    Model and batches share one memory layout, by default the one memory_format_for chooses.
    """

    def __init__(self, config: Mapping[str, Any], x_train: torch.Tensor, y_train: torch.Tensor,
                 num_classes: int, seed: int, device: torch.device,
                 memory_format: torch.memory_format | None = None):
        self.config, self.device = config, device
        if memory_format is None:
            memory_format = memory_format_for(config, tuple(x_train.shape[1:]), num_classes)
        self.memory_format = memory_format
        self.x, self.y = x_train, y_train
        self.mean, self.std = channel_stats(x_train) if config["standardize"] else (None, None)
        with torch.random.fork_rng(devices=self._rng_devices()):
            torch.manual_seed(seed)
            model = build_cnn(config, tuple(x_train.shape[1:]), num_classes)
            self.model = model.to(device, memory_format=self.memory_format)
            self.rng_state = self._get_rng()
        self.optimizer = make_optimizer(config, self.model)
        self.generator = torch.Generator().manual_seed(seed)
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=float(config["label_smoothing"]))
        self.epoch = 0

    def _rng_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def _get_rng(self) -> dict[str, torch.Tensor]:
        state = {"cpu": torch.get_rng_state()}
        if self.device.type == "cuda":
            state["cuda"] = torch.cuda.get_rng_state(self.device)
        return state

    def _set_rng(self, state: Mapping[str, torch.Tensor]) -> None:
        torch.set_rng_state(state["cpu"])
        if self.device.type == "cuda":
            torch.cuda.set_rng_state(state["cuda"], self.device)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        return images if self.mean is None else (images - self.mean) / self.std

    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.y) / int(self.config["batch_size"]))

    def train_epoch(self, total_steps: int) -> None:
        """One pass over the training part in shuffled batches, its schedule laid over total_steps; raises
        TrainingDiverged on a non-finite loss."""
        schedule, base = self.config["lr_schedule"], float(self.config["learning_rate_init"])
        first = self.epoch * self.steps_per_epoch()
        _, loss_sum = self._pass(lambda i: learning_rate(schedule, base, first + i, total_steps),
                                 self.steps_per_epoch())
        self.epoch += 1
        if not torch.isfinite(loss_sum):
            raise TrainingDiverged(f"non-finite training loss in epoch {self.epoch}")

    def train_decay(self, total_steps: int, n_steps: int) -> None:
        """The measuring decay from this point of the schedule (schedules.decay_learning_rate): n_steps more steps
        over as many shuffled passes as they take; the epoch count stays; raises TrainingDiverged."""
        schedule, base = self.config["lr_schedule"], float(self.config["learning_rate_init"])
        at, done = self.epoch * self.steps_per_epoch(), 0
        while done < n_steps:
            steps, loss_sum = self._pass(
                lambda i, offset=done: decay_learning_rate(schedule, base, at, total_steps, offset + i, n_steps),
                n_steps - done)
            if not torch.isfinite(loss_sum):
                raise TrainingDiverged(f"non-finite training loss in the measuring decay after epoch {self.epoch}")
            if steps == 0:
                break
            done += steps

    @contextmanager
    def decayed(self, total_steps: int, fraction: float = DECAY_FRACTION) -> Iterator[float]:
        """This run as a rung below the full budget measures it: the schedule's decay (`fraction` of the steps
        trained so far) trained on a branch; yields the epochs the decay trained. On exit the state before it is put
        back whole, so the member continues from its undecayed state."""
        saved = copy.deepcopy(self.state_dict())
        n_steps = decay_steps(self.epoch * self.steps_per_epoch(), fraction)
        try:
            self.train_decay(total_steps, n_steps)
            yield n_steps / self.steps_per_epoch()
        finally:
            self.load_state_dict(saved)

    def _pass(self, rate: Callable[[int], float], limit: int) -> tuple[int, torch.Tensor]:
        """One shuffled pass over the training part, at most `limit` optimizer steps, the i-th at rate(i); returns the
        steps taken and their summed loss."""
        batch, steps = int(self.config["batch_size"]), 0
        self.model.train()
        order = torch.randperm(len(self.y), generator=self.generator).to(self.device)
        loss_sum = torch.zeros((), device=self.device)
        with torch.random.fork_rng(devices=self._rng_devices()):
            self._set_rng(self.rng_state)
            for start in range(0, len(order), batch):
                index = order[start:start + batch]
                if steps == limit:
                    break
                if len(index) < 2:
                    continue
                loss_sum += self._step(index, rate(steps))
                steps += 1
            self.rng_state = self._get_rng()
        return steps, loss_sum

    def _step(self, index: torch.Tensor, lr: float) -> torch.Tensor:
        """One optimizer step on the augmented batch `index` at learning rate lr; returns its loss."""
        cfg = self.config
        x = augment(self.normalize(self.x[index]), cfg["random_flip"], int(cfg["crop_padding"]), self.generator)
        x = x.contiguous(memory_format=self.memory_format)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = branch_loss(self.loss_fn, branch_logits(self.model, x), self.y[index])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    @torch.no_grad()
    def scores(self, images: torch.Tensor, flip_tta: bool = True) -> np.ndarray:
        """Logits; a network trained on flipped images also sees each image flipped and the logits are averaged
        (test-time augmentation, measured in bench/bench_tta.py), unless flip_tta is False."""
        self.model.eval()
        chunks = [self._logits(images[i:i + EVAL_BATCH], flip_tta) for i in range(0, len(images), EVAL_BATCH)]
        return torch.cat(chunks).float().cpu().numpy()

    def _logits(self, images: torch.Tensor, flip_tta: bool) -> torch.Tensor:
        x = self.normalize(images).contiguous(memory_format=self.memory_format)
        if not (flip_tta and self.config["random_flip"]):
            return self.model(x)
        return (self.model(x) + self.model(x.flip(-1))) / 2

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "generator": self.generator.get_state(), "rng": self.rng_state, "epoch": self.epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.rng_state, self.epoch = state["rng"], int(state["epoch"])

    def continue_from(self, state: Mapping[str, Any], same_optimizer: bool) -> None:
        """A parent's training state, continued under this run's hyperparameters (population-based training's
        exploit, then explore): weights, epoch and random streams; the optimizer's moments only when it is the same
        optimizer, with this configuration's weight decay (the learning rate is set at every step)."""
        self.model.load_state_dict(state["model"])
        if same_optimizer:
            self.optimizer.load_state_dict(state["optimizer"])
            for group in self.optimizer.param_groups:
                group["weight_decay"] = float(self.config["weight_decay"])
        self.generator.set_state(state["generator"])
        self.rng_state, self.epoch = state["rng"], int(state["epoch"])

    def take_fitting(self, model_state: Mapping[str, torch.Tensor]) -> list[str]:
        """The parent's tensors whose name and shape fit this network (the others keep their initialisation);
        returns the names taken."""
        own = self.model.state_dict()
        taken = [name for name, tensor in model_state.items() if name in own and own[name].shape == tensor.shape]
        self.model.load_state_dict({**own, **{name: model_state[name] for name in taken}})
        return taken
