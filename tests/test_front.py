"""The trade-offs a run found: the front's dominance, old run files, the one-standard-error rule, the alternatives'
wording, and `evaluation.py front` on a small run file."""
import json
import math

import pandas as pd
import pytest
from PIL import Image

from conftest import is_one_line_error, run_in_process
from evaluation import main as evaluation_main
from search.front import (alternatives, cost_keys, front, front_summary, full_budget_feasible,
                          one_standard_error_choice, standard_error)

METRIC = "top1_accuracy"


def folds_of(accuracies, precision=0.5):
    return [{"top1_accuracy": a, "top3_accuracy": min(1.0, a + 0.2), "precision": precision} for a in accuracies]


def evaluation(member, accuracy, flash=None, ram=None, macs=None, model_size=1000, budget=9, precision=0.5,
               status="ok", spread=0.0):
    """A full-budget evaluation measured on three folds whose mean is accuracy (spread: each fold's distance)."""
    entry = {"member": member, "origin": {"kind": "random"}, "budget": budget, "status": status,
             "precision": precision, METRIC: accuracy, "top3_accuracy": min(1.0, accuracy + 0.2),
             "folds": folds_of([accuracy - spread, accuracy, accuracy + spread], precision),
             "model_size": model_size}
    entry.update({key: value for key, value in (("flash", flash), ("ram", ram), ("macs", macs)) if value is not None})
    return entry


def members(rows):
    return [row["member"] for row in rows]


def test_the_front_keeps_what_nothing_dominates_best_first():
    evaluations = [evaluation(0, 0.80, flash=4000, ram=900, macs=50_000),
                   evaluation(1, 0.70, flash=2000, ram=900, macs=50_000),  # cheaper in flash: a trade-off
                   evaluation(2, 0.70, flash=3000, ram=900, macs=50_000),  # dominated by 1
                   evaluation(3, 0.60, flash=5000, ram=300, macs=90_000),  # least RAM: a trade-off
                   evaluation(4, 0.80, flash=4000, ram=900, macs=60_000),  # equal to 0 but more MACs: dominated
                   evaluation(5, 0.60, flash=5000, ram=300, macs=90_000)]  # equal to 3: neither dominates
    assert members(front(evaluations, METRIC, 0.4, 9)) == [0, 1, 3, 5]


def test_only_full_budget_successful_feasible_results_on_every_fold_and_within_limits_count():
    evaluations = [evaluation(0, 0.99, flash=100, budget=3),  # a cheap rung
                   evaluation(1, 0.98, flash=100, status="failed"),
                   evaluation(2, 0.97, flash=100, precision=0.3),  # below the minimum precision
                   {**evaluation(3, 0.96, flash=100), "folds": folds_of([0.96])},  # one fold of three
                   evaluation(4, 0.95, flash=900_000),  # over the flash limit
                   evaluation(5, 0.50, flash=5000)]
    assert members(full_budget_feasible(evaluations, 0.4, 9, {"flash": 100_000})) == [5]
    assert members(front(evaluations, METRIC, 0.4, 9, limits={"flash": 100_000})) == [5]
    assert members(front(evaluations, METRIC, 0.4, 9)) == [4, 5]


def test_a_member_measured_twice_at_full_budget_counts_once_with_its_latest_result():
    evaluations = [evaluation(7, 0.90, flash=1000), evaluation(8, 0.70, flash=500), evaluation(7, 0.60, flash=1000)]
    rows = front(evaluations, METRIC, 0.4, 9)
    assert members(rows) == [8]
    assert [row[METRIC] for row in full_budget_feasible(evaluations, 0.4, 9)] == [0.60, 0.70]


def test_old_run_files_without_flash_and_ram_use_parameters_and_macs():
    evaluations = [evaluation(0, 0.80, model_size=9000, macs=10_000),
                   evaluation(1, 0.70, model_size=3000, macs=10_000),
                   evaluation(2, 0.70, model_size=3000, macs=20_000),  # dominated by 1
                   evaluation(3, 0.60, model_size=8000, macs=5_000)]
    assert cost_keys(evaluations) == ("model_size", "macs")
    assert members(front(evaluations, METRIC, 0.4, 9)) == [0, 1, 3]
    oldest = [{key: value for key, value in e.items() if key != "macs"} for e in evaluations]  # no MACs either
    assert cost_keys(oldest) == ("model_size",)
    assert members(front(oldest, METRIC, 0.4, 9)) == [0, 1, 2]  # 1 and 2 alike now: neither dominates


def test_a_cost_some_evaluations_lack_is_left_out_not_a_crash():
    evaluations = [evaluation(0, 0.80, flash=4000, ram=100, macs=10), evaluation(1, 0.70, flash=2000, macs=10)]
    assert cost_keys(evaluations) == ("flash", "macs")
    assert members(front(evaluations, METRIC, 0.4, 9)) == [0, 1]


def test_standard_error_of_the_mean_over_folds():
    assert standard_error(folds_of([0.6, 0.7, 0.8]), METRIC) == pytest.approx(0.1 / math.sqrt(3))
    assert standard_error(folds_of([0.7]), METRIC) == 0.0
    assert standard_error(folds_of([0.5, 0.5]), METRIC) == 0.0


def test_the_one_standard_error_rule_returns_the_smallest_network_within_one_error_of_the_best():
    best = evaluation(0, 0.80, flash=9000, macs=900, spread=0.05)  # standard error 0.05 / √3 ≈ 0.029
    evaluations = [best, evaluation(1, 0.78, flash=3000, macs=500), evaluation(2, 0.78, flash=3000, macs=400),
                   evaluation(3, 0.70, flash=1000, macs=100), evaluation(4, 0.80, flash=8000, macs=900,
                                                                         precision=0.1)]
    assert one_standard_error_choice(evaluations, METRIC, 0.4, 9)["member"] == 2  # flash ties: fewer MACs
    tight = [{**best, "folds": folds_of([0.8, 0.8, 0.8])}, *evaluations[1:]]
    assert one_standard_error_choice(tight, METRIC, 0.4, 9)["member"] == 0  # no error: only the best qualifies
    assert one_standard_error_choice(evaluations, METRIC, 0.9, 9) is None


def test_the_one_standard_error_rule_compares_parameters_where_flash_was_not_recorded():
    evaluations = [evaluation(0, 0.80, model_size=9000, macs=100, spread=0.1),
                   evaluation(1, 0.75, model_size=2000, macs=900), evaluation(2, 0.75, model_size=4000, macs=50)]
    assert one_standard_error_choice(evaluations, METRIC, 0.4, 9)["member"] == 1


def test_alternatives_say_points_and_cost_ratios_against_the_answer():
    answer = evaluation(5, 0.80, flash=6240, ram=1000, macs=100_000)
    rows = [answer, evaluation(12, 0.796, flash=3120, ram=630, macs=30_000),
            evaluation(13, 0.85, flash=12480, ram=1000, macs=100_000)]
    assert alternatives(answer, rows, METRIC) == [
        "member 13: 5.0 points higher at twice the flash (12,480 B), the same RAM, the same MACs",
        "member 12: 0.4 points lower at half the flash (3,120 B), 0.63× the RAM, 0.3× the MACs"]


def test_alternatives_pick_the_cheapest_in_each_cost_then_the_most_accurate_at_most_n():
    answer = evaluation(0, 0.90, flash=1000, ram=1000, macs=1000)
    rows = [answer, evaluation(1, 0.89, flash=100, ram=900, macs=900), evaluation(2, 0.88, flash=900, ram=100,
                                                                                  macs=900),
            evaluation(3, 0.87, flash=900, ram=900, macs=100), evaluation(4, 0.86, flash=950, ram=950, macs=950),
            evaluation(5, 0.95, flash=5000, ram=5000, macs=5000)]
    lines = alternatives(answer, rows, METRIC, n=4)
    assert [line.split(":")[0] for line in lines] == ["member 5", "member 1", "member 2", "member 3"]
    assert [line.split(":")[0] for line in alternatives(answer, rows, METRIC, n=2)] == ["member 1", "member 2"]
    assert alternatives(answer, [answer], METRIC) == []
    assert "as accurate" in alternatives(answer, [evaluation(9, 0.9001, flash=10, ram=10, macs=10)], METRIC)[0]


def test_the_run_files_front_keeps_the_objective_its_error_and_the_costs():
    rows = front([evaluation(3, 0.8, flash=100, ram=10, macs=1000, spread=0.1)], METRIC, 0.4, 9)
    assert front_summary(rows, METRIC) == [{"member": 3, "budget": 9, METRIC: 0.8, "precision": 0.5,
                                            "model_size": 1000, "flash": 100, "ram": 10, "macs": 1000,
                                            "standard_error": pytest.approx(0.1 / math.sqrt(3))}]


def write_run(folder, evaluations, best_member, objective="top1", max_budget=9):
    """A run folder as a search leaves it: automl_run_{info}.json and its {info}.csv trace."""
    folder.mkdir(parents=True)
    settings = {"constraint_max_model_size": 100_000, "constraint_min_precision": 0.4, "max_budget": max_budget,
                "objective": objective, "seed": 0, "max_time": 60.0, "algorithm": "ea"}
    for index, entry in enumerate(evaluations):
        entry.update({"evaluation": index, "time": float(index + 1)})
    best = next(e for e in evaluations if e["member"] == best_member)
    (folder / "automl_run_tiny.json").write_text(json.dumps({"settings": settings, "finished": True, "best": best,
                                                             "evaluations": evaluations}))
    pd.DataFrame([{"step": 0, "time": 1.0, "avg_acc": 0.5, "best_acc": 0.5, "avg_prec": 0.5, "best_prec": 0.5,
                   "best_feasible_acc": 0.5}]).to_csv(folder / "tiny.csv", index=False)
    return folder


def test_the_front_command_prints_the_table_and_draws_the_figure(tmp_path, capsys):
    folder = write_run(tmp_path / "run", [evaluation(0, 0.80, flash=8000, ram=900, macs=9000, spread=0.05),
                                          evaluation(1, 0.79, flash=2000, ram=500, macs=3000),
                                          evaluation(2, 0.60, flash=3000, ram=600, macs=4000),  # dominated
                                          evaluation(3, 0.95, flash=100, budget=3)], best_member=0)
    assert evaluation_main(["front", str(folder), "--out", str(tmp_path / "figures"), "--prefix", "tiny"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows] == ["| member", "| 0", "| 1"]
    assert "| yes |  |" in rows[1] and rows[2].endswith("|  | yes |")  # the answer, then the 1-SE choice
    assert "member 1: 1.0 points lower at 0.25× the flash (2,000 B), 0.56× the RAM, 0.33× the MACs" in out
    with Image.open(tmp_path / "figures" / "tiny_front_top1.png") as image:
        assert image.format == "PNG"


def test_the_front_command_on_a_run_without_flash_shows_parameters(tmp_path, capsys):
    folder = write_run(tmp_path / "old", [evaluation(0, 0.8, model_size=900), evaluation(1, 0.7, model_size=300)],
                       best_member=0, objective="top3")
    done = run_in_process(capsys, evaluation_main, ["front", folder / "automl_run_tiny.json", "--out", tmp_path])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs_front_top3.png").is_file()


@pytest.mark.parametrize("make_path,needle", [(lambda t: t / "nowhere", "no such file or folder"),
                                              (lambda t: t, "no automl_run_*.json"),
                                              (lambda t: t / "notes.json", "not an automl_run file")])
def test_a_path_that_is_not_a_run_is_one_line_exit_2(tmp_path, capsys, make_path, needle):
    (tmp_path / "notes.json").write_text("[1, 2]")
    done = run_in_process(capsys, evaluation_main, ["front", make_path(tmp_path), "--out", tmp_path / "figures"])
    assert is_one_line_error(done, needle), done.stderr
