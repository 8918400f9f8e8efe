"""bench/devices_report.py's statistics on hand-made figures: intervals, pairs by seed, ranks."""
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import devices_report  # noqa: E402


def test_the_interval_holds_the_mean_and_narrows_with_more_seeds():
    rng = np.random.default_rng(0)
    few, many = rng.normal(0.8, 0.01, 5), rng.normal(0.8, 0.01, 40)
    mean, low, high = devices_report.mean_interval(few)
    assert low < mean < high and mean == pytest.approx(few.mean())
    _, low_many, high_many = devices_report.mean_interval(many)
    assert high_many - low_many < high - low
    assert np.isnan(devices_report.mean_interval(np.array([0.5, 0.6]))[1])  # two seeds: no interval


def test_differences_are_paired_by_seed_and_task():
    table = pd.DataFrame([("a", "EA+HB", 0, 0.9), ("a", "random", 0, 0.8), ("a", "EA+HB", 1, 0.7),
                          ("a", "random", 2, 0.1), ("b", "EA+HB", 0, 0.5), ("b", "random", 0, 0.6)],
                         columns=["task", "method", "seed", "int8"])
    differences = devices_report.paired_differences(table, "EA+HB", "random", "int8")
    assert sorted(zip(differences["task"], differences["seed"])) == [("a", 0), ("b", 0)]
    assert differences["difference"].round(6).tolist() == [0.1, -0.1]
    assert devices_report.paired_differences(table, "EA+HB", "DEHB", "int8").empty


def test_ranks_put_the_most_accurate_first_and_share_ties():
    means = pd.DataFrame({"EA+HB": [0.9, 0.5], "random": [0.8, 0.5], "DEHB": [0.85, 0.7]}, index=["a", "b"])
    ranked = devices_report.ranks(means)
    assert ranked.loc["a"].tolist() == [1, 3, 2] and ranked.loc["b"].tolist() == [2.5, 2.5, 1]
