#!/usr/bin/env bash
# End-to-end benchmark on SciFact: `genret quickstart` with the default CPU preset. Trains GenRet
# (all-MiniLM-L6-v2 encoder, frozen; docids and decoder learned), runs the BM25 and dense
# baselines with fresh indexes (so their build times are measured), searches the test queries
# one at a time at beam 10 and 100, then trains again without 10% of the documents and reports
# seen vs unseen queries. Prints ONE table (also written to $OUT_DIR/quickstart.md).
#
#   bench/scifact/run.sh                          # ~35 min on 2 cores
#   GENRET_BIN=target/debug/genret bench/scifact/run.sh --resume   # reuse finished training runs
#
# Extra arguments go to `genret quickstart` (e.g. --config my.toml, --holdout-docs 0.2).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
use_genret

OUT_DIR="${OUT_DIR:-runs/bench-scifact}"

"$GENRET" quickstart --data "$SHARED/data/scifact" --model "$MODEL" --out "$OUT_DIR" \
    --holdout-docs 0.1 --fresh-baselines --device cpu "$@"
echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs, metrics and the table: $OUT_DIR"
