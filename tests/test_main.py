import json
import subprocess
import sys

import pandas as pd
import pytest
import torch

from deploy.bundle import Bundle
import main as main_script
from conftest import REPO_ROOT, is_one_line_error, make_image_folder, run_in_process

TINY_CONFIG = {"n_conv_layers": 1, "n_channels_conv_0": 16, "kernel_size": 3, "n_fc_layers": 1,
               "n_channels_fc_0": 16, "batch_size": 8, "learning_rate_init": 0.01}


def run_main(*args):
    return subprocess.run([sys.executable, "src/main.py", *map(str, args)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def config_file(tmp_path):
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(TINY_CONFIG))
    return path


def test_cross_validation_end_to_end(tiny_data, config_file, tmp_path):
    out = tmp_path / "out"
    done = run_main("-c", config_file, "-e", 2, "--data_dir", tiny_data, "--output_dir", out, "-s", 1e6,
                    "--device", "cpu")
    assert done.returncode == 0, done.stderr
    assert "Total params" in done.stdout and "constraint max_model_size" in done.stdout
    result = json.loads((out / "result_cv.json").read_text())
    assert result["mode"] == "cv" and result["metrics"]["status"] == "ok" and len(result["metrics"]["folds"]) == 3
    assert result["configuration"]["n_channels_conv_0"] == 16 and result["constraints"]["max_model_size"]["ok"]
    confusion = pd.read_csv(out / "confusion_matrix_cv.csv", index_col=0)
    assert confusion.values.sum() == 4 * 9 and list(confusion.columns) == [f"class{i}" for i in range(4)]


def test_test_mode_saves_model_and_checks_precision(tiny_data, config_file, tmp_path):
    out = tmp_path / "out"
    done = run_main("-c", config_file, "-t", "-e", 2, "--data_dir", tiny_data, "--output_dir", out,
                    "-m", out / "model.pt", "-p", 1.0)
    result = json.loads((out / "result_test.json").read_text())
    holds = result["constraints"]["min_precision"]["ok"]
    assert done.returncode == (0 if holds else 3)
    assert result["metrics"]["precision"] == result["constraints"]["min_precision"]["value"]
    saved = torch.load(out / "model.pt", weights_only=True)
    assert saved["classes"] == [f"class{i}" for i in range(4)] and "0.weight" in saved["state_dict"]
    assert Bundle.load(out / "model.pt").input_shape == (3, 8, 8)


def test_size_constraint_violation_exits_3_after_writing(tiny_data, config_file, tmp_path):
    done = run_main("-c", config_file, "-e", 1, "--data_dir", tiny_data, "--output_dir", tmp_path, "-s", 100)
    assert done.returncode == 3 and "VIOLATED" in done.stdout
    assert json.loads((tmp_path / "result_cv.json").read_text())["constraints"]["max_model_size"]["ok"] is False


def test_dry_run_on_real_data_reports_default_size(real_data, tmp_path):
    done = run_main("--dry_run", "--data_dir", real_data, "-s", 2e7, "--output_dir", tmp_path)
    assert done.returncode == 0, done.stderr
    assert "model size: 6,360,741 parameters" in done.stdout
    assert not (tmp_path / "result_cv.json").exists()
    assert run_main("--dry_run", "--data_dir", real_data, "-s", 6e6).returncode == 3


def write(tmp_path, text):
    path = tmp_path / "bad.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize("make_args,needle", [
    (lambda d, t: ["-c", t / "missing.json"], "no such file"),
    (lambda d, t: ["-c", write(t, "{not json")], "not valid JSON"),
    (lambda d, t: ["-c", write(t, '{"colour": 3}')], "colour"),
    (lambda d, t: ["-c", write(t, '{"batch_size": "big"}')], "batch_size"),
    (lambda d, t: ["-c", write(t, '{"dropout_rate": 0.9}')], "dropout_rate"),
    (lambda d, t: ["-e", "0"], "--epochs"),
    (lambda d, t: ["-s", "-5"], "max_model_size"),
    (lambda d, t: ["-p", "1.5"], "min_precision"),
    (lambda d, t: ["--bogus"], "--bogus"),
    (lambda d, t: ["-t", "maybe"], "-t/--test: expected True or False, got 'maybe'"),
    (lambda d, t: ["--data_dir", t / "nowhere"], "nowhere"),
    (lambda d, t: ["-c", write(t, '{"n_conv_layers": 3}'), "--data_dir", make_image_folder(t / "s", size=4)],
     "pooling"),
])
def test_bad_input_is_one_line_and_exit_2(tiny_data, tmp_path, capsys, make_args, needle):
    done = run_in_process(capsys, main_script.main, [*make_args(tiny_data, tmp_path), "--dry_run"])
    assert is_one_line_error(done, needle), done.stderr


@pytest.mark.parametrize("argv,test", [([], False), (["-t"], True), (["-t", "True"], True), (["-t", "False"], False),
                                       (["--test", "True"], True), (["-t", "-e", "1"], True)])
def test_test_mode_is_a_flag_and_also_takes_the_original_true_or_false(argv, test):
    assert main_script.build_parser().parse_args(argv).test is test
