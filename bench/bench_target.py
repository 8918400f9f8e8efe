"""Seconds per training epoch on 680 images: our target vs a plain ImageFolder + DataLoader pipeline.

Both train the same network with the same optimizer on fold 0's training part of train/ (680 images);
the runs are interleaved so that machine noise hits both alike, and the ratios come from this one run.
Usage: python bench/bench_target.py [--data_dir micro17flower] [--repeats 3]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cnn import build_cnn  # noqa: E402
from data import load_split  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR, ensure_data  # noqa: E402
from search_space import load_config  # noqa: E402
from target import FoldRun, cv_splits  # noqa: E402

CONFIGS = {
    "default": {},
    "small": {"n_conv_layers": 3, "n_channels_conv_0": 32, "n_channels_conv_1": 64, "n_channels_conv_2": 128,
              "kernel_size": 3, "use_BN": True, "n_fc_layers": 1, "n_channels_fc_0": 128},
    "tiny": {"n_conv_layers": 2, "n_channels_conv_0": 16, "n_channels_conv_1": 32, "kernel_size": 3,
             "n_fc_layers": 1, "n_channels_fc_0": 64},
}


class ReferencePipeline:
    """What a newcomer writes: ImageFolder + ToTensor + DataLoader, decoding every image every epoch."""

    def __init__(self, config: dict, train_dir: Path, index, num_classes: int):
        dataset = Subset(datasets.ImageFolder(train_dir, transform=transforms.ToTensor()), list(index))
        self.loader = DataLoader(dataset, batch_size=config["batch_size"], shuffle=True)
        self.model = build_cnn(config, (3, 16, 16), num_classes)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=config["learning_rate_init"])
        self.loss_fn = nn.CrossEntropyLoss()

    def epoch(self) -> None:
        self.model.train()
        for images, labels in self.loader:
            self.optimizer.zero_grad()
            self.loss_fn(self.model(images), labels).backward()
            self.optimizer.step()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    ensure_data(args.data_dir)
    start = time.perf_counter()
    train = load_split(args.data_dir / "train")
    load_seconds = time.perf_counter() - start
    train_index = cv_splits(train.labels.numpy(), seed=0)[0][0]
    x = train.images[train_index].float().div(255)
    y = train.labels[train_index]
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"torch {torch.__version__}; {len(y)} training images; decoding train/ once took {load_seconds:.2f} s")
    print(f"{'config':8s} {'ours s/epoch':>13s} {'reference s/epoch':>18s} {'speed-up':>9s}")
    for name, overrides in CONFIGS.items():
        config = load_config(overrides)
        ours = FoldRun(config, x, y, train.num_classes, seed=0, device=torch.device("cpu"))
        reference = ReferencePipeline(config, args.data_dir / "train", train_index, train.num_classes)
        total_steps = 10**6
        ours.train_epoch(total_steps)
        reference.epoch()
        times_ours, times_ref = [], []
        for _ in range(args.repeats):
            times_ours.append(timed(lambda: ours.train_epoch(total_steps)))
            times_ref.append(timed(reference.epoch))
        a, b = statistics.median(times_ours), statistics.median(times_ref)
        print(f"{name:8s} {a:13.4f} {b:18.4f} {b / a:8.2f}x")


if __name__ == "__main__":
    main()
