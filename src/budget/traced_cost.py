"""What one image costs the real network, measured on the module (the check of closed_forms.py's closed forms):
multiply-accumulates counted by torch's FLOP counter, and the peak of activation memory traced op by op."""
from __future__ import annotations

import weakref
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode


def counted_macs(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Multiply-accumulates of one image's forward pass (torch counts a multiply-accumulate as 2 FLOPs)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model.eval()(torch.rand(1, *input_shape))
    return counter.get_total_flops() // 2


class _LiveTensors(TorchDispatchMode):
    """Follows every storage an operation creates until it is freed; the parameters' storages are not activations."""

    def __init__(self, ignore: set[int]):
        super().__init__()
        self.ignore, self.live, self.now, self.peak = ignore, {}, 0, 0

    def track(self, value: Any) -> None:
        if not isinstance(value, torch.Tensor):
            return
        storage = value.untyped_storage()
        key = storage.data_ptr()
        if key in self.live or key in self.ignore or storage.nbytes() == 0:
            return
        self.live[key] = storage.nbytes()
        self.now += storage.nbytes()
        self.peak = max(self.peak, self.now)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.now -= self.live.pop(key, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        tree_map(self.track, out)
        return out


def measured_peak_bytes(model: nn.Module, input_shape: tuple[int, int, int]) -> int:
    """Most bytes of tensors alive at once during one image's forward pass in eval mode, the input included."""
    model.eval()
    weights = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()]}
    image = torch.rand(1, *input_shape)
    with torch.no_grad(), _LiveTensors(weights) as live:
        live.track(image)
        model(image)
    return live.peak
