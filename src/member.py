"""An individual of the search: its configuration, where it came from, its results per budget and its checkpoint."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from status import Status

PORTFOLIO, DEFAULT, RANDOM, CHILD = "portfolio", "default", "random", "child"  # kinds of origin


def cost_epochs(result: Mapping[str, Any]) -> float:
    """Fold-epochs an evaluation trained in all, its measuring decays included (runs recorded before them have
    none)."""
    return float(result["fold_epochs"]) + float(result.get("measure_epochs", 0.0))


def portfolio_origin(index: int) -> dict[str, Any]:
    """A warm-start configuration: member `index` of search.space.PORTFOLIO (repaired into the constraints)."""
    return {"kind": PORTFOLIO, "portfolio_member": index}


def default_origin() -> dict[str, Any]:
    return {"kind": DEFAULT}


def random_origin() -> dict[str, Any]:
    return {"kind": RANDOM}


def origin_label(origin: dict[str, Any] | None) -> str:
    """A short text for tables and summaries: 'portfolio 2', 'default', 'random', 'child of 4 × 7, generation 2'."""
    if not origin:
        return "not recorded"
    kind = origin["kind"]
    if kind == PORTFOLIO:
        return f"portfolio {origin['portfolio_member']}"
    if kind == CHILD:
        return (f"child of {' × '.join(map(str, origin['parents']))}, generation {origin['generation']}"
                + inherited_label(origin.get("inherited")))
    return kind


def inherited_label(inherited: dict[str, Any] | None) -> str:
    """What a child started from: ', continuing 4 at 6 epochs' or ', with the tensors of 4 at 6 epochs'."""
    if not inherited:
        return ""
    how = "continuing" if inherited["how"] == "continue" else "with the tensors of"
    return f", {how} {inherited['member']} at {inherited['budget']} epochs"


def answer_origin(origin: dict[str, Any] | None) -> str:
    """origin_label, saying whether the search found it: a warm-start configuration was given, not found."""
    if origin and origin["kind"] in (PORTFOLIO, DEFAULT):
        return f"{origin_label(origin)}: a warm-start configuration, not found by the search"
    return origin_label(origin)


@dataclass
class Member:
    """One configuration and what training it has shown; results are keyed by budget (epochs)."""

    id: int
    config: dict[str, Any]
    model_size: int
    origin: dict[str, Any] = field(default_factory=random_origin)
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    checkpoint: Path | None = None  # training state at the highest budget reached

    @classmethod
    def child(cls, id: int, config: dict[str, Any], model_size: int, parents: Sequence[Member]) -> Member:
        """A bred member: its parents' ids and its generation (one more than its youngest parent's)."""
        generation = 1 + max(parent.generation for parent in parents)
        return cls(id, config, model_size, {"kind": CHILD, "parents": [p.id for p in parents],
                                            "generation": generation})

    @property
    def parents(self) -> tuple[int, ...]:
        return tuple(self.origin.get("parents", ()))

    @property
    def generation(self) -> int:
        """0 for members that were not bred."""
        return int(self.origin.get("generation", 0))

    @property
    def budget(self) -> int:
        """The highest budget at which it was evaluated (0 if never)."""
        return max(self.results, default=0)

    @property
    def result(self) -> dict[str, Any] | None:
        """The result at the highest budget: what the member is judged by."""
        return self.results.get(self.budget)

    @property
    def folds(self) -> int:
        """Folds its checkpoint holds (those measured at its highest budget; 0 if never evaluated)."""
        return len(self.result["folds"]) if self.result else 0

    @property
    def seconds_per_fold_epoch(self) -> float | None:
        """Training seconds per fold-epoch of its successful evaluations (None before one)."""
        done = [r for r in self.results.values() if r.get("status") == Status.OK and r.get("fold_epochs")]
        if not done:
            return None
        return sum(float(r["train_seconds"]) for r in done) / sum(cost_epochs(r) for r in done)

    def record(self, budget: int, result: dict[str, Any], checkpoint: Path | None) -> None:
        """Keep a result; an abandoned or stopped job leaves the member as it was (judged by its earlier results)."""
        if result.get("status") in (Status.ABANDONED, Status.STOPPED):
            return
        self.results[budget] = result
        if result.get("status") == Status.OK:
            self.checkpoint = checkpoint
