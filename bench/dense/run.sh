#!/usr/bin/env bash
# Dense retrieval baseline (all-MiniLM-L6-v2, exact cosine search) on the shared evaluation data:
# builds genret in release mode, runs `genret dense` on scifact (test) and msmarco-dl19-5k
# (test) with a fresh embeddings cache, and prints one table: nDCG@10, R@1, R@10, R@100, MRR@10,
# corpus encoding time and throughput, per-query latency (encode + exact search) p50/p99.
#
#   bench/dense/run.sh                 # 2 threads (THREADS=N to change), ~5-10 min on 2 cores
#   GENRET_BIN=target/debug/genret bench/dense/run.sh   # use a built binary instead of a release build
#
# Reference (README of the shared data): scifact test nDCG@10 0.6456, R@100 0.925.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
use_genret

THREADS="${THREADS:-2}"
DATASETS="${DATASETS:-scifact msmarco-dl19-5k}"
OUT_DIR="${OUT_DIR:-$(mktemp -d -t genret-bench-dense.XXXXXX)}"
mkdir -p "$OUT_DIR"

for ds in $DATASETS; do
    echo "== $ds" >&2
    # A fresh cache folder, so the encoding time is measured (a second run would reuse it).
    rm -rf "$OUT_DIR/$ds-cache"
    "$GENRET" dense --model "$MODEL" --data "$SHARED/data/$ds" --split test \
        --out "$OUT_DIR/$ds.dense.trec" --metrics-out "$OUT_DIR/$ds.json" \
        --max-len 256 --k 1000 --batch-size 32 --threads "$THREADS" --device cpu \
        --cache-dir "$OUT_DIR/$ds-cache" >/dev/null
done

echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $THREADS threads; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
python - "$OUT_DIR" $DATASETS <<'PY'
import json, os, sys
out, datasets = sys.argv[1], sys.argv[2:]
cols = ["dataset", "docs", "queries", "nDCG@10", "R@1", "R@10", "R@100", "MRR@10",
        "encode s", "docs/s", "query p50 ms", "query p99 ms"]
rows = []
for ds in datasets:
    r = json.load(open(os.path.join(out, f"{ds}.json")))
    m, t = r["metrics"], r["timings"]
    rows.append([ds, str(r["num_docs"]), str(r["num_queries"])]
                + [f"{m[k]:.4f}" for k in ["nDCG@10", "R@1", "R@10", "R@100", "MRR@10"]]
                + [f"{t['encode_s']:.1f}", f"{t['docs_per_s']:.1f}", f"{t['query_p50_ms']:.1f}", f"{t['query_p99_ms']:.1f}"])
w = [max(len(x[i]) for x in [cols] + rows) for i in range(len(cols))]
line = lambda r: "| " + " | ".join(c.ljust(n) for c, n in zip(r, w)) + " |"
print(line(cols)); print("|" + "|".join("-" * (n + 2) for n in w) + "|")
for r in rows:
    print(line(r))
PY
echo "runs and metrics: $OUT_DIR"
