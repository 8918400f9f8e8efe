"""The status of an evaluation: one StrEnum for the search, the workers, evaluation and the benchmarks. Run files
and tables hold their plain values ("ok", "failed", …)."""
from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    OK = "ok"
    DIVERGED = "diverged"  # a non-finite training loss
    FAILED = "failed"  # out of memory, or an error inside training
    STOPPED = "stopped"  # cut off by the deadline: it measured nothing
    ABANDONED = "abandoned"  # stopped early as too slow to finish before the deadline: it measured nothing
    CRASHED = "crashed"  # its worker died (killed, out of memory): ranked worst, never continued


class Inherit(StrEnum):
    """What a child takes from its parent's checkpoint (nothing, by default)."""

    CONTINUE = "continue"  # the same architecture: its training state, continued with the child's hyperparameters
    TENSORS = "tensors"  # another architecture: the tensors whose name and shape fit; training starts at epoch 0
