"""bench/bench_peers.py without its peers' packages: the space Optuna is asked for is this project's."""
import json
import sys

import numpy as np

from conftest import REPO_ROOT
from search.space import load_config, space

sys.path.insert(0, str(REPO_ROOT / "bench"))
import bench_peers  # noqa: E402
import peers_report  # noqa: E402


class RandomTrial:
    """Optuna's define-by-run calls, answered at random (and remembered, as a trial does)."""

    def __init__(self, seed):
        self.rng, self.asked = np.random.default_rng(seed), {}

    def suggest_categorical(self, name, choices):
        self.asked[name] = choices[self.rng.integers(len(choices))]
        return self.asked[name]

    def suggest_int(self, name, low, high, log=False):
        self.asked[name] = int(self.rng.integers(low, high + 1))
        return self.asked[name]

    def suggest_float(self, name, low, high, log=False):
        self.asked[name] = float(self.rng.uniform(low, high))
        return self.asked[name]


def test_the_peers_search_this_projects_space_with_widths_only_for_layers_that_exist():
    for seed in range(20):
        trial = RandomTrial(seed)
        config = load_config(bench_peers.suggest(trial))
        assert set(trial.asked) == set(config)  # nothing inactive was asked, nothing active left to its default
        assert set(config) <= set(space())


def write_peer_run(folder, records, torn=False):
    folder.mkdir(parents=True)
    lines = [json.dumps(record) for record in records] + (['{"time": 9'] if torn else [])
    (folder / "evaluations.jsonl").write_text("\n".join(lines) + "\n")


def record(time, budget, accuracy, feasible=True):
    return {"time": time, "budget": budget, "top3_accuracy": accuracy, "top1_accuracy": accuracy / 2,
            "precision": 0.5 if feasible else 0.1, "feasible": feasible, "status": "ok", "model_size": 1000}


def test_the_peers_report_counts_only_feasible_full_budget_results_and_ignores_a_torn_last_line(tmp_path):
    write_peer_run(tmp_path / "dehb_seed0", [record(10, 6, 0.9), record(20, 50, 0.6), record(30, 50, 0.95, False),
                                             record(40, 50, 0.7)], torn=True)
    write_peer_run(tmp_path / "dehb_seed1", [record(15, 50, 0.8)])
    write_peer_run(tmp_path / "tpe_seed0", [record(50, 50, 0.5, False)])
    found = peers_report.peer_folders(tmp_path)
    assert [(method, seed) for method, seed, _ in found] == [("dehb", 0), ("dehb", 1), ("tpe", 0)]
    table = peers_report.anytime(found, [], np.array([10.0, 20.0, 45.0]), "top3_accuracy", 50)
    assert np.isnan(table["DEHB"].iloc[0])
    assert table["DEHB"].iloc[1:].tolist() == [0.7, 0.75]  # medians of (0.6, 0.8) at 20 s and (0.7, 0.8) at 45 s
    assert table["Optuna TPE"].isna().all()
    rows = peers_report.run_rows(found, "top3_accuracy", 50)
    assert rows["evaluations"].tolist() == [4, 1, 1]
    assert rows["val (answer)"].tolist()[:2] == [0.7, 0.8]
