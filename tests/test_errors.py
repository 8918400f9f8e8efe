"""Only the project's own error types are bad input (one line, exit 2): a bug elsewhere keeps its traceback."""
import pytest

import evaluation
import main
from running import search_cli
from running import search_setup
from target import resolve_device
from utils import UsageError


def internal_error(*args, **kwargs):
    raise ValueError("an internal error, not the user's")


@pytest.mark.parametrize("module,function,call", [
    (main, "run", lambda: main.main(["--dry_run"])),
    (search_cli, "run", lambda: search_cli.main(["--constraint_max_model_size", "2e7", "--constraint_min_precision",
                                                 "0.4"], "AutoML.py", "ea")),
    (evaluation, "make_plots", lambda: evaluation.main(["plots", "."])),
])
def test_an_internal_value_error_is_raised_not_reported_as_bad_input(monkeypatch, module, function, call):
    monkeypatch.setattr(module, function, internal_error)
    with pytest.raises(ValueError, match="internal error"):
        call()


def test_an_unknown_device_is_a_usage_error():
    with pytest.raises(UsageError, match="--device"):
        resolve_device("tpu")


def test_a_search_whose_evaluations_all_fail_with_one_bug_stops_with_exit_1(monkeypatch, tiny_data, tmp_path, caplog):
    class Buggy(search_setup.Target):
        def __call__(self, config, budget, **kwargs):
            raise_in_training = {**config, "lr_schedule": "no such schedule"}  # schedules.py raises ValueError
            return super().__call__(raise_in_training, budget, **kwargs)
    monkeypatch.setattr(search_setup, "Target", Buggy)
    code = search_cli.main(["--constraint_max_model_size", "2e5", "--constraint_min_precision", "0.1", "--max_time",
                            "60", "--max_budget", "2", "--data_dir", str(tiny_data), "--output_dir", str(tmp_path),
                            "--quiet"], "AutoML.py", "ea")
    assert code == 1 and "3 evaluations in a row (ValueError" in caplog.text
    assert "Traceback" in caplog.text  # each failed evaluation logged its traceback
