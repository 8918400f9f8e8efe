"""predict.py on saved networks, and main.py --save writing them."""
import json
import subprocess
import sys

import pandas as pd
import pytest
import torch
from PIL import Image

import main as main_script
import predict as predict_script
from conftest import REPO_ROOT, is_one_line_error, run_in_process
from deploy.bundle_format import FORMAT_VERSION

CONFIG = {"n_conv_layers": 1, "n_channels_conv_0": 16, "kernel_size": 3, "n_fc_layers": 1, "n_channels_fc_0": 16,
          "batch_size": 8, "learning_rate_init": 0.01, "random_flip": True, "standardize": True}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A folder written by main.py -t --save --int8 on a tiny generated dataset (trained once for the module)."""
    from conftest import make_image_folder

    root = tmp_path_factory.mktemp("saved")
    data = make_image_folder(root / "data", size=8)
    (root / "cfg.json").write_text(json.dumps(CONFIG))
    done = subprocess.run([sys.executable, "src/main.py", "-c", str(root / "cfg.json"), "-t", "-e", "3",
                           "--data_dir", str(data), "--output_dir", str(root / "out"), "--save",
                           str(root / "model"), "--int8", "-p", "0.1", "-x", "1e6", "--max_flash", "32768",
                           "--max_ram", "4096", "--threads", "1"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 3), done.stderr
    return root


def test_save_writes_the_model_folder_and_its_card(saved):
    folder = saved / "model"
    assert {p.name for p in folder.iterdir()} == {"model.pt", "model.onnx", "model_int8.onnx", "model_card.json",
                                                  "model_card.md"}
    card = json.loads((folder / "model_card.json").read_text())
    assert card["cost"]["macs"] == card["cost"]["macs_counted"] > 0
    assert card["cost"]["peak_activation_bytes"] == card["cost"]["peak_activation_bytes_measured"]
    assert card["cost"]["inference_macs"] == 2 * card["cost"]["macs"]  # flip test-time augmentation
    assert set(card["runtimes"]) == {"torch fp32", "onnxruntime fp32", "onnxruntime int8"}
    result = json.loads((saved / "out" / "result_test.json").read_text())
    assert card["runtimes"]["torch fp32"]["top3_accuracy"] == pytest.approx(result["metrics"]["top3_accuracy"])
    assert set(card["constraints"]) == {"min_precision", "max_macs", "max_flash", "max_ram", "min_precision (int8)",
                                        "max_flash (int8)", "max_ram (int8)"}
    assert all(card["constraints"][name]["ok"] for name in ("max_flash", "max_ram", "max_flash (int8)",
                                                            "max_ram (int8)"))
    assert card["cost"]["flash_bytes"] == card["cost"]["flash_bytes_int8_file"]  # closed form = the file's bytes
    assert card["cost"]["ram_bytes"] == card["cost"]["ram_bytes_int8_graph"] == 1280  # 16x8x8 pooled to 16x4x4
    assert card["files"]["model_int8.onnx"] > 0 and "model.pt" in card["files"]
    markdown = (folder / "model_card.md").read_text()
    assert "| onnxruntime int8 |" in markdown and "| max_ram (int8) | 4096 | 1280 | yes |" in markdown


@pytest.mark.parametrize("model", ["model.pt", "model.onnx", "model_int8.onnx"])
def test_predict_on_an_image_folder_reports_accuracy(saved, tmp_path, capsys, model):
    out = tmp_path / "predictions.csv"
    code = predict_script.main([str(saved / "model" / model), str(saved / "data" / "test"), "--out", str(out)])
    printed = capsys.readouterr().out
    table = pd.read_csv(out, keep_default_na=False)
    assert code == 0 and len(table) == 12 and set(table["true_class"]) == {f"class{i}" for i in range(4)}
    assert "12 labelled images: top-1 accuracy" in printed and printed.count(".png: ") == 12
    card = json.loads((saved / "model" / "model_card.json").read_text())
    runtime = {"model.pt": "torch fp32", "model.onnx": "onnxruntime fp32", "model_int8.onnx": "onnxruntime int8"}
    assert f"top-3 accuracy {card['runtimes'][runtime[model]]['top3_accuracy']:.4f}" in printed


def test_unreadable_images_are_named_and_the_others_predicted(saved, tmp_path, caplog):
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.new("L", (40, 30), 128).save(folder / "grey.png")  # grayscale, another size: converted and resized
    (folder / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "p.csv"
    code = predict_script.main([str(saved / "model" / "model.onnx"), str(folder), "--out", str(out), "--top_k", "2"])
    table = pd.read_csv(out, keep_default_na=False).set_index("path")
    assert code == 1 and "broken.png: unreadable image" in caplog.text
    assert table.loc[str(folder / "broken.png"), "error"].startswith("unreadable image")
    assert table.loc[str(folder / "grey.png"), "class_2"] != "" and list(table.columns)[-1] == "error"


def test_bad_input_is_one_line(saved, tmp_path, capsys):
    model = saved / "model" / "model.pt"
    images = saved / "data" / "test"
    (tmp_path / "notes.pt").write_text("not a model")
    newer = torch.load(model, weights_only=True) | {"format_version": FORMAT_VERSION + 1}
    torch.save(newer, tmp_path / "newer.pt")
    cases = [([str(tmp_path / "missing.pt"), str(images)], "no such file"),
             ([str(tmp_path / "notes.pt"), str(images)], "not a PyTorch file"),
             ([str(tmp_path / "newer.pt"), str(images)], "newer"),
             ([str(model), str(tmp_path / "nowhere")], "nowhere: no such file or folder"),
             ([str(model), str(images), "--top_k", "5"], "more than the model's 4 classes"),
             ([str(model), str(images), "--top_k", "0"], "--top_k")]
    for args, needle in cases:
        done = run_in_process(capsys, predict_script.main, [*args, "--out", str(tmp_path / "p.csv")])
        assert is_one_line_error(done, needle), (args, done.stderr)


def test_save_needs_the_test_mode_and_a_folder(saved, tmp_path, capsys):
    def main(*args):
        return run_in_process(capsys, main_script.main, ["-c", saved / "cfg.json", "--data_dir", saved / "data",
                                                         "--output_dir", tmp_path, *args])

    assert is_one_line_error(main("--save", str(tmp_path / "m")), "need -t")
    (tmp_path / "file").write_text("")
    assert is_one_line_error(main("-t", "--save", str(tmp_path / "file")), "file")
    assert is_one_line_error(main("-t", "--int8"), "--int8 needs --save")


def test_the_onnx_path_runs_without_torch(saved, tmp_path):
    code = ("import sys; sys.path.insert(0, 'src'); import predict; "
            f"code = predict.main([{str(saved / 'model' / 'model.onnx')!r}, {str(saved / 'data' / 'test')!r}, "
            f"'--out', {str(tmp_path / 'p.csv')!r}]); "
            "assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]
