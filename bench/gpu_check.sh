#!/usr/bin/env bash
# GPU check, one command on a machine with an NVIDIA GPU (from the repository root, after `make install`):
#
#     bash bench/gpu_check.sh
#
# 1. the test files whose code paths change on a GPU (mixed precision in float16 with loss scaling,
#    MirroredStrategy, the fused BatchNorm equivalence, the stages, multi-worker), on the GPU;
# 2. bench/gpu_bench.py: stage-1 training float32 / mixed precision / MirroredStrategy over one GPU,
#    the cost of the per-step loss read-back, inference, and the PyTorch reference on the same GPU;
# and prints one table: the tests' pass counts, then the benchmark's rows. Takes a few minutes.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
OUT=${OUT:-$(mktemp -d)}

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader \
    > "$OUT/gpus.txt" 2>&1 || echo "nvidia-smi not found" > "$OUT/gpus.txt"
"$PY" -c "import aitom, tensorflow as tf; print(len(tf.config.list_physical_devices('GPU')))" \
    > "$OUT/tf_gpus.txt" 2>/dev/null || echo 0 > "$OUT/tf_gpus.txt"

TESTS="tests/test_fsft_precision.py tests/test_fsft_distribute.py tests/test_fsft_performance_equivalence.py
       tests/test_fsft_stages.py tests/test_multiworker.py"
rows=()
for t in $TESTS; do
    timeout 900 "$PY" -m pytest -q -p no:xdist "$t" > "$OUT/$(basename "$t" .py).log" 2>&1
    rc=$?
    summary=$(grep -E "passed|failed|error|skipped" "$OUT/$(basename "$t" .py).log" | tail -1)
    rows+=("| $t | ${summary:-no summary (exit $rc)} | exit $rc |")
done

timeout 1200 "$PY" bench/gpu_bench.py > "$OUT/gpu_bench.md" 2> "$OUT/gpu_bench.err"
bench_rc=$?

echo "GPUs (nvidia-smi): $(tr '\n' ';' < "$OUT/gpus.txt") TensorFlow sees $(cat "$OUT/tf_gpus.txt") GPU(s)."
echo
echo "| test file | result | status |"
echo "|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
if [ $bench_rc -eq 0 ]; then
    cat "$OUT/gpu_bench.md"
else
    echo "bench/gpu_bench.py failed (exit $bench_rc); last lines of its log:"
    tail -20 "$OUT/gpu_bench.err"
fi
echo
echo "logs: $OUT"
