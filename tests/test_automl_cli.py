import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO_ROOT, is_one_line_error, make_image_folder, run_in_process
from main import read_config
from running.run_log import read_record
from running.search_cli import main as search_main


def automl(*args, script="src/AutoML.py", **kw):
    return subprocess.run([sys.executable, script, *map(str, args)], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=240, **kw)


REQUIRED = ["--constraint_max_model_size", "2e5", "--constraint_min_precision", "0.1"]


def in_process(capsys, argv, prog="AutoML.py"):
    """The search's main in this process (torch imported once); it puts back the SIGTERM handler it sets."""
    handler = signal.getsignal(signal.SIGTERM)
    done = run_in_process(capsys, lambda args: search_main(args, prog, "random" if "random" in prog else "ea"), argv)
    assert signal.getsignal(signal.SIGTERM) is handler
    return done


@pytest.mark.parametrize("args,needle", [
    (["--constraint_max_model_size", "0", "--constraint_min_precision", "0.4"], "constraint_max_model_size"),
    (["--constraint_max_model_size", "-3", "--constraint_min_precision", "0.4"], "constraint_max_model_size"),
    (["--constraint_max_model_size", "2.5", "--constraint_min_precision", "0.4"], "constraint_max_model_size"),
    (["--constraint_max_model_size", "2e7", "--constraint_min_precision", "1.2"], "constraint_min_precision"),
    ([*REQUIRED, "--num_children", "0"], "--num_children"),
    ([*REQUIRED, "--max_time", "0"], "--max_time"),
    ([*REQUIRED, "--pop_size", "1"], "--pop_size"),
    ([*REQUIRED, "--min_budget", "60", "--max_budget", "50"], "--min_budget"),
    ([*REQUIRED, "--eta", "1"], "--eta"),
    ([*REQUIRED, "--hyperband", "maybe"], "--hyperband"),
    ([*REQUIRED, "--warm_start", "maybe"], "--warm_start"),
    ([*REQUIRED, "--resume", "/nonexistent/run.json"], "no such file"),
    ([*REQUIRED, "--device", "tpu"], "--device"),
    (["--constraint_max_model_size", "100", "--constraint_min_precision", "0.4"], "smallest network"),
    ([*REQUIRED, "--constraint_max_macs", "2.5"], "constraint_max_macs"),
    ([*REQUIRED, "--constraint_max_macs", "27727"], "(27728 multiply-accumulates per image)"),  # 3x8x8, 4 classes
])
def test_bad_flags_are_one_line_exit_2(tiny_data, tmp_path, capsys, args, needle):
    done = in_process(capsys, [*args, "--data_dir", tiny_data, "--output_dir", tmp_path])
    assert is_one_line_error(done, needle), done.stderr
    assert not list(tmp_path.glob("automl_run_*"))


def test_smallest_size_is_named(tiny_data, tmp_path, capsys):
    done = in_process(capsys, ["--constraint_max_model_size", "100", "--data_dir", tiny_data, "--output_dir", tmp_path])
    assert "parameters" in done.stderr and any(ch.isdigit() for ch in done.stderr.split("(")[-1])


def test_random_search_has_no_evolution_flags(tiny_data, capsys):
    done = in_process(capsys, [*REQUIRED, "--pop_size", "5", "--data_dir", tiny_data], "AutoML_random_search.py")
    assert done.returncode == 2 and "--pop_size" in done.stderr


@pytest.mark.parametrize("script", ["src/AutoML.py", "src/AutoML_random_search.py"])
def test_end_to_end_run_on_tiny_data(tmp_path, script):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=12)
    out = tmp_path / "out"
    started = time.monotonic()
    evolution = [] if "random" in script else ["--pop_size", "4"]
    done = automl("--constraint_max_model_size", "2e4", "--constraint_min_precision", "0.1", "--max_time", "15",
                  "--max_budget", "6", "--seed", "3", "--data_dir", data, "--output_dir", out, "--quiet", "true",
                  *evolution, script=script)
    elapsed = time.monotonic() - started
    assert done.returncode in (0, 3), done.stderr
    assert elapsed < 15 + 15  # start-up, data, and the reserve for writing
    record = json.loads(next(out.glob("automl_run_*.json")).read_text())
    assert record["finished"] and len(record["evaluations"]) >= 3
    assert all(e["model_size"] <= 2e4 for e in record["evaluations"])
    config = read_config(out / "opt_cfg.json")
    assert config == record["best"]["configuration"]
    assert len(pd.read_csv(next(out.glob("*.csv")))) == len(record["evaluations"])
    assert ("Constraints met" in done.stdout) == (done.returncode == 0)
    assert f"opt_cfg.json -t -e 6 --data_dir {data} --output_dir {out}" in done.stdout  # as the search measured
    assert not [p for p in out.iterdir() if p.is_dir()]


def test_from_scratch_under_a_short_deadline_the_cheap_rungs_run_and_the_answer_has_every_fold(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=12)
    out = tmp_path / "out"
    done = automl("--constraint_max_model_size", "2e4", "--constraint_min_precision", "0.1", "--max_time", "20",
                  "--max_budget", "9", "--min_budget", "1", "--seed", "1", "--warm_start", "none", "--data_dir", data,
                  "--output_dir", out, "--quiet")
    assert done.returncode in (0, 3), done.stderr
    record = json.loads(next(out.glob("automl_run_*.json")).read_text())
    evaluations = record["evaluations"]
    assert {e["origin"]["kind"] for e in evaluations} <= {"random", "child"}  # no portfolio, no default
    assert {"child"} <= {e["origin"]["kind"] for e in evaluations}
    ok = [e for e in evaluations if e["status"] == "ok"]
    assert {1, 3} <= {e["budget"] for e in ok}  # two budgets below max_budget
    assert all(len(e["folds"]) == (3 if e["budget"] == 9 else 1) for e in ok)
    best = record["best"]
    answer = next(e for e in reversed(ok) if e["member"] == best["member"])
    assert best["budget"] == 9 and len(answer["folds"]) == 3


def test_random_search_with_the_portfolio_trains_it_first(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=12)
    out = tmp_path / "out"
    done = automl("--constraint_max_model_size", "2e5", "--constraint_min_precision", "0.1", "--max_time", "10",
                  "--max_budget", "2", "--warm_start", "portfolio", "--data_dir", data, "--output_dir", out,
                  "--quiet", script="src/AutoML_random_search.py")
    assert done.returncode in (0, 3), done.stderr
    kinds = [e["origin"]["kind"] for e in json.loads(next(out.glob("automl_run_*.json")).read_text())["evaluations"]]
    assert kinds[:5] == ["portfolio"] * 5 and set(kinds[5:]) <= {"random"}  # the default is over 2e5


def test_sigint_leaves_valid_files_and_resume_continues(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=4, per_class=12)
    out = tmp_path / "out"
    args = [sys.executable, "src/AutoML.py", "--constraint_max_model_size", "2e4", "--constraint_min_precision",
            "0.1", "--max_time", "30", "--max_budget", "9", "--pop_size", "4", "--data_dir", str(data),
            "--output_dir", str(out), "--quiet", "--warm_start", "none"]
    # As from a terminal: a shell's background jobs (pytest run with `&`) inherit SIGINT ignored.
    process = subprocess.Popen(args, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        runs = list(out.glob("automl_run_*.json"))
        record = read_record(runs[0]) if runs else {}  # the run file and the journal of the running search
        if record.get("best") and len(record["evaluations"]) >= 4:  # from scratch: once a member reached 9
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    run_file = next(out.glob("automl_run_*.json"))
    record = json.loads(run_file.read_text())
    assert record["interrupted"] and len(record["evaluations"]) >= 4
    assert read_config(out / "opt_cfg.json") == record["best"]["configuration"]
    assert json.loads((out / "opt_cfg.json").read_text())["origin"] == record["best"]["origin"]
    assert record["settings"]["warm_start"] == "none"
    moved = tmp_path / "moved"
    out.rename(moved)
    run_file = moved / run_file.name
    done = automl("--resume", run_file, "--quiet", "--max_time", "45")  # 15 s more than the recorded 30
    assert done.returncode in (0, 3), done.stderr
    assert not out.exists()
    resumed = json.loads(run_file.read_text())
    assert resumed["finished"] and len(resumed["evaluations"]) > len(record["evaluations"])
    assert resumed["evaluations"][:len(record["evaluations"])] == record["evaluations"]
    assert resumed["settings"]["warm_start"] == "none"
    assert resumed["settings"]["max_time"] == 30 and resumed["settings"]["resumes"] == [{"max_time": 45.0}]
    assert {e["origin"]["kind"] for e in resumed["evaluations"]} <= {"random", "child"}


def test_objective_top1_is_searched_recorded_and_measured_on_three_classes(tmp_path):
    data = make_image_folder(tmp_path / "data", n_classes=3, per_class=12)
    out = tmp_path / "out"
    done = automl("--max_time", "12", "--max_budget", "3", "--pop_size", "4", "--objective", "top1", "--data_dir",
                  data, "--output_dir", out, "--quiet")
    assert done.returncode in (0, 3), done.stderr
    assert "top-3 accuracy is always 1.0" not in done.stderr  # the warning is for top-3 alone
    record = json.loads(next(out.glob("automl_run_*.json")).read_text())
    assert record["settings"]["objective"] == "top1" and record["warnings"] == []
    assert f"cross-validated top-1 accuracy {record['best']['top1_accuracy']:.4f}" in done.stdout
    assert all("top1_accuracy" in e for e in record["evaluations"])
    assert "--objective top1" in done.stdout  # the main.py command it prints
    measured = subprocess.run([sys.executable, "src/main.py", "-c", out / "opt_cfg.json", "-t", "-e", "1",
                               "--objective", "top1", "--data_dir", data, "--output_dir", out], cwd=REPO_ROOT,
                              capture_output=True, text=True, timeout=120)
    assert "test/: top-1 accuracy" in measured.stdout, measured.stderr
    assert json.loads((out / "result_test.json").read_text())["objective"] == "top1"
