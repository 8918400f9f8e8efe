"""Every script: a path of the wrong kind (a file for a folder, a folder for a file) and a dataset whose class count
makes top-3 accuracy meaningless are one-line errors with exit code 2 (or, for 2-3 classes, a recorded warning)."""
import json

import pytest

import main as main_script
import prepare_data
from running import search_cli
from conftest import is_one_line_error, make_image_folder, run_in_process
from evaluation import main as evaluation_main


def automl(argv):
    return search_cli.main(argv, "AutoML.py", "ea")


def random_search(argv):
    return search_cli.main(argv, "AutoML_random_search.py", "random")


REQUIRED = ["--constraint_max_model_size", "2e5", "--constraint_min_precision", "0.1"]


@pytest.fixture
def places(tmp_path):
    a_file = tmp_path / "a_file.json"
    a_file.write_text("{}")
    a_folder = tmp_path / "a_folder"
    a_folder.mkdir()
    return a_file, a_folder


@pytest.mark.parametrize("script,args,flag", [
    (main_script.main, lambda f, d: ["-c", d], "--config"),
    (main_script.main, lambda f, d: ["--data_dir", f], "--data_dir"),
    (main_script.main, lambda f, d: ["--output_dir", f], "--output_dir"),
    (main_script.main, lambda f, d: ["-m", d], "--model"),
    (automl, lambda f, d: [*REQUIRED, "--data_dir", f], "--data_dir"),
    (automl, lambda f, d: [*REQUIRED, "--output_dir", f], "--output_dir"),
    (automl, lambda f, d: [*REQUIRED, "--resume", d], "--resume"),
    (random_search, lambda f, d: [*REQUIRED, "--data_dir", f], "--data_dir"),
    (random_search, lambda f, d: [*REQUIRED, "--output_dir", f], "--output_dir"),
    (random_search, lambda f, d: [*REQUIRED, "--resume", d], "--resume"),
    (prepare_data.main, lambda f, d: ["--source", f], "--source"),
    (prepare_data.main, lambda f, d: ["--target", f], "--target"),
    (evaluation_main, lambda f, d: ["plots", d, "--out", f], "--out"),
    (evaluation_main, lambda f, d: ["test", "--default", "--data_dir", f], "--data_dir"),
])
def test_path_of_the_wrong_kind_is_one_line(capsys, places, script, args, flag):
    a_file, a_folder = places
    done = run_in_process(capsys, script, args(a_file, a_folder))
    assert is_one_line_error(done, flag), done.stderr
    assert "expected a folder" in done.stderr or "expected a file" in done.stderr


@pytest.mark.parametrize("script,extra", [
    (main_script.main, ["--dry_run"]),
    (automl, REQUIRED),
    (random_search, REQUIRED),
])
def test_one_class_is_an_error(capsys, tmp_path, script, extra):
    data = make_image_folder(tmp_path / "one", n_classes=1)
    done = run_in_process(capsys, script, [*extra, "--data_dir", data, "--output_dir", tmp_path])
    assert is_one_line_error(done, "only one class"), done.stderr


def test_three_classes_warn_in_the_log_and_the_result_files(capsys, caplog, tmp_path):
    data = make_image_folder(tmp_path / "three", n_classes=3)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"n_conv_layers": 1, "n_channels_conv_0": 16, "n_fc_layers": 1,
                               "n_channels_fc_0": 8, "batch_size": 8}))
    done = run_in_process(capsys, main_script.main, ["-c", cfg, "-e", 1, "--data_dir", data, "--output_dir",
                                                      tmp_path, "--device", "cpu"])
    assert done.returncode == 0
    assert "only 3 classes" in caplog.text
    assert "top-3 accuracy is always 1.0" in json.loads((tmp_path / "result_cv.json").read_text())["warnings"][0]
