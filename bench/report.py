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

import pandas as pd

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))

from bench_fidelity import bracket_cost, correlations, load, ratios  # noqa: E402
from training.schedules import DECAY_FRACTION  # noqa: E402
from training.metrics import chance_top3  # noqa: E402
from utils import atomic_write_text  # noqa: E402

NO_GPU_RUN = "not run yet: no machine with a GPU has been available to this project's benchmark runs"


FIDELITY_RUNS = {  # name: (records, chance)
    "micro17flower at 5,000 parameters": ("fidelity_micro17flower_5e3", chance_top3(17)),
    "MNIST-5k at 5,000 parameters": ("fidelity_mnist5k_5e3", 1 / 10),
    "micro17flower at 20,000 parameters": ("fidelity_micro17flower_2e4", chance_top3(17)),
}
BEFORE, AFTER, OWN = "before: as it stands", f"decay {DECAY_FRACTION:.0%} (chosen)", "own schedule (no continuation)"
TARGETS = {"spread_6": 0.08, "spread_17": 0.05, "spearman_better_half_17": 0.6, "cost": 0.20}


def met(value: float, target: float, above: bool = False) -> str:
    return "met" if (value >= target if above else value <= target) else "not met"


def fidelity_tables(records: Path, chance: float) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """One fidelity run's records, correlations and ratios (both indexed by rung and fidelity) and bracket cost."""
    table = load(records)
    max_budget = table["settings"].iloc[0]["max_budget"]
    return (table, correlations(table, max_budget).set_index(["rung", "fidelity"]),
            ratios(table, max_budget, chance).set_index(["rung", "fidelity"]),
            bracket_cost(table, max_budget).set_index("measurement")["cost_increase"])


def fidelity_reading(name: str, records: Path, chance: float) -> str:
    """Today's rung measurement against the chosen decay and the own schedule on one run, against the issue's
    targets, read from the saved records."""
    table, rho, ratio, cost = fidelity_tables(records, chance)
    spread, decay_cost = ratio["spread"], cost.loc[f"decay {DECAY_FRACTION:.0%}"]
    dips = {label: int((table[f"{key}_e17"] < table[f"{key}_e6"]).sum()) for label, key in
            (("before", "plain"), ("after", f"decay{DECAY_FRACTION}"))}

    def three(rung: int, column: str, values: pd.DataFrame = rho) -> str:
        return (f"{values.loc[(rung, BEFORE), column]:.2f} before, {values.loc[(rung, AFTER), column]:.2f} after "
                f"({values.loc[(rung, OWN), column]:.2f} with its own schedule)")
    after_17 = rho.loc[(17, AFTER), "spearman_better_half"]
    lowest = ratio.loc[(17, AFTER)].drop("spread").astype(float).idxmin().split(" ")[0]
    return (f"- **{name}** ({len(table)} configurations). Rank correlation with the full evaluation among the better "
            f"half at the 17-epoch rung: {three(17, 'spearman_better_half')} (target 0.6: "
            f"{met(after_17, TARGETS['spearman_better_half_17'], above=True)}); at 6 epochs "
            f"{three(6, 'spearman_better_half')}. Over all configurations: 17 epochs {three(17, 'spearman')}; 6 "
            f"epochs {three(6, 'spearman')}. Spread of the median rung / full ratio across the schedules at 17 "
            f"epochs: {three(17, 'spread', spread.to_frame())} (target 0.05: "
            f"{met(spread.loc[(17, AFTER)], TARGETS['spread_17'])}; the lowest ratio after the decay: {lowest}); at 6 "
            f"epochs {three(6, 'spread', spread.to_frame())} (target 0.08: "
            f"{met(spread.loc[(6, AFTER)], TARGETS['spread_6'])}). Configurations whose 17-epoch figure falls below "
            f"their 6-epoch one (measured at a high rate): {dips['before']} before, {dips['after']} after. The decay "
            f"adds {decay_cost:.1%} to a bracket's training seconds (target 20 %: {met(decay_cost, TARGETS['cost'])}); "
            f"the own schedule would add {cost.loc['own schedule']:.1%}.")


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
               for name in ("bench_target", "bench_tta", "bench_parallel", "bench_deploy", "bench_recording",
                            *(f"bench_{run}" for run, _ in FIDELITY_RUNS.values()))}
    outputs["deploy_reading"] = deploy_reading(BENCH / "results" / "deploy" / "cards.json")
    outputs["fidelity_reading"] = "\n".join(fidelity_reading(name, BENCH / "results" / f"{run}.jsonl", chance)
                                            for name, (run, chance) in FIDELITY_RUNS.items())
    gpu = BENCH / "results" / "gpu_check.txt"
    outputs["gpu_check"] = gpu.read_text() if gpu.exists() else NO_GPU_RUN
    text = (BENCH / "report_template.md").read_text().format(bench_time_model=cost_model.strip(),
                                                                **{k: v.strip() for k, v in outputs.items()})
    atomic_write_text(BENCH / "REPORT.md", text)


if __name__ == "__main__":
    main()
