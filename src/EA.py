"""Ask/tell optimizers: a constrained evolutionary strategy with Hyperband, and random search.

`ask()` returns the next Job (member, configuration, budget, checkpoints) or None while the current rung
waits for results; `tell(job, result)` records one. Whoever runs the jobs (AutoML.py, or many workers)
only talks to this interface.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
from ConfigSpace import ConfigurationSpace

from asha import Promotion, Rungs
from hyperband import Bracket, BracketManager, bracket_epochs, max_bracket, rung_budgets
from member import ABANDONED, CRASHED, OK, Member
from ranking import positions, rank, rank_at, rank_key
from variation import crossover, mutate, sample, tournament

Fit = Callable[[dict, np.random.Generator], dict]  # repairs a configuration into the constraints
SizeOf = Callable[[dict], int]
EpochSeconds = Callable[[dict], float]  # predicted training seconds per epoch of budget
JobSeconds = Callable[[Member, int, bool], float]  # predicted seconds of member to budget (continued or not)

CROSSOVER_RATE = 0.5
MAX_DUPLICATE_TRIES = 10


@dataclass
class Job:
    """One evaluation to run: train `member.config` to `budget` epochs, continuing from checkpoint_in."""

    id: int
    member: Member
    budget: int
    checkpoint_in: Path | None
    checkpoint_out: Path | None
    bracket: int
    rung: int

    @property
    def config(self) -> dict[str, Any]:
        return self.member.config


class _Optimizer:
    """What every optimizer shares: members, their creation within the constraints, job bookkeeping."""

    def __init__(self, space: ConfigurationSpace, fit: Fit, size_of: SizeOf, min_precision: float,
                 max_budget: int, seed: int, checkpoint_dir: Path | None, initial_configs: list[dict] = ()):
        self.space, self.fit, self.size_of = space, fit, size_of
        self.min_precision, self.max_budget = min_precision, int(max_budget)
        self.rng = np.random.default_rng(seed)
        self.checkpoint_dir = checkpoint_dir
        self.members: dict[int, Member] = {}
        self.initial = deque(initial_configs)
        self.n_jobs = 0
        self.bracket_count = 0
        self.stale: list[Path] = []

    def _member(self, config: dict, parents: tuple[int, ...] = ()) -> Member:
        member = Member(id=len(self.members), config=config, model_size=self.size_of(config), parents=parents,
                        born=self.bracket_count)
        self.members[member.id] = member
        return member

    def _random_member(self) -> Member:
        """The next initial configuration (the default configuration), else a random one."""
        if self.initial:
            return self._member(self.initial.popleft())
        return self._sampled_member()

    def _sampled_member(self) -> Member:
        return self._member(self.fit(sample(self.space, self.rng), self.rng))

    def _bred_member(self, pool: list[Member]) -> Member:
        """A child of tournament winners from pool: crossover (sometimes), then mutation, repaired into the
        constraints; a configuration already tried is bred again, a few times at most."""
        ranks = positions(pool, self.min_precision)
        seen = {tuple(sorted(m.config.items())) for m in self.members.values()}
        for _ in range(MAX_DUPLICATE_TRIES):
            first = pool[tournament(ranks, self.rng)]
            parents: tuple[int, ...] = (first.id,)
            config = first.config
            if self.rng.random() < CROSSOVER_RATE:
                second = pool[tournament(ranks, self.rng)]
                config, parents = crossover(first.config, second.config, self.space, self.rng), (first.id, second.id)
            config = self.fit(mutate(config, self.space, self.rng), self.rng)
            if tuple(sorted(config.items())) not in seen:
                break
        return self._member(config, parents)

    def _job(self, member: Member, budget: int, rung: int) -> Job:
        out = None
        if self.checkpoint_dir is not None and budget < self.max_budget:
            out = self.checkpoint_dir / f"member_{member.id}_budget_{budget}.pt"
        checkpoint_in = member.checkpoint if member.budget and member.budget < budget else None
        job = Job(self.n_jobs, member, budget, checkpoint_in, out, self.bracket_count, rung)
        self.n_jobs += 1
        return job

    def tell(self, job: Job, result: Mapping[str, Any]) -> None:
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
        """Checkpoints no job will continue from (the driver deletes them unless asked to keep them)."""
        paths, self.stale = self.stale, []
        return paths


class RandomSearch(_Optimizer):
    """Random configurations within the constraints, each trained to max_budget: the baseline."""

    def ask(self, seconds_left: float | None = None) -> Job | None:
        self.bracket_count += 1
        return self._job(self._random_member(), self.max_budget, rung=0)


class EvolutionaryHyperband(_Optimizer):
    """(μ + λ) evolution whose children are judged by successive halving (Hyperband) or at max_budget."""

    def __init__(self, space: ConfigurationSpace, fit: Fit, size_of: SizeOf, min_precision: float, *,
                 pop_size: int = 50, num_children: int = 10, hyperband: bool = True, min_budget: float = 1,
                 max_budget: int = 50, eta: float = 3, seed: int = 0, checkpoint_dir: Path | None = None,
                 initial_configs: list[dict] = (), proven_configs: list[dict] = (),
                 epoch_seconds: EpochSeconds | None = None):
        super().__init__(space, fit, size_of, min_precision, max_budget, seed, checkpoint_dir, initial_configs)
        self.proven = deque(proven_configs)
        self.pop_size, self.num_children = pop_size, num_children
        self.epoch_seconds = epoch_seconds
        self.brackets = BracketManager(min_budget, max_budget, eta) if hyperband else None
        self.population: list[Member] = []
        self.bracket: Bracket | None = None
        self.rung = 0
        self.rung_members: list[Member] = []
        self.queue: deque[Member] = deque()
        self.outstanding = 0
        self.bracket_members: list[Member] = []

    def _next_bracket(self, seconds_left: float | None) -> Bracket:
        """With Hyperband, proven configurations open the run straight at max_budget (they need no weeding out,
        and the answer prefers the highest budget), then the cycle of brackets; each bracket fits the time left."""
        if self.brackets is not None:
            def fits(bracket: Bracket) -> bool:
                return seconds_left is None or self._bracket_seconds(bracket) <= seconds_left
            if self.proven and not self.population:
                return self.brackets.straight(len(self.proven), fits)
            return self.brackets.next_bracket(fits)
        size = self.pop_size if not self.population else self.num_children
        return Bracket(index=0, sizes=(size,), budgets=(self.max_budget,))

    def _parent_pool(self) -> list[Member]:
        """Members trained at least to the bracket's first budget, when there are two: as DEHB breeds each budget
        from its own subpopulation, a parent judged after 2 epochs says little about a child starting at 17."""
        pool = [m for m in self.population if m.budget >= self.bracket.budgets[0]]
        return pool if len(pool) >= 2 else self.population

    def _pending_queues(self, bracket: Bracket) -> tuple[deque, ...]:
        """Where the configurations that take the first places of a bracket wait: the proven ones, then the
        initial ones, except in a bracket cut short by the deadline (the default configuration, trained straight
        to max_budget, would take many times the time left)."""
        return (self.proven,) if bracket.cut_short else (self.proven, self.initial)

    def _pending(self, bracket: Bracket) -> list[dict]:
        return [config for queue in self._pending_queues(bracket) for config in queue]

    def _child(self) -> Member:
        """A new member: the pending configurations first; random while there is no population to breed from;
        else bred by tournaments."""
        for queue in self._pending_queues(self.bracket):
            if queue:
                return self._member(queue.popleft())
        if len(self.population) < 2:
            return self._sampled_member()
        return self._bred_member(self._parent_pool())

    def _bracket_seconds(self, bracket: Bracket) -> float:
        """Predicted training time of a bracket. Its first members are the pending configurations (predicted
        cost each); every other member epoch is priced at the median speed of the population (measured) or else
        of the pending configurations (predicted)."""
        measured = [m.seconds_per_epoch for m in self.population if m.seconds_per_epoch]
        pending = [self.epoch_seconds(config) for config in self._pending(bracket)] if self.epoch_seconds else []
        typical = measured or pending
        if not typical:
            return 0.0
        speed = float(np.median(typical))
        known = pending[:bracket.sizes[0]]
        first_rung = bracket.budgets[0] * (sum(known) + speed * (bracket.sizes[0] - len(known)))
        return first_rung + speed * (bracket_epochs(bracket) - bracket.sizes[0] * bracket.budgets[0])

    def _start_bracket(self, seconds_left: float | None) -> None:
        self.bracket_count += 1
        self.bracket = self._next_bracket(seconds_left)
        self.rung = 0
        self.rung_members = [self._child() for _ in range(self.bracket.sizes[0])]
        self.bracket_members = list(self.rung_members)
        self.queue = deque(self.rung_members)

    def ask(self, seconds_left: float | None = None) -> Job | None:
        """The next job; seconds_left (search time left) lets the last bracket fit the deadline."""
        if self.bracket is None:
            self._start_bracket(seconds_left)
        if not self.queue:
            return None
        self.outstanding += 1
        return self._job(self.queue.popleft(), self.bracket.budgets[self.rung], self.rung)

    def tell(self, job: Job, result: Mapping[str, Any]) -> None:
        super().tell(job, result)
        self.outstanding -= 1
        if self.queue or self.outstanding:
            return
        if self.rung + 1 < len(self.bracket.sizes):
            self._promote()
        else:
            self._survive()

    def _promote(self) -> None:
        """The best sizes[rung+1] of this rung continue from their checkpoints to the next budget."""
        ranked = rank_at(self.rung_members, self.bracket.budgets[self.rung], self.min_precision)
        keep = self.bracket.sizes[self.rung + 1]
        survivors = [m for m in ranked[:keep] if m.result is not None and m.result.get("status") == OK]
        for member in ranked[keep:]:
            self._retire(member)
        self.rung += 1
        self.rung_members = survivors or ranked[:1]
        self.queue = deque(self.rung_members)

    def _survive(self) -> None:
        """(μ + λ): the pop_size best of the population and this bracket's members survive."""
        ranked = rank(self.population + self.bracket_members, self.min_precision)
        self.population = ranked[:self.pop_size]
        for member in self.bracket_members:
            self._retire(member)
        self.bracket = None


class AsyncEvolution(_Optimizer):
    """Steady-state evolution with asynchronous successive halving, for many workers: every ask is answered at
    once (no rung waits for stragglers). The proven configurations open the run at max_budget; then a free slot
    promotes the first member in the top 1/eta of a rung (`asha.Rungs`, highest rung first), or else starts a
    new member (the default configuration, random ones, then children of the population) at the lowest budget."""

    def __init__(self, space: ConfigurationSpace, fit: Fit, size_of: SizeOf, min_precision: float, *,
                 pop_size: int = 50, min_budget: float = 1, max_budget: int = 50, eta: float = 3, seed: int = 0,
                 checkpoint_dir: Path | None = None, initial_configs: list[dict] = (),
                 proven_configs: list[dict] = (), job_seconds: JobSeconds | None = None):
        super().__init__(space, fit, size_of, min_precision, max_budget, seed, checkpoint_dir, initial_configs)
        self.proven = deque(proven_configs)
        self.pop_size = pop_size
        self.job_seconds = job_seconds
        s_max = max_bracket(min_budget, max_budget, eta)
        self.rungs = Rungs(rung_budgets(s_max, self.max_budget, eta), eta)
        self.population: list[Member] = []

    def ask(self, seconds_left: float | None = None) -> Job:
        """A job for a free slot, decided now; the member of a promotion is marked at once, so that no two
        slots train it. A promotion predicted to outlast seconds_left is passed over."""
        self.bracket_count += 1
        budgets = self.rungs.budgets

        def in_time(promotion: Promotion) -> bool:
            return (seconds_left is None or self.job_seconds is None
                    or self.job_seconds(self.members[promotion.member], promotion.to_budget, True) <= seconds_left)
        if self.proven:
            return self._job(self._member(self.proven.popleft()), self.max_budget, len(budgets) - 1)
        promotion = self.rungs.promotion(in_time)
        if promotion is not None:
            member = self.members[promotion.member]
            return self._job(member, promotion.to_budget, budgets.index(promotion.to_budget))
        if self.initial or len(self.population) < 2:
            return self._job(self._random_member(), budgets[0], 0)
        return self._job(self._bred_member(self.population), budgets[0], 0)

    def tell(self, job: Job, result: Mapping[str, Any]) -> None:
        """Record a result in its rung (a crash ranks worst and is never promoted) and let the pop_size best
        members form the population (steady-state survival)."""
        super().tell(job, result)
        if job.budget in self.rungs.keys and result.get("status") != ABANDONED:
            if result.get("status") == CRASHED:
                self.rungs.crashed(job.member.id, job.budget)
            else:
                self.rungs.report(job.member.id, job.budget,
                                  rank_key(job.member.results.get(job.budget), job.member.model_size,
                                           self.min_precision))
        if job.budget >= self.max_budget or result.get("status") not in (OK, ABANDONED):
            self._retire(job.member)
        evaluated = [m for m in self.members.values() if m.result is not None]
        self.population = rank(evaluated, self.min_precision)[:self.pop_size]
