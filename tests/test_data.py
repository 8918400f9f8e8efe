import numpy as np
import pytest
import torch
from torchvision.datasets import ImageFolder

from conftest import make_image_folder
from training.data import DataError, class_warnings, in_natural_order, load_dataset, load_split, natural_order


def test_class_order_and_labels_match_torchvision(tmp_path):
    root = make_image_folder(tmp_path / "d", n_classes=12, per_class=2)
    ours = load_split(root / "train")
    reference = ImageFolder(root / "train")
    assert ours.classes == reference.classes
    assert ours.labels.tolist() == reference.targets
    assert ours.images.dtype == torch.uint8 and ours.input_shape == (3, 8, 8)


def test_grayscale_and_other_sizes(tmp_path):
    train, test = load_dataset(make_image_folder(tmp_path / "g", n_classes=2, size=12, mode="L"), with_test=True)
    assert train.input_shape == (1, 12, 12) and test.num_classes == 2


def test_real_data_shape(real_data):
    train, test = load_dataset(real_data, with_test=True)
    assert train.images.shape == (1020, 3, 16, 16) and test.images.shape == (340, 3, 16, 16)
    assert train.classes[:3] == ["1", "10", "11"]


def test_empty_class_folder_is_named(tmp_path):
    root = make_image_folder(tmp_path / "e", n_classes=2)
    (root / "train" / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        load_split(root / "train")


def test_unreadable_image_is_named(tmp_path):
    root = make_image_folder(tmp_path / "u", n_classes=2)
    (root / "train" / "class0" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(DataError, match="broken.jpg"):
        load_split(root / "train")


def test_missing_split(tmp_path):
    with pytest.raises(DataError, match="no such folder"):
        load_split(tmp_path / "nothing")


def test_classes_are_shown_in_natural_order_while_indices_stay_imagefolders():
    classes = sorted(str(i) for i in range(1, 18))  # ImageFolder: "1", "10", "11", …, "17", "2", …
    assert [classes[i] for i in natural_order(classes)] == [str(i) for i in range(1, 18)]
    confusion = np.arange(len(classes) ** 2).reshape(len(classes), -1)
    shown, names = in_natural_order(confusion, classes)
    assert names[:3] == ["1", "2", "3"] and shown[1, 2] == confusion[classes.index("2"), classes.index("3")]
    assert natural_order(["b10", "a", "b9"]) == [1, 2, 0]  # a, b9, b10


def test_with_three_classes_top3_warns_that_top1_is_the_meaningful_objective(tmp_path):
    train, _ = load_dataset(make_image_folder(tmp_path / "three", n_classes=3))
    (warning,) = class_warnings(train)
    assert "top-3 accuracy is always 1.0" in warning and "--objective top1 is the meaningful choice" in warning
    assert class_warnings(train, "top1") == []
