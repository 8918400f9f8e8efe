"""A rung below the full budget measures a decaying schedule after its decay, trained on a branch; the member
continues from its undecayed state."""
import copy
import time
from types import SimpleNamespace

import pytest
import torch

from search.space import load_config
import target as target_module
from target import ABANDON_AFTER, Target
from training.data import load_dataset
from training.fold_run import FoldRun, TrainingDiverged
from training.metrics import chance_top3, compute_metrics
from training.schedules import decay_steps, learning_rate

SMALL = {"n_conv_layers": 1, "n_channels_conv_0": 16, "kernel_size": 3, "n_fc_layers": 1, "n_channels_fc_0": 16,
         "batch_size": 8, "learning_rate_init": 0.01}


@pytest.fixture
def tiny_train(tiny_data):
    return load_dataset(tiny_data)[0]


def assert_same_state(a: dict, b: dict) -> None:
    assert a["epoch"] == b["epoch"]
    torch.testing.assert_close(a["generator"], b["generator"], rtol=0, atol=0)
    torch.testing.assert_close(a["rng"], b["rng"], rtol=0, atol=0)
    torch.testing.assert_close(a["model"], b["model"], rtol=0, atol=0)
    torch.testing.assert_close(a["optimizer"]["state"], b["optimizer"]["state"], rtol=0, atol=0)


@pytest.mark.parametrize("extra", [
    {"lr_schedule": "cosine", "optimizer": "adamw", "use_BN": True, "random_flip": True, "crop_padding": 2},
    {"lr_schedule": "onecycle", "optimizer": "sgd", "dropout_rate": 0.3},
])
def test_the_member_continues_from_its_undecayed_state(tiny_train, extra):
    config = load_config({**SMALL, **extra})
    target = Target(tiny_train, seed=5, max_budget=8, device="cpu")
    run, twin = target.fold_runs(config, 1)[0], target.fold_runs(config, 1)[0]
    total = 8 * run.steps_per_epoch()
    for training in (run, twin):
        for _ in range(2):
            training.train_epoch(total)
    before = copy.deepcopy(run.state_dict())
    with run.decayed(total) as epochs:
        assert epochs == decay_steps(2 * run.steps_per_epoch()) / run.steps_per_epoch()
        assert run.optimizer.param_groups[0]["lr"] == pytest.approx(learning_rate(extra["lr_schedule"], 0.01, total,
                                                                                  total))
        assert run.epoch == 2
        changed = [name for name, tensor in run.model.state_dict().items()
                   if not torch.equal(tensor, before["model"][name])]
        assert changed
    assert_same_state(run.state_dict(), before)
    run.train_epoch(total)
    twin.train_epoch(total)
    assert_same_state(run.state_dict(), twin.state_dict())


def test_a_rung_figure_is_the_decayed_networks(tiny_train):
    config = load_config({**SMALL, "lr_schedule": "cosine"})
    target = Target(tiny_train, seed=5, max_budget=8, device="cpu")
    result = target(config, 3, folds=1)
    run = target.fold_runs(config, 1)[0]
    total = 8 * run.steps_per_epoch()
    for _ in range(3):
        run.train_epoch(total)
    x_val, y_val = target.validation(0)
    plain_scores = run.scores(x_val)
    run.train_decay(total, decay_steps(3 * run.steps_per_epoch()))
    decayed = compute_metrics(run.scores(x_val), y_val.numpy(), target.num_classes)
    assert result.status == "ok" and result.epochs == 3
    assert result.measure_epochs == decay_steps(3 * run.steps_per_epoch()) / run.steps_per_epoch()
    assert result.folds[0]["top3_accuracy"] == pytest.approx(decayed["top3_accuracy"])
    assert result.folds[0]["precision"] == pytest.approx(decayed["precision"])
    assert not (plain_scores == run.scores(x_val)).all()
    assert result.confusion == decayed["confusion"].tolist()


@pytest.mark.parametrize("schedule, budget", [("constant", 3), ("cosine", 8), ("onecycle", 8)])
def test_no_decay_for_a_constant_schedule_or_at_the_full_budget(tiny_train, schedule, budget):
    config = load_config({**SMALL, "lr_schedule": schedule})
    target = Target(tiny_train, seed=5, max_budget=8, device="cpu")
    result = target(config, budget, folds=1)
    runs = target.trained_runs(config, budget)
    x_val, y_val = target.validation(0)
    plain = compute_metrics(runs[0].scores(x_val), y_val.numpy(), target.num_classes)
    assert result.measure_epochs == 0.0
    assert result.folds[0]["top3_accuracy"] == pytest.approx(plain["top3_accuracy"])


def test_a_job_whose_measuring_decay_would_pass_the_deadline_is_abandoned(tiny_train, monkeypatch):
    """On a clock where every fold-epoch takes 1 s, five fit before the deadline; with a cosine schedule's decay
    epoch they would not, so that job is abandoned as soon as its pace is known."""
    clock = {"now": 0.0}
    train_epoch = FoldRun.train_epoch

    def one_second(self, total_steps):
        train_epoch(self, total_steps)
        clock["now"] += 1.0

    monkeypatch.setattr(FoldRun, "train_epoch", one_second)
    monkeypatch.setattr(target_module, "time", SimpleNamespace(monotonic=lambda: clock["now"],
                                                               perf_counter=time.perf_counter))
    target = Target(tiny_train, seed=5, max_budget=50, device="cpu")
    for schedule, status, epochs in (("cosine", "abandoned", ABANDON_AFTER), ("constant", "ok", 5)):
        clock["now"] = 0.0
        result = target(load_config({**SMALL, "lr_schedule": schedule}), 5, folds=1, deadline=5.5)
        assert (result.status, result.epochs) == (status, epochs)
        assert "measuring decay" in result.message or status == "ok"


def test_an_error_in_the_measuring_decay_is_recorded_not_raised(tiny_train, monkeypatch):
    def out_of_memory(self, total_steps, n_steps):
        raise RuntimeError("no memory for the branch")

    monkeypatch.setattr(FoldRun, "train_decay", out_of_memory)
    result = Target(tiny_train, seed=5, max_budget=8, device="cpu")(load_config({**SMALL, "lr_schedule": "cosine"}),
                                                                      3, folds=1)
    assert result.status == "failed" and result.error == "RuntimeError" and "no memory" in result.message


def test_a_diverging_decay_scores_chance_and_counts_its_epochs(tiny_train, monkeypatch):
    def diverges(self, total_steps, n_steps):
        raise TrainingDiverged("non-finite training loss in the measuring decay")

    monkeypatch.setattr(FoldRun, "train_decay", diverges)
    target = Target(tiny_train, seed=5, max_budget=8, device="cpu")
    result = target(load_config({**SMALL, "lr_schedule": "onecycle"}), 3, folds=1)
    run = target.fold_runs(load_config(SMALL), 1)[0]
    assert result.status == "ok" and "fold 0 scored chance" in result.message
    assert result.folds[0]["top3_accuracy"] == pytest.approx(chance_top3(target.num_classes))
    assert result.measure_epochs == decay_steps(3 * run.steps_per_epoch()) / run.steps_per_epoch()
