"""bench/REPORT.md from bench/report_template.md and the benchmarks' outputs: training speed, flip test-time
augmentation, cheap fidelities, many workers, recording and the CUDA check as their commands saved them in
bench/results/ (they take minutes to an hour to rerun), and the cost model recomputed now from the committed runs
in runs_precision/bench_search/ (seconds).
Usage: python bench/report.py
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))

from bench_fidelity import correlations, load  # noqa: E402
from training.metrics import chance_top3  # noqa: E402
from utils import atomic_write_text  # noqa: E402

NO_GPU_RUN = "not run yet: no machine with a GPU has been available to this project's benchmark runs"


def fidelity_reading(records: Path) -> str:
    """What the fidelity table says about the search's rungs, read from the saved records."""
    table = correlations(load(records), chance_top3(17)).set_index(["budget", "fidelity"])
    one_fold = "fold 0, schedule over 50"

    def rho(budget: int, column: str = "spearman") -> str:
        return f"{table.loc[(budget, one_fold), column]:.2f}"
    return (f"- The lowest rung before this fidelity study (2 epochs) ranks the configurations with Spearman "
            f"{rho(2)} over all and {rho(2, 'spearman_learners')} among those that learn; the search's lowest rung "
            f"now (6 epochs, one fold) {rho(6)} and {rho(6, 'spearman_learners')}; its middle rung (17 epochs, one "
            f"fold) {rho(17)} and {rho(17, 'spearman_learners')}. The median configuration is still at "
            f"{table.loc[(2, one_fold), 'median_top3']:.2f} top-3 after 2 epochs (chance {chance_top3(17):.2f}) and "
            f"at {table.loc[(6, one_fold), 'median_top3']:.2f} after 6.\n"
            f"- One fold against the mean of three at 6 epochs: {rho(6)} against "
            f"{table.loc[(6, '3 folds, schedule over 50'), 'spearman']:.2f}; one fold costs a third.\n"
            f"- A schedule that ends at the budget ranks a little better (6 epochs: "
            f"{table.loc[(6, 'fold 0, schedule over 6'), 'spearman']:.2f} against {rho(6)}; 2 epochs: "
            f"{table.loc[(2, 'fold 0, schedule over 2'), 'spearman']:.2f} against {rho(2)}), but a member promoted "
            "from it could not continue from its checkpoint: it would be trained again from the start, and what it "
            "measured at 50 epochs would no longer be what `main.py -t` trains. The search keeps the 50-epoch "
            "schedule and continues.")


def deploy_reading(cards_path: Path) -> str:
    """The deployment targets against the saved model cards and the latencies bench_deploy.py timed."""
    cards = list(json.loads(cards_path.read_text()).values())
    ratios = [card["files"]["model_int8.onnx"] / card["files"]["model.onnx"] for card in cards]
    losses = [card["runtimes"]["torch fp32"]["top3_accuracy"] - card["runtimes"]["onnxruntime int8"]["top3_accuracy"]
              for card in cards]
    faster = sum(card["bench_latency_ms"]["onnxruntime fp32"] <= card["bench_latency_ms"]["torch"] for card in cards)

    def verdict(holds: int) -> str:
        return "met" if holds == len(cards) else f"met for {holds} of {len(cards)}"
    return (f"- onnxruntime fp32 batch-1 latency at most torch's: {verdict(faster)}.\n"
            f"- int8 bytes over fp32 bytes: {min(ratios):.1%} to {max(ratios):.1%} (at most 30 %: "
            f"{verdict(sum(r <= 0.30 for r in ratios))}){over_note(cards, ratios)}.\n"
            f"- Test top-3 lost by int8: at most {100 * max(losses):.1f} points, {100 * sum(losses) / len(losses):.1f} "
            f"on average (at most 1 point: {verdict(sum(loss <= 0.01 for loss in losses))}).")


def over_note(cards: list[dict], ratios: list[float]) -> str:
    """Which networks miss the 30 % and why: what the int8 file holds besides one byte per weight."""
    over = sorted(card["cost"]["parameters"] for card, ratio in zip(cards, ratios) if ratio > 0.30)
    if not over:
        return ""
    return (f"; over it: the networks of {', '.join(f'{n:,}' for n in over)} parameters, where what the file holds "
            "besides one byte per weight (per-channel scales, int32 biases, BatchNorm kept in float, the graph) "
            "is a large share")


def main() -> None:
    cost_model = subprocess.run([sys.executable, str(BENCH / "bench_time_model.py")], cwd=BENCH.parent,
                                capture_output=True, text=True, check=True).stdout
    outputs = {name: (BENCH / "results" / f"{name}.txt").read_text()
               for name in ("bench_target", "bench_tta", "bench_parallel", "bench_fidelity", "bench_deploy",
                            "bench_recording")}
    outputs["deploy_reading"] = deploy_reading(BENCH / "results" / "deploy" / "cards.json")
    outputs["fidelity_reading"] = fidelity_reading(BENCH / "results" / "fidelity.jsonl")
    gpu = BENCH / "results" / "gpu_check.txt"
    outputs["gpu_check"] = gpu.read_text() if gpu.exists() else NO_GPU_RUN
    text = (BENCH / "report_template.md").read_text().format(bench_time_model=cost_model.strip(),
                                                                **{k: v.strip() for k, v in outputs.items()})
    atomic_write_text(BENCH / "REPORT.md", text)


if __name__ == "__main__":
    main()
