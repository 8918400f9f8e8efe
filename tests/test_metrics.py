import numpy as np
import pytest

from training.metrics import chance_top3, compute_metrics


def one_hot_scores(predicted, num_classes):
    scores = np.zeros((len(predicted), num_classes))
    scores[np.arange(len(predicted)), predicted] = 1.0
    return scores


def test_macro_precision_over_the_whole_set_by_hand():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 0, 0])
    metrics = compute_metrics(one_hot_scores(predicted, 4), labels, 4)
    # class 0: 2 of 4 predictions right; class 1: 1 of 2; class 2: never predicted -> 0; class 3 absent.
    assert metrics["precision"] == pytest.approx((2 / 4 + 1 / 2 + 0) / 3)
    assert metrics["confusion"].tolist() == [[2, 1, 0, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]


def test_precision_is_not_the_mean_of_batch_precisions():
    labels = np.array([0, 1, 1, 1])
    predicted = np.array([0, 0, 1, 1])
    whole = compute_metrics(one_hot_scores(predicted, 2), labels, 2)["precision"]
    assert whole == pytest.approx((1 / 2 + 1) / 2)
    batches = [compute_metrics(one_hot_scores(predicted[i:i + 2], 2), labels[i:i + 2], 2)["precision"]
               for i in (0, 2)]
    assert whole != pytest.approx(np.mean(batches))


def test_top3_accuracy_by_hand():
    scores = np.array([[0.5, 0.4, 0.3, 0.2, 0.1],   # label 2 is third: hit
                       [0.5, 0.4, 0.3, 0.2, 0.1],   # label 3 is fourth: miss
                       [0.1, 0.2, 0.3, 0.4, 0.5]])  # label 4 is first: hit
    metrics = compute_metrics(scores, np.array([2, 3, 4]), 5)
    assert metrics["top3_accuracy"] == pytest.approx(2 / 3)


def test_chance_level():
    assert chance_top3(17) == pytest.approx(3 / 17)
    assert chance_top3(2) == 1.0


def test_per_image_top3_hits_average_to_the_top3_accuracy():
    rng = np.random.default_rng(0)
    scores, labels = rng.normal(size=(200, 17)), rng.integers(0, 17, 200)
    metrics = compute_metrics(scores, labels, 17)
    assert metrics["top3_hits"].shape == (200,) and metrics["top3_hits"].mean() == pytest.approx(metrics["top3_accuracy"])
    best_three = np.argsort(scores[0])[-3:]
    assert metrics["top3_hits"][0] == (labels[0] in best_three)
