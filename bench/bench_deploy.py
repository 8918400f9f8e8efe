"""What the study's answers cost to run: each distinct answer of runs_precision/study and runs_params/study is
trained 50 epochs on all of train/ and saved with `main.py -t --save DIR --int8` (once; kept in
bench/results/deploy/models/, not committed), then, in this one run, every model's batch-1 latency is timed
for torch, onnxruntime fp32 and onnxruntime int8. Prints per network: parameters, multiply-accumulates, peak
activation bytes, fp32 and int8 ONNX bytes, test top-3 in fp32 and int8, and the latencies as ratios to torch's.
Writes bench/results/bench_deploy.txt, bench/results/deploy/cards.json and figures/deploy_top3_vs_macs.png.
Usage: python bench/bench_deploy.py [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402
import pandas as pd  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))
from deploy.bundle import Bundle  # noqa: E402
from deploy.network_folder import CARD_JSON, MODEL_INT8, MODEL_ONNX, MODEL_PT  # noqa: E402
from deploy.model_card import speed  # noqa: E402
from deploy.onnx_model import OnnxModel  # noqa: E402
from utils import atomic_write_json, atomic_write_text, cpu_name, set_threads  # noqa: E402

STUDIES = [REPO / "runs_precision" / "study", REPO / "runs_params" / "study"]
OUT = REPO / "bench" / "results" / "deploy"
EPOCHS, SEED = 50, 0


def answers() -> dict[str, list[str]]:
    """Each distinct returned configuration (as JSON) with the study settings that returned it."""
    found: dict[str, list[str]] = {}
    for study in STUDIES:
        for answer in sorted(study.glob("*/opt_cfg.json")):
            config = {k: v for k, v in json.loads(answer.read_text()).items() if k != "origin"}
            found.setdefault(json.dumps(config, sort_keys=True), []).append(answer.parent.name)
    return found


def saved_model(settings: list[str], threads: int | None) -> Path:
    """The model folder of the answer of settings[0], trained and saved unless it already is."""
    study = next(s for s in STUDIES if (s / settings[0]).is_dir())
    folder = OUT / "models" / settings[0]
    if not (folder / CARD_JSON).exists():
        extra = ["--threads", str(threads)] if threads else []
        subprocess.run([sys.executable, "src/main.py", "-c", str(study / settings[0] / "opt_cfg.json"), "-t",
                        "-e", str(EPOCHS), "--seed", str(SEED), "--save", str(folder), "--int8",
                        "--output_dir", str(OUT / "models" / f"{settings[0]}_result"), *extra],
                       cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return folder


def latencies(folder: Path, threads: int | None) -> dict[str, float]:
    """Batch-1 latency (ms) of the three runtimes, timed now."""
    bundle = Bundle.load(folder / MODEL_PT)
    runtimes = {"torch": bundle.probabilities,
                "onnxruntime fp32": OnnxModel(folder / MODEL_ONNX, threads).probabilities,
                "onnxruntime int8": OnnxModel(folder / MODEL_INT8, threads).probabilities}
    return {name: speed(run, bundle.input_shape)["latency_ms"] for name, run in runtimes.items()}


def row(settings: list[str], card: dict, latency: dict[str, float]) -> dict:
    fp32, int8 = card["runtimes"]["torch fp32"], card["runtimes"]["onnxruntime int8"]
    return {"answer of": ", ".join(settings), "parameters": card["cost"]["parameters"],
            "MACs": card["cost"]["macs"], "peak bytes": card["cost"]["peak_activation_bytes"],
            "fp32 bytes": card["files"][MODEL_ONNX], "int8 bytes": card["files"][MODEL_INT8],
            "int8/fp32": card["files"][MODEL_INT8] / card["files"][MODEL_ONNX],
            "top3 fp32": fp32["top3_accuracy"], "top3 int8": int8["top3_accuracy"],
            "torch ms": latency["torch"], "ort fp32 / torch": latency["onnxruntime fp32"] / latency["torch"],
            "ort int8 / torch": latency["onnxruntime int8"] / latency["torch"]}


def figure(table: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    ax.scatter(table["MACs"], table["top3 fp32"], label="fp32 (torch)", marker="o")
    ax.scatter(table["MACs"], table["top3 int8"], label="int8 (onnxruntime)", marker="x")
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())  # the 2..9 minor labels overlap on a short axis
    for macs, top3, parameters in zip(table["MACs"], table["top3 fp32"], table["parameters"]):
        ax.annotate(f"{parameters:,} parameters", (macs, top3), textcoords="offset points", xytext=(6, 4),
                    fontsize=8)
    ax.set(xlabel="multiply-accumulates per image (one pass)", ylabel="test top-3 accuracy",
           title="The study's answers: test top-3 against cost")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="CPU threads of training and of every runtime")
    args = parser.parse_args()
    set_threads(args.threads)
    cards, rows = {}, []
    for settings in answers().values():
        folder = saved_model(settings, args.threads)
        card = json.loads((folder / CARD_JSON).read_text())
        latency = latencies(folder, args.threads)
        cards[settings[0]] = card | {"answer_of": settings, "bench_latency_ms": latency}
        rows.append(row(settings, card, latency))
    table = pd.DataFrame(rows).sort_values("MACs")
    atomic_write_json(OUT / "cards.json", cards)
    figure(table, REPO / "figures" / "deploy_top3_vs_macs.png")
    text = (f"machine: {cpu_name()}, {os.cpu_count()} CPU cores, {platform.machine()}; {args.threads} thread(s) "
            f"for torch and onnxruntime; latency: median "
            f"batch-1 time, all timed in this run\n\n"
            + table.to_string(index=False, float_format=lambda v: f"{v:.3f}", formatters={
                "int8/fp32": "{:.1%}".format}) + "\n")
    atomic_write_text(REPO / "bench" / "results" / "bench_deploy.txt", text)
    print(text)


if __name__ == "__main__":
    main()
