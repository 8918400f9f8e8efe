"""bench/datasets.py: a balanced ImageFolder copy of a dataset that ships inside a pip package, which a search reads."""
import json
import subprocess
import sys
from collections import Counter

import pytest
from PIL import Image

from conftest import REPO_ROOT, is_one_line_error, run_in_process

sys.path.insert(0, str(REPO_ROOT / "bench"))
import datasets  # noqa: E402


def test_digits_is_written_balanced_and_a_short_search_reads_it(tmp_path, capsys):
    data = tmp_path / "digits"
    assert datasets.main(["digits", "--out", str(data)]) == 0
    for split, per_class in (("train", 100), ("test", 34)):
        counts = Counter(path.parent.name for path in (data / split).glob("*/*.png"))
        assert counts == {f"class_{label}": per_class for label in range(10)}
    image = Image.open(next((data / "train").glob("*/*.png")))
    assert (image.mode, image.size) == ("L", (8, 8))
    train = {path.name for path in (data / "train").glob("*/*.png")}
    assert not train & {path.name for path in (data / "test").glob("*/*.png")}  # no image in both
    again = tmp_path / "again"
    datasets.main(["digits", "--out", str(again)])
    assert train == {path.name for path in (again / "train").glob("*/*.png")}  # a fixed seed: the same copy
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "src/AutoML.py", "--max_time", "20", "--data_dir", str(data),
                           "--output_dir", str(out), "--quiet"], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode in (0, 3), done.stderr
    record = json.loads(next(out.glob("automl_run_*.json")).read_text())
    assert record["evaluations"] and all(e["status"] != "failed" for e in record["evaluations"])


@pytest.mark.parametrize("args,needle", [(["digits", "--out", "{tmp}/x", "--train", "1500"], "smallest class has"),
                                         (["cifar", "--out", "{tmp}/x"], "invalid choice: 'cifar'")])
def test_bad_input_is_one_line(tmp_path, capsys, args, needle):
    done = run_in_process(capsys, datasets.main, [arg.format(tmp=tmp_path) for arg in args])
    assert is_one_line_error(done, needle), done.stderr


def test_test_all_keeps_every_image_train_does_not_hold(tmp_path):
    data = tmp_path / "digits"
    assert datasets.main(["digits", "--out", str(data), "--test", "all"]) == 0
    train = Counter(path.parent.name for path in (data / "train").glob("*/*.png"))
    test = list((data / "test").glob("*/*.png"))
    assert train == {f"class_{label}": 100 for label in range(10)} and len(test) == 1797 - 1000
    assert not {path.name for path in test} & {path.name for path in (data / "train").glob("*/*.png")}
