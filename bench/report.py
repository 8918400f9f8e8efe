"""bench/REPORT.md from bench/report_template.md and the benchmarks' outputs: training speed, flip test-time
augmentation, many workers and the CUDA check as their commands saved them in bench/results/ (they take minutes
to an hour to rerun), and the cost model recomputed now from the committed runs in runs_precision/bench_search/
(seconds).
Usage: python bench/report.py
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent / "src"))

from utils import atomic_write_text  # noqa: E402

NO_GPU_RUN = "not run yet: no machine with a GPU has been available to this project's benchmark runs"


def main() -> None:
    cost_model = subprocess.run([sys.executable, str(BENCH / "bench_cost_model.py")], cwd=BENCH.parent,
                                capture_output=True, text=True, check=True).stdout
    outputs = {name: (BENCH / "results" / f"{name}.txt").read_text()
               for name in ("bench_target", "bench_tta", "bench_parallel")}
    gpu = BENCH / "results" / "gpu_check.txt"
    outputs["gpu_check"] = gpu.read_text() if gpu.exists() else NO_GPU_RUN
    text = (BENCH / "report_template.md").read_text().format(bench_cost_model=cost_model.strip(),
                                                                **{k: v.strip() for k, v in outputs.items()})
    atomic_write_text(BENCH / "REPORT.md", text)


if __name__ == "__main__":
    main()
