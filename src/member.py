"""An individual of the search: its configuration, its results per budget, its lineage and checkpoint."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

OK = "ok"
ABANDONED = "abandoned"  # stopped early as too slow to finish before the deadline: it measured nothing
CRASHED = "crashed"  # its worker died (killed, out of memory): ranked worst, never continued
STOPPED = "stopped"  # cut off by the deadline: it measured nothing


@dataclass
class Member:
    """One configuration and what training it has shown; results are keyed by budget (epochs)."""

    id: int
    config: dict[str, Any]
    model_size: int
    parents: tuple[int, ...] = ()
    born: int = 0  # bracket (or generation) in which it was created; age = current bracket - born
    results: dict[int, dict[str, Any]] = field(default_factory=dict)
    checkpoint: Path | None = None  # training state at the highest budget reached

    @property
    def budget(self) -> int:
        """The highest budget at which it was evaluated (0 if never)."""
        return max(self.results, default=0)

    @property
    def result(self) -> dict[str, Any] | None:
        """The result at the highest budget: what the member is judged by."""
        return self.results.get(self.budget)

    @property
    def seconds_per_epoch(self) -> float | None:
        """Training seconds per epoch of budget so far (None before a successful evaluation)."""
        done = [r for r in self.results.values() if r.get("status") == OK]
        if not done:
            return None
        return sum(float(r.get("train_seconds", 0.0)) for r in done) / self.budget

    def age(self, now: int) -> int:
        return now - self.born

    def record(self, budget: int, result: dict[str, Any], checkpoint: Path | None) -> None:
        """Keep a result; an abandoned or stopped job leaves the member as it was (judged by its earlier results)."""
        if result.get("status") in (ABANDONED, STOPPED):
            return
        self.results[budget] = result
        if result.get("status") == OK:
            self.checkpoint = checkpoint
