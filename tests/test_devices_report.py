"""bench/devices_report.py on hand-made figures and folders (intervals, pairs by seed, ranks, curves, the report)
and bench/bench_devices.py's plan of runs and commands. Nothing trains."""
import argparse
import json
import sys

import numpy as np
import pandas as pd
import pytest

from conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "bench"))
import bench_devices  # noqa: E402
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


def test_the_median_curve_counts_a_seed_that_found_nothing_yet_as_the_worst():
    nan = np.nan
    curves = np.array([[nan, 0.5, 0.6, 0.6], [nan, nan, 0.4, 0.7], [nan, nan, nan, 0.8]])
    median = devices_report.median_curve(curves)
    assert np.isnan(median[:2]).all()  # one or none of three seeds has found something: no median yet
    assert median[2:].tolist() == [0.4, 0.7]  # not 0.5, the median of the two seeds that found something


def test_the_best_so_far_holds_from_the_time_it_is_found():
    found = pd.DataFrame({"time": [30.0, 10.0, 50.0], "top1_accuracy": [0.9, 0.6, 0.7]})
    curve = devices_report.best_so_far(found, "top1_accuracy", np.array([0.0, 10.0, 20.0, 40.0, 60.0]))
    assert np.isnan(curve[0]) and curve[1:].tolist() == [0.6, 0.6, 0.9, 0.9]


def model_card(int8: float, flash: int, ram: int) -> dict:
    """The parts of main.py's model card the report reads."""
    return {"cost": {"flash_bytes": flash, "ram_bytes": ram, "flash_bytes_int8_file": flash,
                     "ram_bytes_int8_graph": ram},
            "runtimes": {"torch fp32": {"top1_accuracy": int8 + 0.01}, "onnxruntime int8": {"top1_accuracy": int8}}}


def test_a_card_is_within_the_limits_only_when_the_int8_files_flash_and_ram_both_are():
    task = devices_report.TASKS["digits_S"]
    row = devices_report.card_row(model_card(0.9, 8_192, 8_192), task)
    assert row["within"] and row["int8"] == 0.9 and row["float"] == pytest.approx(0.91)
    assert not devices_report.card_row(model_card(0.9, 8_193, 100), task)["within"]
    assert not devices_report.card_row(model_card(0.9, 100, 8_193), task)["within"]


def write_fake_runs(out, seeds=3):
    """A benchmark folder: EA+HB and random search on digits_S with model cards and bench_peers-like evaluations,
    random search without an answer for its last seed, and an unfinished run."""
    for seed in range(seeds):
        for method, accuracy in (("ea_hyperband", 0.9 + seed / 100), ("random_search", 0.85 + seed / 50)):
            folder = out / "digits_S" / "none" / f"{method}_seed{seed}"
            folder.mkdir(parents=True)
            evaluations = [{"time": 5.0 * (1 + seed), "budget": 50, "feasible": True, "top1_accuracy": accuracy},
                           {"time": 1.0, "budget": 5, "feasible": True, "top1_accuracy": 0.99}]  # not full budget
            (folder / "evaluations.jsonl").write_text("".join(json.dumps(e) + "\n" for e in evaluations))
            if method == "random_search" and seed == seeds - 1:
                (folder / "no_result.txt").write_text("the search returned no configuration\n")
                continue
            (folder / "model").mkdir()
            (folder / "model" / "model_card.json").write_text(json.dumps(model_card(accuracy, 8_000, 4_000)))
    (out / "digits_S" / "none" / "ea_hyperband_seed9").mkdir()  # still running: left out


def test_the_report_counts_runs_without_an_answer_and_leaves_out_unfinished_ones(tmp_path):
    write_fake_runs(tmp_path)
    runs = devices_report.read_runs(tmp_path)
    assert sorted(runs["seed"]) == [0, 0, 1, 1, 2, 2] and runs["answered"].sum() == 5
    report = devices_report.write_report(tmp_path).read_text()
    assert "| EA+HB | 3 / 3 |" in report and "| random | 2 / 3 |" in report
    assert "paired by seed (2 pairs)" in report and "Runs without an answer: 1 of 6" in report
    assert "5 of 5" in report  # every answer within its limits, on the int8 file
    assert (tmp_path / "figures" / "anytime_digits_S.png").stat().st_size > 0


def test_every_seed_runs_each_method_on_its_tasks_and_the_searches_get_the_tasks_limits(tmp_path):
    every = bench_devices.cells(list(bench_devices.TASKS), [*bench_devices.SEARCHES, *bench_devices.PEERS])
    assert len(every) == 22 and len(set(every)) == 22
    assert {task.name for task, _, method in every if method in bench_devices.PEERS} == set(bench_devices.PEER_TASKS)
    assert {task.name for task, warm, _ in every if warm == "portfolio"} == set(bench_devices.PORTFOLIO_TASKS)
    args = argparse.Namespace(threads=1, max_time=120, data_root=tmp_path)
    task, out = bench_devices.TASKS["mfeat_pix_S"], tmp_path / "mfeat_pix_S" / "none" / "tpe_seed3"
    for command in (bench_devices.search_command(task, "none", "ea_hyperband", 3, out, args),
                    bench_devices.answer_command(task, 3, out, args)):
        assert "8192" in command and str(tmp_path / "mfeat_pix") in command
    peer = bench_devices.search_command(task, "none", "tpe", 3, out, args)
    assert peer[peer.index("--out") + 1] == str(out.parent) and "--int8" in peer  # bench_peers adds METHOD_seedN
