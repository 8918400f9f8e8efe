"""evaluation.py: figures from synthetic run files, test-set tables, McNemar pairs, and every bad input."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from conftest import REPO_ROOT, is_one_line_error, make_image_folder, run_in_process
from evaluation import main as evaluation_main
from reporting.plots import pareto_front, value_at
from reporting.runs import find_runs
from reporting.holdout import candidate_from
from reporting.holdout_tables import comparison_pairs, majority_hits, mcnemar_table, report, summary_table

TINY = {"n_conv_layers": 1, "n_channels_conv_0": 16, "kernel_size": 3, "n_fc_layers": 1, "n_channels_fc_0": 8,
        "batch_size": 8, "learning_rate_init": 0.01}
OPTIMIZERS = {"ea_hyperband": ("ea", True), "ea_plain": ("ea", False), "random_search": ("random", None)}


def write_run(folder, method="ea_hyperband", seed=0, max_size=200_000, min_precision=0.3, config=None, n=6,
              max_macs=None, objective=None):
    """A run folder as AutoML.py leaves it: automl_run_{info}.json, {info}.csv, opt_cfg.json."""
    algorithm, hyperband = OPTIMIZERS[method]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    info = f"{method}_seed_{seed}"
    settings = {"constraint_max_model_size": max_size, "constraint_min_precision": min_precision, "seed": seed,
                "max_time": 60.0, "algorithm": algorithm, "max_budget": 6}
    if hyperband is not None:
        settings["hyperband"] = hyperband
    if max_macs is not None:
        settings["constraint_max_macs"] = max_macs
    if objective is not None:
        settings["objective"] = objective
    evaluations = [{"evaluation": i, "member": i, "budget": [2, 6][i % 2], "top3_accuracy": float(rng.uniform(0.5, 1)),
                    "precision": float(rng.uniform(0.1, 0.6)), "model_size": int(rng.integers(1e3, 3e5)),
                    "status": "ok" if i != 3 else "abandoned", "time": 10.0 * (i + 1)} for i in range(n)]
    for entry in evaluations:
        entry["top1_accuracy"] = entry["top3_accuracy"] / 2
        if max_macs is not None:
            entry["macs"] = int(rng.integers(1e4, 1e6))
    best = {"member": 0, "budget": 6, "configuration": config or TINY, "model_size": evaluations[0]["model_size"],
            "top3_accuracy": evaluations[0]["top3_accuracy"], "top1_accuracy": evaluations[0]["top1_accuracy"],
            "precision": evaluations[0]["precision"],
            "constraints_met": True, "label": "constraints met"}
    (folder / f"automl_run_{info}.json").write_text(json.dumps(
        {"settings": settings, "finished": True, "best": best, "evaluations": evaluations}))
    rows = [{"step": i, "time": e["time"], "evaluations": i + 1, "epochs_trained": 2 * (i + 1),
             "avg_acc": e["top3_accuracy"] - 0.1, "best_acc": e["top3_accuracy"], "avg_prec": e["precision"] - 0.05,
             "best_prec": e["precision"], "best_feasible_acc": e["top3_accuracy"] if i else float("nan")}
            for i, e in enumerate(evaluations)]
    pd.DataFrame(rows).to_csv(folder / f"{info}.csv", index=False)
    (folder / "opt_cfg.json").write_text(json.dumps(config or TINY))
    return folder


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "runs"
    for method in OPTIMIZERS:
        for seed in (0, 1):
            write_run(root / f"{method}_seed{seed}", method, seed)
    return root


def is_png(path):
    with Image.open(path) as image:
        return image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200


def test_plots_from_run_files(runs, tmp_path):
    out = tmp_path / "figures"
    assert evaluation_main(["plots", str(runs), "--out", str(out), "--prefix", "cmp"]) == 0
    traces = sorted(set(out.glob("cmp_*.png")) - set(out.glob("cmp_candidates_*.png")))
    assert [p.name for p in traces] == ["cmp_best_feasible_top3.png", "cmp_best_precision.png",
                                        "cmp_population_precision.png", "cmp_population_top3.png"]
    candidates = sorted(out.glob("cmp_candidates_*.png"))
    assert len(candidates) == 6 and all(is_png(p) for p in traces + candidates)


def test_figures_are_named_after_the_objective_they_show(tmp_path):
    write_run(tmp_path / "runs" / "ea_seed0", objective="top1")
    out = tmp_path / "figures"
    assert evaluation_main(["plots", str(tmp_path / "runs"), "--out", str(out), "--prefix", "digits"]) == 0
    assert {p.name for p in out.glob("digits_*_top*.png")} == {"digits_best_feasible_top1.png",
                                                               "digits_population_top1.png"}


def test_optimizer_is_read_from_the_settings_not_the_name(tmp_path):
    folder = write_run(tmp_path / "ea_hyperband_seed0", "random_search")
    (run,) = find_runs([folder])
    assert run.optimizer == "random search" and run.name == "ea_hyperband_seed0"
    (ea,) = find_runs([write_run(tmp_path / "variant")])
    ea.settings.update(num_children=10, inherit=True, candidates=8)  # variants told apart in tables and figures
    assert ea.optimizer == "EA with Hyperband, 10 children per ranking, children inherit, 8 candidates per child"


def test_a_macs_limit_is_a_constraint_of_the_run_its_figures_and_its_candidate(tmp_path):
    (run,) = find_runs([write_run(tmp_path / "macs", max_macs=300_000, min_precision=0.1, n=12)])
    ok = run.evaluations
    assert run.max_macs == 300_000 and run.constraints == "size ≤ 2e5, MACs ≤ 3e5, precision ≥ 0.10"
    others = (ok["precision"] >= 0.1) & (ok["model_size"] <= 200_000)
    assert run.meets_constraints(ok).equals(others & (ok["macs"] <= 300_000))
    assert (others & (ok["macs"] > 300_000)).any()  # some break the MACs limit alone
    assert candidate_from(tmp_path / "macs").max_macs == 300_000
    assert evaluation_main(["plots", str(tmp_path / "macs"), "--out", str(tmp_path / "figures")]) == 0
    (old,) = find_runs([write_run(tmp_path / "old")])
    assert old.max_macs is None and "MACs" not in old.constraints and candidate_from(tmp_path / "old").max_macs is None


def test_value_in_force_at_each_time():
    trace = pd.DataFrame({"time": [10.0, 20.0, 30.0], "x": [1.0, 2.0, 3.0]})
    values = value_at(trace, "x", np.array([5.0, 10.0, 25.0, 99.0]))
    assert np.isnan(values[0]) and values[1:].tolist() == [1.0, 2.0, 3.0]


def test_pareto_front_keeps_points_no_smaller_point_beats():
    sizes = np.array([10, 20, 30, 40, 15])
    accuracies = np.array([0.5, 0.7, 0.6, 0.9, 0.5])
    assert pareto_front(sizes, accuracies).tolist() == [0, 1, 3]


def results_table():
    """test_results rows: a and b from different optimizers (search seed 0), the default, two seeds each."""
    def row(name, optimizer, seed, hits, precision):
        return {"name": name, "optimizer": optimizer, "search_seed": 0 if name != "default" else np.nan,
                "max_size": 1e5 if name != "default" else np.nan, "min_precision": 0.5 if name != "default" else np.nan,
                "seed": seed, "status": "ok", "model_size": {"a": 1000, "b": 200_000, "default": 6e6}[name],
                "precision": precision, "top3_accuracy": hits.count("1") / len(hits), "top3_hits": hits}
    return pd.DataFrame([row("a", "EA with Hyperband", 0, "1111100000", 0.6), row("a", "EA with Hyperband", 1, "1111000000", 0.4),
                         row("b", "random search", 0, "0000011111", 0.7), row("b", "random search", 1, "0000011110", 0.8),
                         row("default", "default configuration", 0, "1000000000", 0.2),
                         row("default", "default configuration", 1, "1000000001", 0.2)])


def test_summary_table_rows_and_constraints_on_test():
    table = summary_table(results_table()).set_index("configuration")
    assert list(table.index) == ["a", "b", "default"]
    assert table.loc["a", "test top-3"] == "0.4500 ± 0.0707"
    assert table.loc["a", "precision ≥ limit"] == "no (1 of 2 seeds)" and table.loc["b", "precision ≥ limit"] == "yes"
    assert table.loc["b", "size ≤ limit"] == "no (0 of 2 seeds)" and table.loc["default", "size ≤ limit"] == "n/a"


def test_the_test_table_checks_a_macs_limit_only_where_a_run_set_one():
    assert "MACs ≤ limit" not in summary_table(results_table())
    results = results_table().assign(max_macs=lambda t: np.where(t["name"] == "a", 5e4, np.nan),
                                     macs=lambda t: t["name"].map({"a": 4e4, "b": 9e4, "default": 9e7}))
    table = summary_table(results).set_index("configuration")
    assert list(table.columns).index("MACs ≤ limit") == list(table.columns).index("size ≤ limit") + 1
    assert table.loc["a", "MACs ≤ limit"] == "yes" and table.loc["b", "MACs ≤ limit"] == "n/a"
    assert summary_table(results.assign(max_macs=3e4)).set_index("configuration").loc["a", "MACs ≤ limit"] == \
        "no (0 of 2 seeds)"


def test_majority_over_seeds_and_mcnemar_pairs():
    results = results_table()
    assert majority_hits(results, "a").tolist() == [True] * 4 + [False] * 6  # image 4 hit in 1 of 2 seeds
    assert comparison_pairs(results) == [("a", "default"), ("b", "default"), ("a", "b")]
    other_start = results.assign(warm_start=np.where(results["name"] == "b", "none", "portfolio"))
    assert comparison_pairs(other_start) == [("a", "default"), ("b", "default")]  # from other starting points
    table = mcnemar_table(results).set_index(["A", "B"])
    assert table.loc[("a", "b"), "only A hits"] == 4 and table.loc[("a", "b"), "only B hits"] == 4
    assert table.loc[("a", "default"), "only A hits"] == 3 and table.loc[("a", "default"), "p-value"] == 0.25


def test_test_command_on_tiny_data_two_configs_two_seeds(tmp_path, monkeypatch, capsys):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=9)
    write_run(tmp_path / "runs" / "hb", "ea_hyperband", 0)
    write_run(tmp_path / "runs" / "rs", "random_search", 0, config={**TINY, "n_channels_conv_0": 24})
    out = tmp_path / "test"
    args = ["test", str(tmp_path / "runs" / "hb"), str(tmp_path / "runs" / "rs"), "--seeds", "2", "--epochs", "2",
            "--out", str(out), "--data_dir", str(data), "--device", "cpu"]
    assert evaluation_main(args) == 0
    assert "4/4 trainings" in capsys.readouterr().err  # the progress bar, with the time left
    results = pd.read_csv(out / "test_results.csv", dtype={"top3_hits": str})
    assert sorted(zip(results["name"], results["seed"])) == [("hb", 0), ("hb", 1), ("rs", 0), ("rs", 1)]
    assert (results["status"] == "ok").all() and results["top3_hits"].str.len().eq(4 * 3).all()
    hit_rate = results["top3_hits"].map(lambda text: text.count("1") / len(text))
    assert np.allclose(hit_rate, results["top3_accuracy"])
    report = (out / "test_results.md").read_text()
    assert "| hb | EA with Hyperband | portfolio | not recorded |" in report
    assert "| rs | random search | portfolio | not recorded |" in report
    assert "| hb | rs |" in report and is_png(out / "confusion_best.png")

    from reporting import holdout
    monkeypatch.setattr(holdout, "measure", lambda *a: pytest.fail("measured again"))
    assert evaluation_main(args) == 0  # everything is in test_results.csv already


def evaluation(capsys, *args):
    return run_in_process(capsys, evaluation_main, args)


def test_a_bad_input_from_the_command_line_is_one_line_exit_2(tmp_path):
    done = subprocess.run([sys.executable, "src/evaluation.py", "plots", str(tmp_path / "nowhere")], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert is_one_line_error(done, "no such file or folder"), done.stderr


@pytest.mark.parametrize("damage,needle", [
    (lambda run: run.unlink(), "no automl_run_*.json"),
    (lambda run: run.write_text(""), "empty file"),
    (lambda run: run.write_text("{not json"), "not valid JSON"),
    (lambda run: run.write_text(json.dumps({"evaluations": []})), "not an automl_run file"),
    (lambda run: run.write_text(json.dumps({"settings": {"constraint_max_model_size": 1, "constraint_min_precision": 0},
                                            "evaluations": []})), "no evaluations"),
    (lambda run: run.with_name("ea_hyperband_seed_0.csv").unlink(), "missing"),
    (lambda run: run.with_name("ea_hyperband_seed_0.csv").write_text("a,b\n1,2\n"), "not a run trace"),
    (lambda run: run.with_name("ea_hyperband_seed_0.csv").write_text(""), "not a readable CSV"),
])
def test_bad_run_files_are_one_line_naming_the_file(tmp_path, capsys, damage, needle):
    folder = write_run(tmp_path / "run")
    run = folder / "automl_run_ea_hyperband_seed_0.json"
    damage(run)
    done = evaluation(capsys, "plots", folder, "--out", tmp_path / "figures")
    assert is_one_line_error(done, needle), done.stderr
    assert str(folder) in done.stderr


@pytest.mark.parametrize("make_args,needle", [
    (lambda t: ["plots", t / "nowhere"], "no such file or folder"),
    (lambda t: ["plots", t / "run", "--out", t / "run" / "opt_cfg.json"], "is a file; expected a folder"),
    (lambda t: ["test", t / "empty"], "no opt_cfg.json"),
    (lambda t: ["test", t / "bad.json"], "not valid JSON"),
    (lambda t: ["test", t / "run", "--seeds", "0"], "--seeds"),
    (lambda t: ["test"], "no configuration to measure"),
    (lambda t: ["test", t / "run", "--data_dir", t / "run" / "opt_cfg.json"], "is a file; expected a folder"),
    (lambda t: ["frobnicate"], "invalid choice"),
])
def test_bad_arguments_are_one_line(tmp_path, capsys, make_args, needle):
    write_run(tmp_path / "run")
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("{")
    done = evaluation(capsys, *make_args(tmp_path))
    assert is_one_line_error(done, needle), done.stderr


def test_a_run_says_where_its_answer_came_from_and_how_its_budgets_ranked(tmp_path):
    folder = write_run(tmp_path / "run")
    path = next(folder.glob("automl_run_*.json"))
    record = json.loads(path.read_text())
    origins = [{"kind": "portfolio", "portfolio_member": 3}, {"kind": "random"},
               {"kind": "child", "parents": [1], "generation": 1}, {"kind": "child", "parents": [1, 2], "generation": 2}]
    low = [(member, 2, 0.5 + 0.1 * member, [{}]) for member in range(4)]
    high = [(member, 6, 0.6 + 0.1 * member, [{}] * 3) for member in (0, 2, 3)]
    record["evaluations"] = [{"evaluation": i, "member": m, "origin": origins[m], "budget": b, "top3_accuracy": a,
                              "precision": 0.5, "model_size": 1000, "status": "ok", "time": float(i), "folds": f}
                             for i, (m, b, a, f) in enumerate(low + high)]
    record["best"]["origin"] = origins[3]
    path.write_text(json.dumps(record))
    (run,) = find_runs([folder])
    assert list(run.evaluations["origin_kind"][:4]) == ["portfolio", "random", "child", "child"]
    assert run.answer_origin == "child of 1 × 2, generation 2" and run.warm_start == "portfolio"
    assert run.statistics() == {"evaluations": 7, "budgets": [2, 6], "children": 2, "rank_pairs": 3,
                                "rank_correlation": pytest.approx(1.0)}
    out = tmp_path / "figures"
    assert evaluation_main(["plots", str(folder), "--out", str(out)]) == 0
    assert is_png(out / "runs_candidates_run.png")


def test_the_objective_top1_is_what_the_test_tables_report_and_compare():
    results = results_table()
    results["top1_hits"] = results["top3_hits"].str.replace("1", "0", n=1)  # each seed's first hit is a top-3 one only
    results["top1_accuracy"] = results["top1_hits"].map(lambda hits: hits.count("1") / len(hits))
    table = summary_table(results, "top1").set_index("configuration")
    assert "test top-3" not in table and table.loc["a", "test top-1"] == "0.3500 ± 0.0707"
    tests = mcnemar_table(results, "top1").set_index(["A", "B"])
    assert tests.loc[("a", "b"), "top-1 A"] == 0.3 and tests.loc[("a", "b"), "only A hits"] == 3
    assert "per-image top-1 hits" in report(results, 50, "top1")
    assert summary_table(results_table(), "top1").loc[0, "test top-1"] == "n/a"  # a table measured before top-1
