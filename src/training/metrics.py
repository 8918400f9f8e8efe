"""The metrics of a model on a set of images: one function, used by the search and by evaluation."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, precision_score, top_k_accuracy_score

TOP_K = 3
OBJECTIVES = {"top3": "top3_accuracy", "top1": "top1_accuracy"}  # --objective: the accuracy a search maximises
DEFAULT_OBJECTIVE = "top3"
DEFAULT_METRIC = OBJECTIVES[DEFAULT_OBJECTIVE]  # the result key ranked by when no objective is given


def objective_key(objective: str | None) -> str:
    """The result key of an objective (runs recorded before --objective maximised top-3 accuracy)."""
    return OBJECTIVES[objective or DEFAULT_OBJECTIVE]


def objective_k(objective: str | None) -> int:
    """The k of an objective's top-k accuracy."""
    return int((objective or DEFAULT_OBJECTIVE).removeprefix("top"))


def objective_label(objective: str | None) -> str:
    """'top-3 accuracy' or 'top-1 accuracy', for summaries, tables and axes."""
    return f"top-{objective_k(objective)} accuracy"


def chance_top3(num_classes: int) -> float:
    return min(TOP_K, num_classes) / num_classes


def top1_hits(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image: is the true class the highest score."""
    return scores.argmax(axis=1) == np.asarray(labels)


def top3_hits(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per image: is the true class among the three highest scores (all of them with three classes or fewer)."""
    top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP_K]
    return (top == np.asarray(labels)[:, None]).any(axis=1)


def compute_metrics(scores: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
    """top1_accuracy, top3_accuracy and macro precision over the whole set (not per batch), the confusion
    matrix, and the per-image top-3 hits (for paired tests between models)."""
    predictions = scores.argmax(axis=1)
    if num_classes > TOP_K:
        top3 = top_k_accuracy_score(labels, scores, k=TOP_K, labels=np.arange(num_classes))
    else:
        top3 = 1.0
    precision = precision_score(labels, predictions, average="macro", zero_division=0)
    confusion = confusion_matrix(labels, predictions, labels=np.arange(num_classes))
    return {"top1_accuracy": float(accuracy_score(labels, predictions)),
            "top3_accuracy": float(top3), "precision": float(precision), "confusion": confusion,
            "top3_hits": top3_hits(scores, labels), "top1_hits": top1_hits(scores, labels)}
