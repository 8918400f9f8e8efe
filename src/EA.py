"""The evolution (ask/tell): a constrained evolutionary strategy with asynchronous successive halving, children
bred by tournament, crossover and mutation (optionally inheriting their parent's training, optionally chosen by a
surrogate among several candidates)."""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Mapping, Sequence

from ConfigSpace import ConfigurationSpace

from member import Member
from training.metrics import DEFAULT_METRIC
from budget.closed_forms import architecture
from search.optimizer import Job, JobSeconds, OptimizerBase, SizeOf, Start
from status import Inherit, Status
from search.successive_halving import Promotion, Rungs, max_bracket, rung_budgets
from search.surrogate import Surrogate
from search.ranking import positions, rank_key, rank_population
from search.repair import Fit
from search.variation import crossover, mutate, tournament

CROSSOVER_RATE = 0.5
MAX_DUPLICATE_TRIES = 10
OPENING_MEMBERS = 9  # members not bred (warm start, then random) before the first child: eta² fill the first rung


class AsyncEvolution(OptimizerBase):
    """Steady-state evolution with asynchronous successive halving, on one worker or many: every ask is answered
    at once (no rung waits for stragglers, no bracket has to fit the time left). The portfolio (`proven`) opens
    the run at max_budget; then a free slot promotes the first member in the top 1/eta of a rung (highest rung
    first) whose training is predicted to end in time, or else starts a new member at the lowest budget: the
    warm-start configurations (`initial`), random ones until OPENING_MEMBERS exist, then children of the
    population. Below max_budget a job trains and measures the cheap folds (both in successive_halving).

    `num_children` is the λ of the original (μ + λ) strategy: that many children are bred from one ranking of the
    population (the parents' pool) before the survivors are chosen again from every result so far; 1 is steady
    state, each child bred from the latest ranking."""

    def __init__(self, space: ConfigurationSpace, fit: Fit, size_of: SizeOf, min_precision: float, *,
                 pop_size: int = 50, min_budget: float = 1, max_budget: int = 50, eta: float = 3, seed: int = 0,
                 checkpoint_dir: Path | None = None, proven: Sequence[Start] = (), initial: Sequence[Start] = (),
                 job_seconds: JobSeconds | None = None, num_children: int = 1, metric: str = DEFAULT_METRIC,
                 inherit: bool = False, candidates: int = 1):
        super().__init__(space, fit, size_of, min_precision, max_budget, seed, checkpoint_dir, initial, metric)
        if num_children < 1:
            raise ValueError(f"num_children must be at least 1, got {num_children}")
        self.proven = deque(proven)
        self.pop_size, self.num_children, self.inherit = pop_size, num_children, inherit
        self.candidates = candidates
        self.surrogate = Surrogate(space, min_precision, metric, seed) if candidates > 1 else None
        self.job_seconds = job_seconds
        s_max = max_bracket(min_budget, max_budget, eta)
        self.rungs = Rungs(rung_budgets(s_max, self.max_budget, eta), eta)
        self.population: list[Member] = []  # the pop_size best members now (steady-state survival)
        self.parents: list[Member] = []  # the pool children are bred from: the population when last chosen
        self.children_bred = 0  # children bred so far: every num_children, a new pool

    def _in_time(self, promotion: Promotion, seconds_left: float | None) -> bool:
        if seconds_left is None or self.job_seconds is None:
            return True
        member = self.members[promotion.member]
        epochs = self._fold_epochs(member, promotion.to_budget) + self.measure_epochs(member, promotion.to_budget)
        return self.job_seconds(member, epochs) <= seconds_left

    def ask(self, seconds_left: float | None = None) -> Job:
        """A job for a free slot, decided now; the member of a promotion is marked at once, so that no two
        slots train it. A promotion predicted to outlast seconds_left is passed over."""
        budgets = self.rungs.budgets
        if self.proven:
            return self._job(self._member(*self.proven.popleft()), self.max_budget, len(budgets) - 1)
        promotion = self.rungs.promotion(lambda p: self._in_time(p, seconds_left))
        if promotion is not None:
            member = self.members[promotion.member]
            return self._job(member, promotion.to_budget, budgets.index(promotion.to_budget))
        opening = min(self.pop_size, OPENING_MEMBERS)
        if self.initial or len(self.members) < opening or len(self.population) < 2:
            return self._job(self._started_member(), budgets[0], 0)
        return self._child_job(self._bred_member(self._parents(), *self._surrogate_choice()))

    def _surrogate_choice(self) -> tuple[int, Surrogate | None]:
        """How many candidate children to breed for one slot, and the model that picks one: `candidates` once the
        surrogate has enough results to be trusted, else one."""
        if self.surrogate is None:
            return 1, None
        results = [(m.config, budget, result) for m in self.members.values() for budget, result in m.results.items()]
        return (self.candidates, self.surrogate) if self.surrogate.fit(results) else (1, None)

    def _child_job(self, child: Member) -> Job:
        """A child's first job: from scratch at the lowest rung; with `inherit`, from the checkpoint of its first
        parent (the tournament winner) where it has one: that training continued to the next rung below max_budget
        when the child keeps the architecture (population-based training: exploit, then explore), else the tensors
        that fit, at the lowest rung. The child's origin says what it inherited."""
        budgets = self.rungs.budgets
        parent = self.members[child.parents[0]]
        if not self.inherit or parent.checkpoint is None:
            return self._job(child, budgets[0], 0)
        above = next(b for b in budgets if b > parent.budget)
        if architecture(child.config) == architecture(parent.config) and above < self.max_budget:
            budget, how = above, Inherit.CONTINUE
        else:
            budget, how = budgets[0], Inherit.TENSORS
        child.origin["inherited"] = {"member": parent.id, "budget": parent.budget, "how": how.value}
        return self._job(child, budget, budgets.index(budget), parent, how)

    def _bred_member(self, pool: list[Member], candidates: int = 1, surrogate: Surrogate | None = None) -> Member:
        """A child of tournament winners from pool: crossover (sometimes), then mutation, repaired into the
        constraints; a configuration already tried is bred again, a few times at most. With a surrogate and
        several candidates, the one it predicts best."""
        ranks = positions(pool, self.min_precision, self.metric)
        seen = {tuple(sorted(m.config.items())) for m in self.members.values()}
        bred = []
        for _ in range(candidates):
            config, parents = self._bred_config(pool, ranks, seen)
            seen.add(tuple(sorted(config.items())))
            bred.append((config, parents))
        chosen = surrogate.best([config for config, _ in bred]) if len(bred) > 1 else 0
        config, parents = bred[chosen]
        child = Member.child(len(self.members), config, self.size_of(config), parents)
        self.members[child.id] = child
        return child

    def _bred_config(self, pool: list[Member], ranks: list[int], seen: set) -> tuple[dict, list[Member]]:
        for _ in range(MAX_DUPLICATE_TRIES):
            parents = [pool[tournament(ranks, self.rng)]]
            config = parents[0].config
            if self.rng.random() < CROSSOVER_RATE:
                parents.append(pool[tournament(ranks, self.rng)])
                config = crossover(parents[0].config, parents[1].config, self.space, self.rng)
            config = self.fit(mutate(config, self.space, self.rng), self.rng)
            if tuple(sorted(config.items())) not in seen:
                break
        return config, parents

    def _parents(self) -> list[Member]:
        """The parents' pool: chosen anew from the population once num_children children were bred from it."""
        if self.children_bred % self.num_children == 0:
            self.parents = list(self.population)
        self.children_bred += 1
        return self.parents

    def tell(self, job: Job, result: Mapping[str, Any]) -> None:
        """Record a result in its rung (a crash ranks worst and is never promoted) and let the pop_size best
        members form the population (steady-state survival; members that reached a higher budget first)."""
        super().tell(job, result)
        if job.budget in self.rungs.keys and result.get("status") != Status.ABANDONED:
            if result.get("status") == Status.CRASHED:
                self.rungs.crashed(job.member.id, job.budget)
            else:
                self.rungs.report(job.member.id, job.budget,
                                  rank_key(job.member.results.get(job.budget), job.member.model_size,
                                           self.min_precision, self.metric))
        if job.budget >= self.max_budget or result.get("status") not in (Status.OK, Status.ABANDONED):
            self._retire(job.member)
        evaluated = [m for m in self.members.values() if m.result is not None]
        self.population = rank_population(evaluated, self.min_precision, self.metric)[:self.pop_size]
