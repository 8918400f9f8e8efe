"""Input standardization and batch augmentation on the training device (no per-image Python loops)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std of float images (N, C, H, W), shaped (1, C, 1, 1)."""
    mean = images.mean(dim=(0, 2, 3), keepdim=True)
    std = images.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    return mean, std


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image horizontally with probability 1/2."""
    mask = torch.rand(images.shape[0], generator=generator) < 0.5
    mask = mask.to(images.device).view(-1, 1, 1, 1)
    return torch.where(mask, images.flip(-1), images)


def random_crop(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by `padding` and cut each image back to its size at a random offset (torchvision RandomCrop)."""
    n, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator).to(images.device)
    rows = (torch.arange(h, device=images.device)[None] + dy[:, None]).view(n, 1, h, 1)
    padded = padded.gather(2, rows.expand(n, c, h, w + 2 * padding))
    cols = (torch.arange(w, device=images.device)[None] + dx[:, None]).view(n, 1, 1, w)
    return padded.gather(3, cols.expand(n, c, h, w))


def augment(images: torch.Tensor, flip: bool, crop_padding: int, generator: torch.Generator) -> torch.Tensor:
    if flip:
        images = random_flip(images, generator)
    if crop_padding > 0:
        images = random_crop(images, crop_padding, generator)
    return images
