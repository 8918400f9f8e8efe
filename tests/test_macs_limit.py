"""--constraint_max_macs in a real search on tiny data: nothing over the limit is trained, resume keeps it."""
import json

from running import search_cli
from budget.closed_forms import count_macs

SHAPE, CLASSES = (3, 8, 8), 4  # the tiny_data fixture: its smallest network makes 27,728 multiply-accumulates
MAX_MACS = 60_000  # tight: one 3x3 convolution of at most 34 channels, or two branches of the narrowest


def search(*args) -> int:
    return search_cli.main([str(arg) for arg in args], "AutoML.py", "ea")


def assert_within(record):
    assert record["settings"]["constraint_max_macs"] == MAX_MACS
    assert record["evaluations"] and all(
        e["macs"] == count_macs(e["configuration"], SHAPE, CLASSES) <= MAX_MACS for e in record["evaluations"])
    assert count_macs(record["best"]["configuration"], SHAPE, CLASSES) <= MAX_MACS


def test_a_tight_macs_limit_holds_for_every_evaluation_and_a_resumed_run_keeps_it(tiny_data, tmp_path, capsys):
    out = tmp_path / "out"
    code = search("--constraint_max_model_size", "2e5", "--constraint_min_precision", "0.1", "--constraint_max_macs",
                  "6e4", "--max_time", "8", "--max_budget", "2", "--pop_size", "4", "--data_dir", tiny_data,
                  "--output_dir", out, "--quiet")
    assert code in (0, 3)
    assert "at most 60,000 multiply-accumulates per image" in capsys.readouterr().out
    run_file = next(out.glob("automl_run_*.json"))
    record = json.loads(run_file.read_text())
    assert_within(record)
    assert {e["origin"]["kind"] for e in record["evaluations"]} >= {"portfolio"}  # repaired into the limit
    assert search("--resume", run_file, "--max_time", "11", "--quiet") in (0, 3)
    resumed = json.loads(run_file.read_text())
    assert len(resumed["evaluations"]) > len(record["evaluations"])
    assert_within(resumed)
