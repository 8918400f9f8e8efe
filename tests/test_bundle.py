"""The saved network: model.pt and model.onnx give the training code's probabilities, bad files are named."""
import json

import numpy as np
import pytest
import torch

from deploy.bundle import Bundle
from training.data import load_dataset
from deploy.network_folder import as_float
from deploy.bundle_format import FORMAT_VERSION, BundleError
from deploy.onnx_export import check_export, export_onnx, quantize_int8
from deploy.onnx_model import OnnxModel
from training.metrics import compute_metrics
from search.space import PORTFOLIO, load_config
from status import Mode
from target import Target

BRANCHED = {"n_conv_layers": 2, "n_channels_conv_0": 16, "n_channels_conv_1": 24, "n_branches": 2, "use_BN": True,
            "random_flip": True, "standardize": True, "global_avg_pooling": True, "batch_size": 16}
FLATTENED = {"n_conv_layers": 1, "n_channels_conv_0": 16, "n_branches": 1, "use_BN": False, "random_flip": False,
             "standardize": False, "global_avg_pooling": False, "n_fc_layers": 2, "n_channels_fc_0": 32,
             "n_channels_fc_1": 16, "batch_size": 16}


def trained_for(data_dir, raw_config, epochs):
    """A network trained on all of train/ (its fold run), its bundle, and the data."""
    train, test = load_dataset(data_dir, with_test=True)
    config = load_config(raw_config)
    target = Target(train, test, mode=Mode.TEST, seed=0, max_budget=epochs)
    (run,) = target.trained_runs(config, epochs)
    bundle = Bundle.from_training(config, train, run.model.state_dict(), {"epochs": epochs, "seed": 0})
    return run, bundle, train, test


def trained(data_dir, raw_config):
    return trained_for(data_dir, raw_config, epochs=2)


@pytest.mark.parametrize("raw_config", [BRANCHED, FLATTENED], ids=["branches-tta-standardised-bn", "flatten"])
def test_model_pt_and_onnx_give_the_training_probabilities(tiny_data, tmp_path, raw_config):
    run, bundle, train, test = trained(tiny_data, raw_config)
    images = as_float(test)
    expected = torch.softmax(torch.from_numpy(run.scores(torch.from_numpy(images))), -1).numpy()
    bundle.save(tmp_path / "model.pt")
    torch.load(tmp_path / "model.pt", weights_only=True)
    reloaded = Bundle.load(tmp_path / "model.pt")
    assert reloaded.classes == train.classes and reloaded.flip_tta == raw_config["random_flip"]
    np.testing.assert_allclose(reloaded.probabilities(images), expected, atol=1e-5)
    export_onnx(reloaded, tmp_path / "model.onnx")
    onnx_model = OnnxModel(tmp_path / "model.onnx")
    assert onnx_model.classes == train.classes and onnx_model.input_shape == train.input_shape
    exported = onnx_model.probabilities(images, batch_size=5)
    np.testing.assert_allclose(exported, expected, atol=1e-4)
    assert check_export(expected, exported, tmp_path / "model.onnx") <= 1e-4


def test_int8_graph_keeps_metadata_and_predicts(tiny_data, tmp_path):
    _, bundle, train, test = trained(tiny_data, BRANCHED)
    export_onnx(bundle, tmp_path / "model.onnx")
    quantize_int8(tmp_path / "model.onnx", tmp_path / "model_int8.onnx", as_float(train))
    int8 = OnnxModel(tmp_path / "model_int8.onnx")
    probabilities = int8.probabilities(as_float(test))
    assert int8.classes == train.classes and probabilities.shape == (len(test.labels), len(train.classes))
    np.testing.assert_allclose(probabilities.sum(1), 1, atol=1e-4)


def test_a_changed_export_is_refused(tmp_path):
    expected = np.array([[0.5, 0.3, 0.15, 0.05], [0.1, 0.2, 0.3, 0.4]])
    swapped = expected[:, [0, 1, 3, 2]]
    with pytest.raises(BundleError, match="top-3"):
        check_export(expected, swapped, tmp_path / "model.onnx")


def test_files_that_are_not_bundles_are_named(tiny_data, tmp_path):
    _, bundle, _, _ = trained(tiny_data, FLATTENED)
    with pytest.raises(BundleError, match="no such file"):
        Bundle.load(tmp_path / "missing.pt")
    (tmp_path / "notes.pt").write_text("hello")
    with pytest.raises(BundleError, match="not a PyTorch file"):
        Bundle.load(tmp_path / "notes.pt")
    torch.save({"config": {}, "state_dict": {}}, tmp_path / "weights.pt")
    with pytest.raises(BundleError, match="not a model written by this project"):
        Bundle.load(tmp_path / "weights.pt")
    bundle.save(tmp_path / "model.pt")
    newer = torch.load(tmp_path / "model.pt", weights_only=True) | {"format_version": FORMAT_VERSION + 1}
    torch.save(newer, tmp_path / "newer.pt")
    with pytest.raises(BundleError, match="newer"):
        Bundle.load(tmp_path / "newer.pt")
    (tmp_path / "garbage.onnx").write_bytes(b"\x00\x01not onnx")
    with pytest.raises(BundleError, match="not an ONNX model"):
        OnnxModel(tmp_path / "garbage.onnx")


def test_bundle_holds_what_using_it_needs(tiny_data, tmp_path):
    _, bundle, train, _ = trained(tiny_data, BRANCHED)
    bundle.save(tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    needed = {"config", "classes", "input_shape", "mean", "std", "flip_tta", "state_dict", "format_version"}
    assert needed <= set(payload)
    assert payload["input_shape"] == list(train.input_shape) and len(payload["mean"]) == 3
    assert json.loads(json.dumps(payload["config"])) == payload["config"]


def test_int8_keeps_top3_within_two_points_on_real_data(real_data, tmp_path):
    """A portfolio network (BatchNorm, standardised, flip TTA), quantised with calibration on train/ only."""
    run, bundle, train, test = trained_for(real_data, PORTFOLIO[0], epochs=10)
    export_onnx(bundle, tmp_path / "model.onnx")
    quantize_int8(tmp_path / "model.onnx", tmp_path / "model_int8.onnx", as_float(train))
    labels = test.labels.numpy()
    fp32 = compute_metrics(OnnxModel(tmp_path / "model.onnx").probabilities(as_float(test)), labels, 17)
    int8 = compute_metrics(OnnxModel(tmp_path / "model_int8.onnx").probabilities(as_float(test)), labels, 17)
    assert fp32["top3_accuracy"] > 0.5
    assert abs(fp32["top3_accuracy"] - int8["top3_accuracy"]) <= 0.02, (fp32, int8)
