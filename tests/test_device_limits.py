"""--constraint_max_flash, --constraint_max_ram and --constraint_max_macs in real searches on tiny data: nothing
over them is trained, the run file records what each network costs and the run's front, a resumed run keeps them,
--prefer_smaller returns the one-standard-error rule's network, and a limit no network meets stops the run naming
the smallest figure."""
import json

import pytest

from budget.closed_forms import network_costs
from conftest import is_one_line_error, run_in_process
from running import search_cli
from search.front import one_standard_error_choice

SHAPE, CLASSES = (3, 8, 8), 4  # the tiny_data fixture: its smallest network stores 974 bytes and needs 1,280 of RAM
MAX_FLASH, MAX_RAM = 6000, 2048  # tight: a few narrow layers, no batch norm after a 16-wide first convolution
MAX_MACS = 60_000  # one 3x3 convolution of at most 34 channels, or two branches of the narrowest


def search(*args, algorithm: str = "ea") -> int:
    prog = "AutoML.py" if algorithm == "ea" else "AutoML_random_search.py"
    return search_cli.main([str(arg) for arg in args], prog, algorithm)


def assert_within(record):
    settings = record["settings"]
    assert (settings["constraint_max_flash"], settings["constraint_max_ram"]) == (MAX_FLASH, MAX_RAM)
    assert settings["constraint_max_macs"] == MAX_MACS
    for entry in [*record["evaluations"], record["best"]]:
        costs = network_costs(entry["configuration"], SHAPE, CLASSES)
        assert (entry["flash"], entry["ram"], entry["macs"]) == (costs.flash, costs.ram, costs.macs)
        assert costs.flash <= MAX_FLASH and costs.ram <= MAX_RAM and costs.macs <= MAX_MACS
    assert record["evaluations"]


def test_byte_and_macs_limits_hold_for_every_evaluation_and_a_resumed_run_keeps_them(tiny_data, tmp_path,
                                                                                     capsys):
    out = tmp_path / "out"
    code = search("--constraint_min_precision", "0.1", "--constraint_max_flash", MAX_FLASH, "--constraint_max_ram",
                  MAX_RAM, "--constraint_max_macs", "6e4", "--max_time", "8", "--max_budget", "2", "--pop_size", "4",
                  "--data_dir", tiny_data, "--output_dir", out, "--quiet")
    assert code in (0, 3)
    printed = capsys.readouterr().out
    assert "at most 60,000 multiply-accumulates per image, at most 6,000 B of flash, at most 2,048 B of RAM" in printed
    assert "(standard error over folds)" in printed
    assert f"-t -e 2 --data_dir {tiny_data} --max_flash {MAX_FLASH} --max_ram {MAX_RAM} --output_dir" in printed
    run_file = next(out.glob("automl_run_*.json"))
    assert f"_maxFlash_{MAX_FLASH}_maxRam_{MAX_RAM}_" in run_file.name
    record = json.loads(run_file.read_text())
    assert_within(record)
    assert {e["origin"]["kind"] for e in record["evaluations"]} >= {"portfolio"}  # repaired into the limits
    assert record["front"] and all(row["flash"] <= MAX_FLASH for row in record["front"])
    assert search("--resume", run_file, "--max_time", "11", "--quiet") in (0, 3)
    resumed = json.loads(run_file.read_text())
    assert len(resumed["evaluations"]) > len(record["evaluations"])
    assert_within(resumed)


def test_prefer_smaller_returns_the_smallest_network_within_one_standard_error(tiny_data, tmp_path, capsys):
    out = tmp_path / "out"
    code = search("--constraint_min_precision", "0.1", "--constraint_max_flash", 60000, "--max_time", "10",
                  "--max_budget", "2", "--warm_start", "none", "--prefer_smaller", "--data_dir", tiny_data,
                  "--output_dir", out, "--quiet", algorithm="random")
    assert code == 0
    record = json.loads(next(out.glob("automl_run_*.json")).read_text())
    chosen = one_standard_error_choice(record["evaluations"], "top3_accuracy", 0.1, 2, {"flash": 60000})
    assert record["best"]["member"] == chosen["member"]
    full = [e for e in record["evaluations"] if e["status"] == "ok" and e["precision"] >= 0.1]
    assert record["best"]["flash"] <= min(e["flash"] for e in full if e["top3_accuracy"] == max(
        f["top3_accuracy"] for f in full))
    assert "the smallest network within one standard error of the best" in capsys.readouterr().out
    answer = json.loads((out / "opt_cfg.json").read_text())
    assert {key: value for key, value in answer.items() if key != "origin"} == chosen["configuration"]


@pytest.mark.parametrize("flag,figure", [("--constraint_max_flash", "974 bytes of flash"),
                                         ("--constraint_max_ram", "1280 bytes of RAM")])
def test_a_byte_limit_below_the_smallest_network_stops_the_run_naming_it(tiny_data, tmp_path, capsys, flag, figure):
    done = run_in_process(capsys, lambda argv: search(*argv), [flag, "900", "--max_time", "5", "--data_dir",
                                                               tiny_data, "--output_dir", tmp_path, "--quiet"])
    assert is_one_line_error(done, f"{flag} 900 is below the smallest network") and figure in done.stderr
