"""A trained network with everything needed to use it without the dataset (model.pt): images in [0, 1] in, class
probabilities out."""
from __future__ import annotations

import json
import zipfile
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from training.augment import channel_stats
from cnn import build_cnn
from training.data import ImageData
from deploy.bundle_format import FORMAT, FORMAT_VERSION, BundleError, check_format
from utils import atomic_torch_save



class InferenceNet(nn.Module):
    """The network as it is used: standardisation, branch averaging and flip test-time augmentation inside, so a
    caller feeds float images in [0, 1] (N, C, H, W) and gets class probabilities."""

    def __init__(self, network: nn.Module, mean: torch.Tensor, std: torch.Tensor, flip_tta: bool):
        super().__init__()
        self.network, self.flip_tta = network, flip_tta
        self.register_buffer("mean", mean.reshape(1, -1, 1, 1).float())
        self.register_buffer("std", std.reshape(1, -1, 1, 1).float())

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images - self.mean) / self.std
        if not self.flip_tta:
            return self.network(x).softmax(-1)
        both = self.network(torch.cat([x, x.flip(-1)]))  # one pass over both views: the graph holds the net once
        return both.reshape(2, -1, both.shape[-1]).mean(0).softmax(-1)


@dataclass
class Bundle:
    """What model.pt holds: plain types and tensors only, so that torch.load(weights_only=True) reads it."""

    config: dict[str, Any]
    classes: list[str]
    input_shape: tuple[int, int, int]
    mean: list[float]  # per channel, of the [0, 1] training images (0 and 1 when the network is not standardised)
    std: list[float]
    flip_tta: bool
    state_dict: dict[str, torch.Tensor]
    training: dict[str, Any] = field(default_factory=dict)  # epochs, seed, data: how the weights were made

    @classmethod
    def from_training(cls, config: dict[str, Any], train: ImageData, state_dict: dict[str, torch.Tensor],
                      training: dict[str, Any]) -> Bundle:
        """The bundle of a network trained on all of `train` (its statistics are the ones training used)."""
        channels = train.input_shape[0]
        if config["standardize"]:
            mean, std = (t.flatten().tolist() for t in channel_stats(train.images.float().div(255)))
        else:
            mean, std = [0.0] * channels, [1.0] * channels
        weights = {key: value.detach().cpu().contiguous() for key, value in state_dict.items()}
        return cls(json.loads(json.dumps(config)), list(train.classes), tuple(train.input_shape), mean, std,
                   bool(config["random_flip"]), weights, training)

    def network(self) -> InferenceNet:
        model = build_cnn(self.config, self.input_shape, len(self.classes))
        model.load_state_dict(self.state_dict)
        return InferenceNet(model, torch.tensor(self.mean), torch.tensor(self.std), self.flip_tta).eval()

    def save(self, path: Path) -> None:
        payload = {"format": FORMAT, "format_version": FORMAT_VERSION, **asdict(self)}
        payload["input_shape"] = list(self.input_shape)
        atomic_torch_save(payload, path)

    @classmethod
    def load(cls, path: Path) -> Bundle:
        """A model.pt of this project; anything else is a BundleError saying what the file is."""
        path = Path(path)
        if not path.is_file():
            raise BundleError(f"{path}: no such file")
        payload = _read_torch(path)
        check_format(payload, path)
        fields = {name: payload[name] for name in cls.__dataclass_fields__}
        fields["input_shape"] = tuple(fields["input_shape"])
        return cls(**fields)

    @cached_property
    def inference_net(self) -> InferenceNet:
        return self.network()

    @torch.inference_mode()
    def probabilities(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities (N, classes) of float32 images in [0, 1] (N, C, H, W)."""
        net = self.inference_net
        chunks = [net(torch.from_numpy(np.ascontiguousarray(images[i:i + batch_size], dtype=np.float32))).numpy()
                  for i in range(0, len(images), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0, len(self.classes)), np.float32)


def _read_torch(path: Path) -> dict[str, Any]:
    """The dict a torch file holds, read without running code from it."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many kinds of error for a file it cannot read
        kind = "a PyTorch file with objects other than tensors" if zipfile.is_zipfile(path) else "not a PyTorch file"
        raise BundleError(f"{path}: not a model written by this project's main.py --save ({kind}: "
                          f"{str(error).splitlines()[0][:100]})") from error
    if not isinstance(payload, dict):
        raise BundleError(f"{path}: not a model written by this project's main.py --save "
                          f"(a PyTorch file holding a {type(payload).__name__})")
    return payload
