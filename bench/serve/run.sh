#!/usr/bin/env bash
# Load test of `genret serve` on the SciFact index (127.0.0.1 only, a bounded request count per
# level): throughput, p50/p99 latency and errors at concurrency 1, 8 and 32 for genret, BM25 and
# dense on the same server; GenRet and dense with batched (--max-batch 32) against unbatched
# (--max-batch 1) model calls; the server's memory (VmRSS/VmHWM from /proc); time from start
# until the first answer; the latency of one add of 10 documents. Prints markdown tables.
#
#   bench/serve/run.sh                        # defaults below
#   INDEX=runs/quickstart/train/index REQUESTS=200 bench/serve/run.sh
#
# The index is copied to a temporary folder first (the add writes to it). The dense view's
# document embeddings are cached under $GENRET_HOME/dense: the first start encodes them.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
INDEX=${INDEX:-$ROOT/runs/quickstart/train/index}
DATA=${DATA:-$ROOT/../shared/data/scifact}
DENSE_MODEL=${DENSE_MODEL:-$ROOT/../shared/models/all-MiniLM-L6-v2}
REQUESTS=${REQUESTS:-200}
LEVELS=${LEVELS:-1,8,32}
PORT=${PORT:-18080}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/genret/target}"
. scripts/env.sh

cargo build --release -q -p genret-cli
cargo build --release -q -p genret-serve --example load
WORK=$(mktemp -d /tmp/genret-serve-bench.XXXXXX)
trap 'kill "$SERVER" 2>/dev/null || true; rm -rf "$WORK"' EXIT
cp "$CARGO_TARGET_DIR/release/genret" "$CARGO_TARGET_DIR/release/examples/load" "$WORK/"
cp -r "$INDEX" "$WORK/index"
ADDR=127.0.0.1:$PORT
SERVER=

rss_mb() { awk -v k="$2:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }

start_server() { # $1: max batch
    local t0 t1
    t0=$(date +%s.%N)
    "$WORK/genret" --log warn serve --index "$WORK/index" --bm25 --dense --dense-model "$DENSE_MODEL" \
        --addr "$ADDR" --max-batch "$1" 2> "$WORK/server-$1.log" &
    SERVER=$!
    until curl -sf -o /dev/null "http://$ADDR/search" -d '{"query": "vitamin d deficiency", "k": 10}'; do
        kill -0 "$SERVER" || { cat "$WORK/server-$1.log"; exit 1; }
        sleep 0.05
    done
    t1=$(date +%s.%N)
    FIRST_ANSWER=$(echo "$t1 - $t0" | bc)
    RSS_START=$(rss_mb "$SERVER" VmRSS)
}

stop_server() {
    kill -TERM "$SERVER"
    wait "$SERVER" || { echo "server exited badly"; cat "$WORK/server-$1.log"; }
}

ROWS=$WORK/rows.md
SERVERS=$WORK/servers.md
: > "$ROWS"; : > "$SERVERS"
for BATCH in 32 1; do
    start_server "$BATCH"
    if [ "$BATCH" = 32 ]; then SYSTEMS="genret bm25 dense"; else SYSTEMS="genret dense"; fi
    for SYSTEM in $SYSTEMS; do
        "$WORK/load" --addr "$ADDR" --queries "$DATA/queries.jsonl" --system "$SYSTEM" \
            --concurrency "$LEVELS" --requests "$REQUESTS" --label "$BATCH" | tee -a "$ROWS"
    done
    ADD_MS=
    if [ "$BATCH" = 32 ]; then
        # Ten new documents (ids not in the index), one request; they are searchable after it.
        if [ -f "$DATA/corpus.jsonl" ]; then CORPUS=("cat" "$DATA/corpus.jsonl"); else CORPUS=("zcat" "$DATA/corpus.jsonl.gz"); fi
        # (zcat's SIGPIPE when head has its lines is not a failure.)
        { "${CORPUS[@]}" || true; } | head -n 10 | sed 's/"_id": *"\([^"]*\)"/"_id": "bench-\1"/' > "$WORK/add.jsonl"
        ADD_MS=$(curl -sf "http://$ADDR/documents" --data-binary @"$WORK/add.jsonl" | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["took_ms"]))')
    fi
    echo "| $BATCH | $FIRST_ANSWER | $RSS_START | $(rss_mb "$SERVER" VmHWM) | ${ADD_MS:--} |" >> "$SERVERS"
    stop_server "$BATCH"
done

echo
echo "Machine: $(nproc) cores, $(uname -m); $REQUESTS requests per level after 8 warm-up requests; k = 10."
echo
echo "| max batch | system | concurrency | requests | requests/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|---|"
cat "$ROWS"
echo
echo "| max batch | start to first answer, s | RSS after start, MiB | peak RSS, MiB | add 10 documents, ms |"
echo "|---|---|---|---|---|"
cat "$SERVERS"
echo
python3 - "$ROWS" <<'PY'
import sys
rows = [l.strip().strip("|").split("|") for l in open(sys.argv[1]) if l.startswith("|")]
t = {(r[0].strip(), r[1].strip(), int(r[2])): float(r[4]) for r in rows}
for batch in ("32", "1"):
    for system in ("genret", "bm25", "dense"):
        lv = sorted(c for (b, s, c) in t if b == batch and s == system)
        if len(lv) >= 2:
            print(f"- max batch {batch}, {system}: throughput at concurrency {lv[-1]} is "
                  f"{t[(batch, system, lv[-1])] / t[(batch, system, lv[0])]:.1f}x concurrency {lv[0]}")
PY
