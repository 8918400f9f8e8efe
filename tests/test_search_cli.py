"""Which configurations start a run: the portfolio and the default, cheapest first, within size and time."""
import pytest

from running.resume import current, given_flags, resumed_settings
from running.search_cli import build_parser, settings_from
from running.search_setup import Search, planned, training_data
from utils import UsageError
from running.search_run import RESERVE_SECONDS
from search.space import DEFAULT_CONFIG, PORTFOLIO


def search(data, out, algorithm="ea", extra=()):
    args = build_parser("AutoML.py", evolutionary=algorithm == "ea").parse_args(
        ["--constraint_max_model_size", "2e7", "--constraint_min_precision", "0.1", "--data_dir", str(data),
         "--output_dir", str(out), *extra])
    settings = settings_from(args, algorithm)
    return Search(planned(settings), "test", training_data(settings))


def initial(s: Search) -> list[dict]:
    return [config for config, _ in s.optimizer.initial]


def default_seconds(s: Search) -> float:
    return s.policy.full_seconds(DEFAULT_CONFIG)


def test_ea_starts_from_the_portfolio_cheapest_first_then_the_default(tiny_data, tmp_path):
    s = search(tiny_data, tmp_path)
    macs = [s.target.model_macs(c) for c, _ in s.optimizer.proven]
    assert len(macs) == len(PORTFOLIO) and macs == sorted(macs)
    assert sorted(origin["portfolio_member"] for _, origin in s.optimizer.proven) == list(range(len(PORTFOLIO)))
    assert list(s.optimizer.initial) == [(DEFAULT_CONFIG, {"kind": "default"})]


@pytest.mark.parametrize("warm_start,portfolio,default", [("portfolio", True, True), ("default", False, True),
                                                          ("none", False, False)])
def test_the_warm_start_is_what_the_flag_asks_for(tiny_data, tmp_path, warm_start, portfolio, default):
    ea = search(tiny_data, tmp_path / "ea", extra=["--warm_start", warm_start]).optimizer
    assert (len(ea.proven) == len(PORTFOLIO) if portfolio else not ea.proven)
    assert [origin["kind"] for _, origin in ea.initial] == (["default"] if default else [])
    rs = search(tiny_data, tmp_path / "rs", "random", ["--warm_start", warm_start]).optimizer
    assert [origin["kind"] for _, origin in rs.initial] == (
        ["portfolio"] * len(PORTFOLIO) * portfolio + ["default"] * default)


def test_the_default_is_left_out_when_over_the_size_limit(tiny_data, tmp_path):
    s = search(tiny_data, tmp_path, extra=["--constraint_max_model_size", "1e6"])
    assert DEFAULT_CONFIG not in initial(s)
    assert all(s.target.model_size(c) <= 1e6 for c in initial(s))


@pytest.mark.parametrize("algorithm", ["ea", "random"])
def test_a_macs_limit_repairs_the_portfolio_and_leaves_out_the_default(tiny_data, tmp_path, algorithm):
    s = search(tiny_data, tmp_path, algorithm, ["--constraint_max_macs", "6e4"])
    starts = [config for config, _ in [*getattr(s.optimizer, "proven", []), *s.optimizer.initial]]
    assert len(starts) == len(PORTFOLIO) and DEFAULT_CONFIG not in starts
    assert all(s.target.model_macs(c) <= 6e4 and s.target.model_size(c) <= 2e7 for c in starts)


@pytest.mark.parametrize("algorithm,extra", [("random", []), ("ea", ["--hyperband", "False"])])
def test_trained_straight_the_default_joins_only_if_it_can_finish(tiny_data, tmp_path, algorithm, extra):
    seconds = default_seconds(search(tiny_data, tmp_path / "probe", algorithm))
    short = search(tiny_data, tmp_path / "short", algorithm, [*extra, "--max_time", str(seconds / 2)])
    long = search(tiny_data, tmp_path / "long", algorithm, [*extra, "--max_time", str(seconds * 2)])
    assert DEFAULT_CONFIG not in initial(short)
    assert DEFAULT_CONFIG in initial(long)


def test_with_hyperband_the_default_joins_however_short_the_run(tiny_data, tmp_path):
    seconds = default_seconds(search(tiny_data, tmp_path / "probe"))
    assert DEFAULT_CONFIG in initial(search(tiny_data, tmp_path / "run", extra=["--max_time", str(seconds / 2)]))


@pytest.mark.parametrize("max_time,members", [(600, len(PORTFOLIO)), (60, 3)])
def test_on_micro17flower_the_portfolio_opens_the_run_at_max_budget_as_far_as_it_fits(real_data, tmp_path,
                                                                                      max_time, members):
    s = search(real_data, tmp_path, extra=["--max_time", str(max_time)])
    assert len(s.optimizer.proven) == members
    assert s.optimizer.ask(seconds_left=max_time - RESERVE_SECONDS).budget == 50


@pytest.mark.parametrize("evolutionary", [True, False])
def test_help_shows_every_default_and_no_missing_one(evolutionary):
    text = " ".join(build_parser("AutoML.py", evolutionary).format_help().split())
    assert "--max_time MAX_TIME wall-clock seconds (default: 3600.0)" in text
    assert ("steady-state survival: the parents' pool (the original's mu) (default: 50)" in text) == evolutionary
    assert ("(mu + lambda)); 1: each child from the latest one (default: 1)" in text) == evolutionary
    assert "largest network allowed, in parameters (2e7 or 20000000) (default: 20000000)" in text
    assert "smallest macro precision allowed, in [0, 1] (default: 0.39)" in text
    assert "--warm_start {portfolio,default,none}" in text
    assert "(default: None)" not in text


def resumed(tmp_path, recorded, *flags):
    run_file = tmp_path / "automl_run_x.json"
    run_file.write_text("{}")
    parser = build_parser("AutoML.py", evolutionary=True)
    argv = ["--resume", str(run_file), *flags]
    return resumed_settings(parser.parse_args(argv), recorded, given_flags(parser, argv))


def test_a_run_on_workers_may_resume_on_other_workers_with_the_same_plan(tmp_path):
    recorded = {"settings": {"n_workers": 2, "scheduler_file": None, "planned_workers": 2, "max_time": 60}}
    settings = resumed(tmp_path, recorded, "--scheduler_address", "tcp://127.0.0.1:8786")
    assert (settings["n_workers"], settings["scheduler_address"], settings["planned_workers"]) == (
        None, "tcp://127.0.0.1:8786", 2)
    assert resumed(tmp_path, recorded)["n_workers"] == 2
    assert resumed(tmp_path, recorded)["output_dir"] == str(tmp_path)


def test_a_run_made_in_one_process_resumes_in_one_process(tmp_path):
    with pytest.raises(UsageError, match="resumes in one process; drop --n_workers"):
        resumed(tmp_path, {"settings": {"n_workers": None}}, "--n_workers", "2")


def test_a_resumed_run_may_be_given_more_time_threads_and_a_device_and_records_each_change(tmp_path):
    recorded = {"settings": {"n_workers": None, "max_time": 60.0, "threads": None, "device": "auto",
                             "resumes": [{"max_time": 90.0}]}}
    settings = resumed(tmp_path, recorded, "--max_time", "600", "--threads", "1", "--device", "auto", "--quiet")
    assert settings["max_time"] == 60.0  # what the run planned with, kept
    assert settings["resumes"] == [{"max_time": 90.0}, {"max_time": 600.0, "threads": 1}]  # the device is the same
    unchanged = {"settings": {**recorded["settings"], "resumes": []}}
    assert resumed(tmp_path, unchanged, "--max_time", "60", "--device", "auto")["resumes"] == []
    assert (current(settings)["max_time"], current(settings)["threads"]) == (600.0, 1)


RECORDED = {"n_workers": None, "seed": 5, "constraint_min_precision": 0.39, "warm_start": "portfolio",
            "data_dir": "micro17flower", "constraint_max_macs": None, "pop_size": 50, "num_children": 10,
            "eta": 3.0, "hyperband": True}


@pytest.mark.parametrize("flag,value,was", [("--seed", "123", "5"), ("--constraint_min_precision", "0.5", "0.39"),
                                            ("--warm_start", "none", "portfolio"), ("--data_dir", ".", "micro17flower"),
                                            ("--constraint_max_macs", "5e6", "not set"), ("--num_children", "1", "10")])
def test_a_resumed_run_refuses_a_flag_whose_value_differs_from_the_recorded_one(tmp_path, flag, value, was):
    with pytest.raises(UsageError, match=f"{flag} was {was} and is given as "):
        resumed(tmp_path, {"settings": RECORDED}, flag, value)


def test_a_resumed_run_accepts_the_command_line_it_was_started_with(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    flags = ["--seed", "5", "--constraint_min_precision", "0.39", "--warm_start", "portfolio", "--data_dir",
             "./micro17flower", "--pop_size", "50", "--num_children", "10", "--eta", "3", "--hyperband", "True",
             "--output_dir", str(tmp_path)]
    assert resumed(tmp_path, {"settings": RECORDED}, *flags)["num_children"] == 10


def test_a_flag_the_run_predates_counts_as_recorded_at_its_default(tmp_path):
    parser = build_parser("AutoML.py", evolutionary=True)
    defaults = vars(parser.parse_args([]))
    run_file = tmp_path / "automl_run_x.json"
    old = {"settings": {"n_workers": None, "seed": 5}}
    for flag, value, accepted in (("--num_children", "1", True), ("--num_children", "10", False),
                                  ("--warm_start", "portfolio", True), ("--constraint_max_macs", "5e6", False)):
        argv = ["--resume", str(run_file), flag, value]
        call = lambda: resumed_settings(parser.parse_args(argv), old, given_flags(parser, argv), defaults)  # noqa: E731
        if accepted:
            call()
        else:
            with pytest.raises(UsageError, match=f"{flag} was "):
                call()


def test_the_constraints_default_to_the_original_projects_limits():
    args = build_parser("AutoML.py", evolutionary=True).parse_args([])
    assert (args.constraint_max_model_size, args.constraint_min_precision, args.num_children) == (20_000_000, 0.39, 1)
    random = build_parser("AutoML_random_search.py", evolutionary=False).parse_args([])
    assert (random.constraint_max_model_size, random.constraint_min_precision) == (20_000_000, 0.39)
