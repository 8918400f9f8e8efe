"""Seconds per training epoch on 680 images: our target vs a plain ImageFolder + DataLoader pipeline, and
the memory layout our target chooses against both layouts.

All train the same network with the same optimizer on fold 0's training part of train/ (680 images); the
runs are interleaved so that machine noise hits them alike, and the ratios come from this one run. The first
table times three named networks, ours in the layout memory_format_for chooses; the second times
--samples configurations drawn from the search space (at most --max_macs multiply-accumulates per image, so
that it takes minutes) in both layouts, and says how much slower than the faster layout each rule is.
Usage: python bench/bench_target.py [--data_dir micro17flower] [--repeats 3] [--samples 12] [--max_macs 1e8]
       [--seed 0]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from cnn import build_cnn  # noqa: E402
from training.data import load_split  # noqa: E402
from prepare_data import DEFAULT_DATA_DIR, ensure_data  # noqa: E402
from budget.closed_forms import conv_widths, count_macs  # noqa: E402
from search.space import build_space, load_config, to_dict  # noqa: E402
from training.fold_run import FoldRun, memory_format_for  # noqa: E402
from target import cv_splits  # noqa: E402

LAYOUTS = {"channels_last": torch.channels_last, "contiguous": torch.contiguous_format}

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


def epoch_seconds(pipelines: dict, repeats: int) -> dict[str, float]:
    """Median seconds per epoch of each pipeline (a callable training one epoch), interleaved, after a warm-up."""
    for epoch in pipelines.values():
        epoch()
    times = {name: [] for name in pipelines}
    for _ in range(repeats):
        for name, epoch in pipelines.items():
            times[name].append(timed(epoch))
    return {name: statistics.median(values) for name, values in times.items()}


def our_epoch(config: dict, x: torch.Tensor, y: torch.Tensor, num_classes: int, layout: torch.memory_format):
    run = FoldRun(config, x, y, num_classes, seed=0, device=torch.device("cpu"), memory_format=layout)
    return lambda: run.train_epoch(10**6)


def chosen_layout(config: dict, num_classes: int) -> str:
    chosen = memory_format_for(config, (3, 16, 16), num_classes)
    return next(name for name, layout in LAYOUTS.items() if layout == chosen)


def named_table(x: torch.Tensor, y: torch.Tensor, train_dir: Path, train_index, num_classes: int,
                repeats: int) -> pd.DataFrame:
    rows = []
    for name, overrides in CONFIGS.items():
        config = load_config(overrides)
        layout = chosen_layout(config, num_classes)
        reference = ReferencePipeline(config, train_dir, train_index, num_classes)
        pipelines = {"reference": reference.epoch,
                     **{lay: our_epoch(config, x, y, num_classes, fmt) for lay, fmt in LAYOUTS.items()}}
        seconds = epoch_seconds(pipelines, repeats)
        other = next(lay for lay in LAYOUTS if lay != layout)
        rows.append({"config": name, "layout": layout, "ours_s": seconds[layout], "reference_s": seconds["reference"],
                     "speed_up": seconds["reference"] / seconds[layout],
                     "other_layout_ratio": seconds[other] / seconds[layout]})
    return pd.DataFrame(rows)


def sampled_configs(count: int, max_macs: float, num_classes: int, seed: int) -> list[dict]:
    space, configs = build_space(seed=seed), []
    while len(configs) < count:
        config = load_config(to_dict(space.sample_configuration()))
        if count_macs(config, (3, 16, 16), num_classes) <= max_macs and config["batch_size"] >= 16:
            configs.append(config)
    return configs


def layout_table(x: torch.Tensor, y: torch.Tensor, num_classes: int, args: argparse.Namespace) -> pd.DataFrame:
    rows = []
    for config in sampled_configs(args.samples, args.max_macs, num_classes, args.seed):
        seconds = epoch_seconds({lay: our_epoch(config, x, y, num_classes, fmt) for lay, fmt in LAYOUTS.items()},
                                args.repeats)
        best, chosen = min(seconds.values()), chosen_layout(config, num_classes)
        rows.append({"macs_M": count_macs(config, (3, 16, 16), num_classes) / 1e6, "widths": conv_widths(config),
                     "BN": config["use_BN"], **{f"{lay}_s": t for lay, t in seconds.items()},
                     "chosen": chosen, "chosen_vs_best": seconds[chosen] / best,
                     "channels_last_vs_best": seconds["channels_last"] / best,
                     "contiguous_vs_best": seconds["contiguous"] / best})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--samples", type=int, default=12)
    parser.add_argument("--max_macs", type=float, default=1e8)
    parser.add_argument("--seed", type=int, default=0)
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
    print("seconds per epoch, ours in the chosen layout against the reference pipeline "
          "(other_layout_ratio: ours in the other layout, relative):")
    print(named_table(x, y, args.data_dir / "train", train_index, train.num_classes, args.repeats)
          .to_string(index=False, float_format="%.4f"))
    table = layout_table(x, y, train.num_classes, args)
    print(f"\n{args.samples} configurations sampled from the search space (seed {args.seed}), seconds per epoch "
          "in each layout and each rule's time relative to the faster layout:")
    print(table.to_string(index=False, float_format="%.3f"))
    print("median / worst, relative to the faster layout:")
    ratios = table[["chosen_vs_best", "channels_last_vs_best", "contiguous_vs_best"]]
    print(pd.DataFrame({"median": ratios.median(), "worst": ratios.max()}).to_string(float_format="%.3f"))


if __name__ == "__main__":
    main()
