#!/usr/bin/env bash
# The CUDA path end to end, in under 5 minutes, on a machine with a GPU: main.py on the default configuration
# (10 epochs, test mode), then a 60 s search at (1e6, 0.39) on one worker and on --workers_per_gpu 4.
# Prints seconds per epoch of main.py and epochs per second of each search. No test depends on it.
# Usage: bash bench/gpu_check.sh [OUT_DIR]      (PYTHON=... to choose the interpreter; data as for prepare_data.py)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python}
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
date -u +"date: %Y-%m-%d %H:%M UTC"
$PYTHON -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('gpu:', torch.cuda.get_device_name(0), '| devices:', torch.cuda.device_count(), '| torch', torch.__version__)"
$PYTHON src/prepare_data.py >/dev/null

echo '{}' > "$OUT/default.json"  # every hyperparameter at its default
$PYTHON src/main.py -c "$OUT/default.json" -t -e 10 --device cuda --output_dir "$OUT/main" >/dev/null
$PYTHON - "$OUT/main/result_test.json" <<'EOF'
import json, sys
metrics = json.load(open(sys.argv[1]))["metrics"]
print(f"main.py default configuration: {metrics['train_seconds'] / metrics['epochs']:.3f} s per epoch "
      f"({metrics['epochs']} epochs, test top-3 {metrics['top3_accuracy']:.3f})")
EOF

for workers in "--n_workers 1" "--workers_per_gpu 4"; do
    dir="$OUT/search_${workers// /_}"
    $PYTHON src/AutoML.py --constraint_max_model_size 1e6 --constraint_min_precision 0.39 --max_time 60 \
        --device cuda $workers --seed 0 --output_dir "$dir" --quiet >/dev/null || true
    $PYTHON - "$dir" "$workers" <<'EOF'
import glob, json, sys
run = json.load(open(glob.glob(f"{sys.argv[1]}/automl_run_*.json")[0]))
evaluations = run["evaluations"]
epochs = sum(e["epochs_this_call"] for e in evaluations)
pids = {e["worker"]["pid"] for e in evaluations if "worker" in e}
best = run["best"]["top3_accuracy"] if run["best"] else float("nan")
print(f"search {sys.argv[2]}: {len(evaluations)} evaluations on {len(pids)} workers, {epochs} epochs, "
      f"{epochs / 60:.2f} epochs per second, best validation top-3 {best:.3f}")
EOF
done
