#!/usr/bin/env bash
# BM25 baseline benchmark: builds the release `genret`, runs `genret bm25` on the shared
# SciFact and MS MARCO (TREC DL 2019, 5k passages) test splits, and prints one table with the
# metrics, the index build time and the query times next to the published reference numbers.
#
# Usage: bench/bm25/run.sh [--variants]
#   --variants   also run SciFact with each analysis/field variant and print a second table
# Environment:
#   GENRET_SHARED  folder holding data/ (default: <repo root>/../shared)
#   BENCH_OUT      where runs, metrics JSON and indexes go (default: <repo root>/target/bench/bm25)
#   THREADS        search and indexing threads (default: all cores)
#   GENRET_BIN     use this `genret` binary instead of building target/release/genret
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
DATA=$SHARED/data
OUT=${BENCH_OUT:-$PWD/target/bench/bm25}
THREADS=${THREADS:-0}
VARIANTS=0
[[ "${1:-}" == "--variants" ]] && VARIANTS=1

for ds in scifact msmarco-dl19-5k; do
  [[ -d "$DATA/$ds" ]] || { echo "missing $DATA/$ds (set GENRET_SHARED)" >&2; exit 1; }
done
use_genret
mkdir -p "$OUT"

# Value of a number field in our own pretty-printed JSON (one `"key": value` per line).
jnum() { grep -m1 -F "\"$1\": " "$2" | sed -E 's/.*": ([-0-9.eE+]+|null),?$/\1/'; }

# run NAME DATASET [extra genret bm25 flags...]: fresh index, run, metrics JSON in $OUT/NAME.json
run() {
  local name=$1 ds=$2; shift 2
  if ! "$GENRET" --log warn bm25 --data "$DATA/$ds" --split test --k 1000 --threads "$THREADS" \
    --index "$OUT/index/$name" --rebuild --out "$OUT/$name.trec" --metrics-out "$OUT/$name.json" \
    "$@" > "$OUT/$name.log" 2>&1; then
    cat "$OUT/$name.log" >&2
    exit 1
  fi
}

row() {  # row NAME LABEL REFERENCE
  local j=$OUT/$1.json
  local latency
  latency=$(printf "%.2f / %.2f ms" "$(jnum query_p50_ms "$j")" "$(jnum query_p99_ms "$j")")
  printf "| %-16s | %7.4f | %7.4f | %7.4f | %6.2f s | %6.3f s | %19s | %-34s |\n" "$2" \
    "$(jnum nDCG@10 "$j")" "$(jnum R@100 "$j")" "$(jnum MRR@10 "$j")" "$(jnum index_s "$j")" \
    "$(jnum search_wall_s "$j")" "$latency" "$3"
}

run scifact scifact
run msmarco-dl19-5k msmarco-dl19-5k

echo "genret bm25 (tantivy 0.27, k1=1.2 b=0.75, ES-english analysis, title+text as one field), top 1000, split test"
echo "threads: $( [[ $THREADS == 0 ]] && nproc || echo "$THREADS" ); $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo
echo "| dataset          | nDCG@10 |   R@100 |  MRR@10 |    index | queries  | per query p50 / p99 | reference nDCG@10                  |"
echo "|------------------|---------|---------|---------|----------|----------|---------------------|------------------------------------|"
row scifact "scifact (300 q)" "0.665 (BEIR paper, Elasticsearch)"
row msmarco-dl19-5k "dl19-5k (43 q)" "about 0.69 (shared/data README)"

if [[ $VARIANTS == 1 ]]; then
  declare -a names=(
    "default|one combined field, ES english (default)|"
    "titletext|title+text fields, BEIR multi_match tie 0.5|--fields title-text"
    "tie0|title+text, tie_breaker 0 (pure max)|--fields title-text --tie-breaker 0"
    "tie1|title+text, tie_breaker 1 (sum)|--fields title-text --tie-breaker 1"
    "snowball|Snowball english (Porter2) stemmer|--stemmer snowball-english"
    "nostem|no stemmer|--stemmer none"
    "nostop|no stop words|--stop-words none"
    "simpletok|tantivy SimpleTokenizer|--tokenizer simple"
    "nolower|no lower-casing|--no-lowercase"
    "tantivy|tantivy defaults: simple, Porter2, combined|--tokenizer simple --no-possessive --stemmer snowball-english --fields combined"
  )
  echo
  echo "SciFact test, variants of the setup:"
  echo
  echo "| variant                                      | nDCG@10 |   R@100 |  MRR@10 |"
  echo "|----------------------------------------------|---------|---------|---------|"
  for entry in "${names[@]}"; do
    IFS='|' read -r name label flags <<< "$entry"
    # shellcheck disable=SC2086
    run "scifact-$name" scifact $flags
    j=$OUT/scifact-$name.json
    printf "| %-44s | %7.4f | %7.4f | %7.4f |\n" "$label" "$(jnum nDCG@10 "$j")" "$(jnum R@100 "$j")" "$(jnum MRR@10 "$j")"
  done
fi
