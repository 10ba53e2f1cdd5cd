#!/usr/bin/env bash
# Model-core benchmark: genret (tch/libtorch, Rust) against PyTorch (Python) doing the same work
# on the same number of threads. Builds the Rust side in release mode, checks that both sides
# compute the same losses and embeddings (bench_model --check-dir / bench_model.py --check-dir),
# then times, for each thread count, each measurement with genret and then with PyTorch, and
# prints one table with the ratio genret/PyTorch (> 1: genret is faster).
#
#   bench/model/run.sh                      # threads 2 and 1, all four measurements (~5-8 min)
#   THREADS="2" MEASUREMENTS="bert-train" bench/model/run.sh
#   BENCH_BIN=target/debug/examples/bench_model SKIP_CHECK=1 bench/model/run.sh
#
# Measurements: see crates/genret-model/examples/bench_model.rs. Results (JSON lines) are kept
# in $OUT_DIR (default: a temporary folder, printed at the end).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh

THREADS="${THREADS:-2 1}"
MEASUREMENTS="${MEASUREMENTS:-minilm-encode bert-train t5-encode t5-train}"
OUT_DIR="${OUT_DIR:-$(mktemp -d -t genret-bench-model.XXXXXX)}"
mkdir -p "$OUT_DIR"
PY="${PYTHON:-python}"

if [ -n "${BENCH_BIN:-}" ]; then
    BIN="$BENCH_BIN"   # a bench_model binary built already
else
    cargo build --release -p genret-model --example bench_model
    BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_model"
fi

if [ "${SKIP_CHECK:-0}" != 1 ]; then
    echo "== parity: same weights and inputs, dropout off, one AdamW step"
    "$BIN" --check-dir "$OUT_DIR/check" --threads 2 --model "$MODEL"
    "$PY" bench/model/bench_model.py --check-dir "$OUT_DIR/check" --threads 2 --model "$MODEL"
fi

RESULTS="$OUT_DIR/results.jsonl"
: > "$RESULTS"
for t in $THREADS; do
    for m in $MEASUREMENTS; do
        echo "== $m, $t thread(s)" >&2
        OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t "$BIN" --threads "$t" --only "$m" --model "$MODEL" >> "$RESULTS"
        OMP_NUM_THREADS=$t MKL_NUM_THREADS=$t "$PY" bench/model/bench_model.py --threads "$t" --only "$m" --model "$MODEL" >> "$RESULTS"
    done
done

echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - <<'PY'
import torch, transformers
print(f"libtorch/torch {torch.__version__}, transformers {transformers.__version__}, OMP_WAIT_POLICY=PASSIVE")
PY
"$PY" bench/model/bench_model.py --table "$RESULTS"
echo "results: $RESULTS"
