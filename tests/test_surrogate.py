"""Surrogate-assisted breeding: the encoding, what the model learns, and that it steers children towards what
the results so far say is good."""
import math

import numpy as np

from fakes import FakeTarget
from search.space import load_config, space
from search.surrogate import INACTIVE, MIN_RESULTS, Surrogate, encode, target_value
from test_EA import drive, make_ea


def test_encoding_scales_each_hyperparameter_marks_unused_ones_and_ends_with_the_budget():
    config = load_config({"n_fc_layers": 1})
    vector = encode(config, space(), 17)
    names = list(space())
    assert len(vector) == len(names) + 1 and vector[-1] == math.log(17)
    assert vector[names.index("n_channels_fc_1")] == INACTIVE and vector[names.index("n_channels_fc_0")] != INACTIVE
    assert all(0.0 <= v <= 1.0 or v == INACTIVE for v in vector[:-1] if v != vector[names.index("kernel_size")])


def test_what_the_model_learns_ranks_infeasible_results_below_every_feasible_one():
    assert target_value({"precision": 0.5, "top3_accuracy": 0.2, "top1_accuracy": 0.1}, 0.4, "top3_accuracy") == 0.2
    assert target_value({"precision": 0.5, "top3_accuracy": 0.2, "top1_accuracy": 0.1}, 0.4, "top1_accuracy") == 0.1
    assert target_value({"precision": 0.3, "top3_accuracy": 0.9}, 0.4, "top3_accuracy") == 0.3 - 1.0


def test_the_surrogate_waits_for_enough_results_then_prefers_what_they_favour():
    rng = np.random.default_rng(0)
    surrogate = Surrogate(space(), 0.0, "top3_accuracy", seed=0)
    configs = [load_config({"learning_rate_init": float(lr)}) for lr in 10 ** rng.uniform(-5, -1, 40)]
    results = [(c, 9, {"status": "ok", "precision": 1.0, "top3_accuracy": -abs(math.log10(c["learning_rate_init"]) + 2.5)})
               for c in configs]
    assert not surrogate.fit(results[:MIN_RESULTS - 1])
    assert surrogate.fit(results)
    candidates = [load_config({"learning_rate_init": lr}) for lr in (1e-5, 3e-3, 1e-1)]
    assert surrogate.budget == 9 and surrogate.best(candidates) == 1


def test_with_candidates_each_child_is_the_one_the_surrogate_picks_once_it_has_enough_results(tmp_path,
                                                                                               monkeypatch):
    offered = []

    def last(self, candidates):  # a stand-in choice that is easy to recognise
        offered.append(candidates)
        return len(candidates) - 1
    monkeypatch.setattr(Surrogate, "best", last)
    ea = make_ea(tmp_path, proven=[], initial=[], candidates=8)
    jobs = drive(ea, 30, FakeTarget())
    children = [job.member for job in jobs if job.member.origin["kind"] == "child" and job.budget == 1]
    chosen = [member for member in children if any(member.config == c[-1] for c in offered)]
    assert offered and all(len(c) == 8 and len({tuple(sorted(x.items())) for x in c}) == 8 for c in offered)
    assert len(chosen) == len(offered) == len(children)  # the opening's results are enough to guide every child
