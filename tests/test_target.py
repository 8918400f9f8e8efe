import copy
import json
import time

import numpy as np
import pytest
import torch
from torch import nn

from training import fold_run
import target as target_module
from training.augment import random_crop, random_flip
from cnn import branch_logits, build_cnn
from training.data import load_dataset
from training.metrics import compute_metrics
from search.space import PORTFOLIO, load_config
from status import Inherit, Mode
from training.fold_run import FoldRun, branch_loss, memory_format_for
from target import Target, cv_splits

SMALL = {"n_conv_layers": 2, "n_channels_conv_0": 16, "n_channels_conv_1": 16, "kernel_size": 3,
         "n_fc_layers": 1, "n_channels_fc_0": 16, "batch_size": 8, "learning_rate_init": 0.01}


@pytest.fixture
def tiny_train(tiny_data):
    return load_dataset(tiny_data)[0]


@pytest.mark.parametrize("extra", [
    {"lr_schedule": "cosine", "use_BN": True, "random_flip": True, "crop_padding": 2, "standardize": True},
    {"lr_schedule": "onecycle", "optimizer": "sgd", "dropout_rate": 0.4, "label_smoothing": 0.1},
    {"n_branches": 2, "use_BN": True, "random_flip": True},
])
def test_continuation_equals_training_straight_through(tiny_train, tmp_path, extra):
    assert_continuation_equals_straight(tiny_train, tmp_path, load_config({**SMALL, **extra}))


def test_continuation_equals_training_straight_through_in_the_default_layout(tiny_train, tmp_path, monkeypatch):
    monkeypatch.setattr(fold_run, "CHANNELS_LAST_MAX_MACS", 0)
    config = load_config({**SMALL, "use_BN": True, "random_flip": True})
    assert memory_format_for(config, tiny_train.input_shape, tiny_train.num_classes) == torch.contiguous_format
    assert_continuation_equals_straight(tiny_train, tmp_path, config)


def assert_continuation_equals_straight(tiny_train, tmp_path, config):
    target = Target(tiny_train, seed=3, max_budget=6, device="cpu")
    straight = target(config, 6, checkpoint_out=tmp_path / "straight.pt")
    first = target(config, 2, checkpoint_out=tmp_path / "part.pt")
    resumed = target(config, 6, checkpoint_in=tmp_path / "part.pt", checkpoint_out=tmp_path / "resumed.pt")
    assert first.epochs == 2 and resumed.epochs == straight.epochs == 6
    assert resumed.status == straight.status == "ok"
    assert len(resumed.folds) == len(straight.folds)
    for fold_resumed, fold_straight in zip(resumed.folds, straight.folds):
        assert fold_resumed.keys() == fold_straight.keys()
        assert all(fold_resumed[key] == pytest.approx(fold_straight[key]) for key in fold_straight)
    a = torch.load(tmp_path / "straight.pt", weights_only=False)["folds"]
    b = torch.load(tmp_path / "resumed.pt", weights_only=False)["folds"]
    for fold_a, fold_b in zip(a, b):
        for key, tensor in fold_a["model"].items():
            torch.testing.assert_close(tensor, fold_b["model"][key])


def test_channels_last_except_for_the_widest_networks(tiny_train):
    shape = (3, 16, 16)
    assert all(memory_format_for(load_config(c), shape, 17) == torch.channels_last for c in PORTFOLIO)
    assert memory_format_for(load_config({}), shape, 17) == torch.contiguous_format  # 390 M multiply-accumulates
    for widths, layout in [((16, 16), torch.channels_last), ((1024, 1024), torch.contiguous_format)]:
        config = load_config({**SMALL, "n_channels_conv_0": widths[0], "n_channels_conv_1": widths[1]})
        assert memory_format_for(config, shape, 17) == layout
        run = FoldRun(config, tiny_train.images.float(), tiny_train.labels, tiny_train.num_classes, 0,
                      torch.device("cpu"))
        assert run.memory_format == layout
        assert run.model[0].weight.is_contiguous(memory_format=layout)


def test_each_branch_gets_the_gradient_it_would_get_trained_alone():
    config = load_config({**SMALL, "n_branches": 3, "use_BN": True})
    torch.manual_seed(0)
    model = build_cnn(config, (3, 8, 8), 4).eval()  # eval: no dropout draws, so the towers can be replayed alone
    x, y = torch.randn(6, 3, 8, 8), torch.randint(0, 4, (6,))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    alone = [copy.deepcopy(tower) for tower in model.towers]
    branch_loss(loss_fn, branch_logits(model, x), y).backward()
    for tower, copied in zip(model.towers, alone):
        loss_fn(copied(x), y).backward()
        for p, q in zip(tower.parameters(), copied.parameters()):
            torch.testing.assert_close(p.grad, q.grad)


def test_continuation_rejects_another_configuration(tiny_train, tmp_path):
    target = Target(tiny_train, seed=3, max_budget=4, device="cpu")
    target(load_config(SMALL), 1, checkpoint_out=tmp_path / "c.pt")
    other = target(load_config({**SMALL, "batch_size": 9}), 2, checkpoint_in=tmp_path / "c.pt")
    assert other.status == "failed" and "checkpoint" in other.message


def test_folds_are_stratified_and_identical_across_calls():
    labels = np.repeat(np.arange(5), [9, 12, 6, 30, 15])
    first, second = cv_splits(labels, seed=7), cv_splits(labels, seed=7)
    assert len(first) == 3
    for (train_a, val_a), (train_b, val_b) in zip(first, second):
        assert np.array_equal(train_a, train_b) and np.array_equal(val_a, val_b)
        assert np.array_equal(np.bincount(labels[val_a]) * 3, np.bincount(labels))
    assert not np.array_equal(cv_splits(labels, seed=8)[0][1], first[0][1])


def test_result_fields_and_cv_means(tiny_train):
    result = Target(tiny_train, seed=0, max_budget=3, device="cpu")(load_config(SMALL), 3)
    assert result.status == "ok" and result.epochs == 3
    assert result.top3_accuracy == pytest.approx(np.mean([f["top3_accuracy"] for f in result.folds]))
    assert result.precision == pytest.approx(np.mean([f["precision"] for f in result.folds]))
    assert result.model_size == sum(p.numel() for p in build_cnn(
        load_config(SMALL), tiny_train.input_shape, tiny_train.num_classes).parameters())
    assert np.sum(result.confusion) == len(tiny_train.labels)
    assert result.train_seconds > 0


def test_test_mode_measures_on_the_test_split(tiny_data):
    train, test = load_dataset(tiny_data, with_test=True)
    result = Target(train, test, mode=Mode.TEST, max_budget=2, device="cpu")(load_config(SMALL), 2)
    assert len(result.folds) == 1 and np.sum(result.confusion) == len(test.labels)


def test_divergence_is_reported_not_raised(tiny_train):
    target = Target(tiny_train, max_budget=2, device="cpu")
    target.x[:] = float("nan")
    result = target(load_config(SMALL), 2)
    assert result.status == "diverged"
    assert result.top3_accuracy == pytest.approx(3 / tiny_train.num_classes) and result.precision == 0.0


def test_out_of_memory_is_reported_not_raised(tiny_train, monkeypatch):
    def out_of_memory(self, total_steps):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(FoldRun, "train_epoch", out_of_memory)
    result = Target(tiny_train, max_budget=2, device="cpu")(load_config(SMALL), 2)
    assert result.status == "failed" and "out of memory" in result.message and result.error == "OutOfMemoryError"


def test_deadline_stops_between_epochs(tiny_train):
    result = Target(tiny_train, max_budget=50, device="cpu")(load_config(SMALL), 50, deadline=time.monotonic())
    assert result.status == "stopped" and result.epochs == 0


def slow_down(monkeypatch, seconds: float) -> None:
    """Every fold-epoch takes at least `seconds` longer, so that its projection does not depend on the machine."""
    train_epoch = FoldRun.train_epoch

    def slow(self, total_steps):
        train_epoch(self, total_steps)
        time.sleep(seconds)

    monkeypatch.setattr(FoldRun, "train_epoch", slow)


@pytest.fixture
def slow_epochs(monkeypatch):
    slow_down(monkeypatch, 0.02)


def test_a_job_too_slow_for_the_deadline_is_abandoned_after_two_fold_epochs(tiny_train, slow_epochs):
    start = time.monotonic()
    result = Target(tiny_train, max_budget=50, device="cpu")(load_config(SMALL), 50, deadline=start + 2.0)
    assert result.status == "abandoned" and result.epochs == target_module.ABANDON_AFTER
    assert time.monotonic() - start < 1.0  # 150 fold-epochs of at least 0.02 s would need 3 s


def test_a_job_whose_next_fold_epoch_would_pass_the_deadline_is_abandoned_after_one(tiny_train, monkeypatch):
    slow_down(monkeypatch, 0.4)
    start = time.monotonic()
    result = Target(tiny_train, max_budget=50, device="cpu")(load_config(SMALL), 50, deadline=start + 0.7)
    assert result.status == "abandoned" and result.epochs == 1
    assert time.monotonic() - start < 0.7  # a second fold-epoch would have ended after the deadline


def test_a_job_that_fits_before_the_deadline_is_trained_to_its_budget(tiny_train, slow_epochs):
    result = Target(tiny_train, max_budget=50, device="cpu")(load_config(SMALL), 4, deadline=time.monotonic() + 60)
    assert result.status == "ok" and result.epochs == 4


def test_trained_runs_score_as_the_target_measures(tiny_train):
    config = load_config({**SMALL, "random_flip": True})
    target = Target(tiny_train, seed=2, max_budget=2, device="cpu")
    runs = target.trained_runs(config, 2)
    assert [run.epoch for run in runs] == [2] * len(target.splits)
    accuracies = []
    for fold, run in enumerate(runs):
        x_val, y_val = target.validation(fold)
        accuracies.append(compute_metrics(run.scores(x_val), y_val.numpy(), target.num_classes)["top3_accuracy"])
    assert target(config, 2).top3_accuracy == pytest.approx(np.mean(accuracies))


@pytest.mark.parametrize("flip", [True, False])
def test_scores_average_mirror_images_only_for_networks_trained_with_flips(tiny_train, flip):
    config = load_config({**SMALL, "random_flip": flip, "standardize": True})
    target = Target(tiny_train, seed=1, max_budget=1, device="cpu")
    run = target.trained_runs(config, 1)[0]
    images = target.x[:10]
    plain, mirrored = run.scores(images, flip_tta=False), run.scores(images.flip(-1), flip_tta=False)
    expected = (plain + mirrored) / 2 if flip else plain
    np.testing.assert_allclose(run.scores(images), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(plain, mirrored)


def test_flip_and_crop_keep_shape_and_content():
    images = torch.arange(2 * 3 * 5 * 5, dtype=torch.float32).view(2, 3, 5, 5)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    for original, out in zip(images, flipped):
        assert torch.equal(out, original) or torch.equal(out, original.flip(-1))
    cropped = random_crop(images, 2, torch.Generator().manual_seed(1))
    assert cropped.shape == images.shape
    assert set(cropped.unique().tolist()) <= set(images.unique().tolist()) | {0.0}
    assert torch.equal(random_crop(images, 0, torch.Generator()), images)


def test_short_run_on_real_data_learns(real_data):
    train, _ = load_dataset(real_data)
    config = load_config({**SMALL, "n_channels_conv_0": 32, "n_channels_conv_1": 64, "batch_size": 64,
                          "learning_rate_init": 0.003, "use_BN": True})
    result = Target(train, seed=1, max_budget=5, device="cpu")(config, 5)
    assert result.status == "ok"
    assert result.top3_accuracy > 2 * 3 / 17


def test_a_child_of_the_same_architecture_continues_its_parents_training_with_its_own_hyperparameters(tiny_train,
                                                                                                         tmp_path):
    """Inherit.CONTINUE: the parent's weights and epoch, then the child's learning rate, weight decay and dropout;
    with the same hyperparameters it is exactly the parent's training continued."""
    target = Target(tiny_train, seed=3, max_budget=6, device="cpu")
    parent = load_config({**SMALL, "optimizer": "adamw"})
    target(parent, 2, folds=1, checkpoint_out=tmp_path / "parent.pt")
    same = target(parent, 4, folds=1, checkpoint_in=tmp_path / "parent.pt", inherit=Inherit.CONTINUE,
                  checkpoint_out=tmp_path / "same.pt")
    continued = target(parent, 4, folds=1, checkpoint_in=tmp_path / "parent.pt", checkpoint_out=tmp_path / "own.pt")
    assert same.epochs == 4 and same.fold_epochs == 2 and same.top3_accuracy == continued.top3_accuracy
    child = {**parent, "learning_rate_init": 1e-9, "weight_decay": 0.0, "dropout_rate": 0.3}  # 1e-9: below the space
    frozen = target(child, 3, folds=1, checkpoint_in=tmp_path / "parent.pt", inherit=Inherit.CONTINUE,
                    checkpoint_out=tmp_path / "child.pt")
    assert frozen.status == "ok" and frozen.epochs == 3 and frozen.fold_epochs == 1
    before = torch.load(tmp_path / "parent.pt", weights_only=False)["folds"][0]["model"]
    after = torch.load(tmp_path / "child.pt", weights_only=False)["folds"][0]
    assert after["optimizer"]["param_groups"][0]["weight_decay"] == 0.0  # the child's, not the parent's 0.01
    for name, tensor in before.items():  # a learning rate of 1e-9 leaves the inherited weights as they were
        torch.testing.assert_close(after["model"][name].float(), tensor.float(), atol=1e-6, rtol=0)


def test_a_child_of_another_architecture_takes_the_tensors_that_fit_and_no_others(tiny_train, tmp_path):
    target = Target(tiny_train, seed=3, max_budget=6, device="cpu")
    target(load_config(SMALL), 2, folds=1, checkpoint_out=tmp_path / "parent.pt")
    parent = torch.load(tmp_path / "parent.pt", weights_only=False)["folds"][0]["model"]
    child_config = load_config({**SMALL, "n_channels_fc_0": 24})  # the conv layers fit, the FC layers do not
    (run,) = target.fold_runs(child_config, folds=1)
    fresh = {name: tensor.clone() for name, tensor in run.model.state_dict().items()}
    taken = run.take_fitting(parent)
    assert set(taken) == {name for name in parent if parent[name].shape == fresh[name].shape}
    assert {"0.weight", "3.weight"} <= set(taken) and "8.weight" not in taken  # the convolutions fit, the FC not
    for name, tensor in run.model.state_dict().items():
        torch.testing.assert_close(tensor, parent[name] if name in taken else fresh[name])
    result = target(child_config, 2, folds=1, checkpoint_in=tmp_path / "parent.pt", inherit=Inherit.TENSORS)
    assert result.status == "ok" and result.fold_epochs == 2  # trained from epoch 0


def test_a_worker_job_carries_what_the_child_inherits(tiny_data, tmp_path):
    """The plain-data job a Dask worker runs: its inheritance survives the trip (the same as in one process)."""
    from running.job_runner import job_spec, run_job

    parent, child = load_config(SMALL), load_config({**SMALL, "learning_rate_init": 0.001})
    common = {"deadline": time.time() + 120, "data_dir": str(tiny_data), "seed": 3, "max_budget": 6,
              "device": "cpu", "threads": None}
    run_job(job_spec(parent, 2, 1, None, tmp_path / "parent.pt", **common))
    spec = job_spec(child, 4, 1, tmp_path / "parent.pt", tmp_path / "child.pt", **common, inherit=Inherit.CONTINUE)
    assert json.loads(json.dumps(spec)) == spec and spec["inherit"] == "continue"
    result = run_job(spec)
    assert result["status"] == "ok" and result["epochs"] == 4 and result["fold_epochs"] == 2
