"""The original project's two commands, typed in src/ exactly as it documented them (with a short --max_time, and
-e 1 for main.py), on the real data; the up-arrow resume: the same command line plus --resume; the committed runs."""
import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT, is_one_line_error
from running import search_cli
from prepare_data import DEFAULT_DATA_DIR
from reporting.runs import find_runs
from running.run_log import RunFiles
from running.resume import given_flags, resumed_settings
from running.search_cli import build_parser
from utils import read_json

SEARCH = "python AutoML.py --pop_size 50 --num_children 10 --hyperband True"
MAX_TIME = " --max_time 30"  # a short search: whether it finishes a full evaluation depends on the machine
ANSWER = REPO_ROOT / "runs_precision" / "study" / "min_precision_0.39"  # a committed run: the answer main.py measures


def typed(src: Path, command: str) -> subprocess.CompletedProcess:
    """A command line as a user types it in src/ (python: this interpreter)."""
    return subprocess.run([sys.executable, *shlex.split(command)[1:]], cwd=src, capture_output=True, text=True,
                          timeout=240)


@pytest.fixture(scope="module")
def searched(real_data, tmp_path_factory) -> tuple[Path, Path]:
    """A copy of src/ beside a micro17flower/ that is the real data (the commands write where they would for a
    user, but not into this checkout), and the run file of the original search made there."""
    root = tmp_path_factory.mktemp("project")
    src = root / "src"
    shutil.copytree(REPO_ROOT / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "micro17flower").symlink_to(real_data.resolve(), target_is_directory=True)
    done = typed(src, SEARCH + MAX_TIME)
    assert done.returncode in (0, 3), done.stderr
    return src, next(src.glob("automl_run_*.json"))


def test_the_original_search_runs_as_written_with_the_original_limits(searched):
    src, run_file = searched
    assert run_file.name.startswith("automl_run_popSize_50_numChildren_10_hyperband_True_minPrecision_0.39_"
                                    "maxModelSize_20000000_")
    record = json.loads(run_file.read_text())
    settings = record["settings"]
    assert (settings["pop_size"], settings["num_children"], settings["hyperband"]) == (50, 10, True)
    assert (settings["constraint_max_model_size"], settings["constraint_min_precision"]) == (20_000_000, 0.39)
    assert record["finished"] and record["evaluations"]


def test_typed_in_src_the_search_names_the_next_command_as_typed_there(monkeypatch):
    monkeypatch.chdir(REPO_ROOT / "src")
    files = RunFiles(Path("."), "x")
    assert search_cli.test_command(files, {"max_budget": 50, "data_dir": str(DEFAULT_DATA_DIR)}) == \
        "python main.py -c opt_cfg.json -t --output_dir ."


def test_the_same_command_line_plus_resume_is_accepted_and_a_changed_flag_refused(searched):
    src, run_file = searched
    before = json.loads(run_file.read_text())
    done = typed(src, f"{SEARCH}{MAX_TIME} --resume {run_file.name}")
    assert done.returncode in (0, 3), done.stderr
    after = json.loads(run_file.read_text())
    assert after["settings"] == before["settings"]
    assert after["evaluations"][:len(before["evaluations"])] == before["evaluations"]
    refused = typed(src, f"{SEARCH.replace('--num_children 10', '--num_children 5')} --resume {run_file.name}")
    assert is_one_line_error(refused, "--num_children was 10 and is given as 5"), refused.stderr


def test_the_original_evaluation_runs_as_written_on_the_answer_kept_in_runs(searched):
    src, _ = searched
    runs = src / "runs"  # where the original kept its runs: here a committed search's answer and its run file
    runs.mkdir()
    (answer,) = [path.name for path in ANSWER.glob("opt_cfg_*.json")]
    shutil.copy(ANSWER / answer, runs / answer)
    shutil.copy(ANSWER / answer.replace("opt_cfg_", "automl_run_"), runs)
    done = typed(src, f"python main.py -c runs/{answer} -t True -e 1")
    assert done.returncode in (0, 3), done.stderr
    result = json.loads((src / "result_test.json").read_text())
    assert result["mode"] == "test" and result["epochs"] == 1 and result["metrics"]["status"] == "ok"


def test_the_committed_runs_are_still_read_and_resumable():
    """Runs recorded before --num_children existed: read as steady-state EA (one child per ranking), and --resume
    takes their settings with the command line that made them."""
    runs = find_runs([REPO_ROOT / "runs_precision", REPO_ROOT / "runs_params"])
    assert len(runs) >= 40 and {run.optimizer for run in runs} >= {"EA with Hyperband", "random search"}
    parser = build_parser("AutoML.py", evolutionary=True)
    defaults = vars(parser.parse_args([]))
    for run in runs:
        if run.settings.get("algorithm") != "ea":
            continue
        children = str(run.settings.get("num_children", 1))  # a run made before the flag: its default
        argv = ["--resume", str(run.path), "--pop_size", str(run.settings["pop_size"]), "--num_children", children]
        settings = resumed_settings(parser.parse_args(argv), read_json(run.path), given_flags(parser, argv), defaults)
        assert settings["output_dir"] == str(run.path.parent) and "resumes" not in settings
