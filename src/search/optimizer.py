"""What every ask/tell optimizer shares: the Job it hands out, its members and their creation within the
constraints, and the bookkeeping of jobs and checkpoints.

`ask()` returns the next Job (member, configuration, budget, folds, checkpoints); `tell(job, result)` records one.
Whoever runs the jobs (one process, or many workers) only talks to this interface, and the same algorithm runs
on one worker and on many.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from ConfigSpace import ConfigurationSpace

from member import Member, random_origin
from training.metrics import DEFAULT_METRIC
from search.repair import Fit
from status import Inherit
from search.successive_halving import Fidelity
from search.variation import sample
from training.schedules import decays

SizeOf = Callable[[dict], int]
JobSeconds = Callable[[Member, float], float]  # predicted seconds of training member for so many fold-epochs
Start = tuple[dict, dict]  # a warm-start configuration and its origin


@dataclass
class Job:
    """One evaluation to run: train `member.config` to `budget` epochs on `folds` folds, continuing from
    checkpoint_in; fold_epochs is what it trains to reach the budget, measure_epochs what its measuring decays train
    (cost_epochs: both, what it costs)."""

    id: int
    member: Member
    budget: int
    folds: int
    fold_epochs: int
    checkpoint_in: Path | None
    checkpoint_out: Path | None
    rung: int
    inherit: Inherit | None = None  # checkpoint_in is a parent's: what the child takes from it
    measure_epochs: float = 0.0

    @property
    def cost_epochs(self) -> float:
        """Fold-epochs the job trains in all: what it costs."""
        return self.fold_epochs + self.measure_epochs

    @property
    def config(self) -> dict[str, Any]:
        return self.member.config


class OptimizerBase:
    """What every optimizer shares: members, their creation within the constraints, job bookkeeping."""

    def __init__(self, space: ConfigurationSpace, fit: Fit, size_of: SizeOf, min_precision: float,
                 max_budget: int, seed: int, checkpoint_dir: Path | None, initial: Sequence[Start] = (),
                 metric: str = DEFAULT_METRIC):
        self.space, self.fit, self.size_of, self.metric = space, fit, size_of, metric
        self.min_precision, self.max_budget = min_precision, int(max_budget)
        self.fidelity = Fidelity(self.max_budget)
        self.rng = np.random.default_rng(seed)
        self.checkpoint_dir = checkpoint_dir
        self.members: dict[int, Member] = {}
        self.initial = deque(initial)
        self.n_jobs = 0
        self.stale: list[Path] = []
        self.reading: dict[int, Path] = {}  # the checkpoint each asked job starts from, until it is told

    def _member(self, config: dict, origin: dict) -> Member:
        member = Member(id=len(self.members), config=config, model_size=self.size_of(config), origin=origin)
        self.members[member.id] = member
        return member

    def _started_member(self) -> Member:
        """The next warm-start configuration, else a random one."""
        if self.initial:
            return self._member(*self.initial.popleft())
        return self._member(self.fit(sample(self.space, self.rng), self.rng), random_origin())

    def _job(self, member: Member, budget: int, rung: int, parent: Member | None = None,
             inherit: Inherit | None = None) -> Job:
        """Train member to budget: from its own checkpoint when it has one, else from its parent's (`inherit`),
        else from scratch."""
        out = None
        if self.checkpoint_dir is not None and budget < self.max_budget:
            out = self.checkpoint_dir / f"member_{member.id}_budget_{budget}.pt"
        if parent is None:
            start = member.checkpoint if self._continues(member, budget) else None
            fold_epochs = self._fold_epochs(member, budget)
        else:
            start = parent.checkpoint
            fold_epochs = self.fidelity.fold_epochs(budget, *((parent.budget, parent.folds)
                                                              if inherit == Inherit.CONTINUE else ()))
        job = Job(self.n_jobs, member, budget, self.fidelity.folds(budget), fold_epochs, start, out, rung, inherit,
                  self.measure_epochs(member, budget))
        if start is not None:
            self.reading[job.id] = start
        self.n_jobs += 1
        return job

    def _continues(self, member: Member, budget: int) -> bool:
        """Whether member's job to budget continues its checkpoint. A member that inherited is trained from scratch
        at max_budget, the only budget whose result may become the answer: the answer's figure is then what its
        configuration reaches alone, as main.py -t retrains it, not a parent's training continued."""
        if budget >= self.max_budget and member.origin.get("inherited"):
            return False
        return member.checkpoint is not None and member.budget < budget

    def _fold_epochs(self, member: Member, budget: int) -> int:
        """What training member to budget costs: from its checkpoint when it has one, else from the start."""
        if self._continues(member, budget):
            return self.fidelity.fold_epochs(budget, member.budget, member.folds)
        return self.fidelity.fold_epochs(budget)

    def measure_epochs(self, member: Member, budget: int) -> float:
        """Fold-epochs member's measuring decays train at budget."""
        return self.fidelity.measure_epochs(budget, decays(member.config["lr_schedule"]))

    def tell(self, job: Job, result: Mapping[str, Any]) -> None:
        self.reading.pop(job.id, None)
        previous = job.member.checkpoint
        job.member.record(job.budget, dict(result), job.checkpoint_out)
        if previous is not None and previous != job.member.checkpoint:
            self.stale.append(previous)

    def _retire(self, member: Member) -> None:
        """The member will not be trained further: its checkpoint is no longer needed."""
        if member.checkpoint is not None:
            self.stale.append(member.checkpoint)
            member.checkpoint = None

    def obsolete_checkpoints(self) -> list[Path]:
        """Checkpoints no member holds and no asked job still reads (the driver deletes them unless asked to keep
        them): a parent's checkpoint outlives the parent's promotion while a child inheriting it trains."""
        read = set(self.reading.values())
        paths = [path for path in self.stale if path not in read]
        self.stale = [path for path in self.stale if path in read]
        return paths
