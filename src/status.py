"""The status of an evaluation and the other named choices (modes, algorithms, runtimes): StrEnums for the search,
the workers, evaluation and the benchmarks. Run files, tables and model cards hold their plain values ("ok",
"failed", …)."""
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


class Mode(StrEnum):
    """What a target measures on: 3-fold cross-validation on train/, or train/ then test/."""

    CV = "cv"
    TEST = "test"


class Algorithm(StrEnum):
    """The optimizer a run uses, as its settings record it."""

    EA = "ea"  # AutoML.py: the evolution (with or without Hyperband)
    RANDOM = "random"  # AutoML_random_search.py


class Runtime(StrEnum):
    """Where a saved network runs, as its model card names it."""

    TORCH = "torch fp32"
    ONNX = "onnxruntime fp32"
    ONNX_INT8 = "onnxruntime int8"
