#!/usr/bin/env bash
# Speed of `genret index add`: new documents given docids (and states) with the trained model,
# no retraining. Adds the first N passages of msmarco-dl19-5k to a copy of an index, REPEAT
# times, and prints documents per second. With BASELINE_BIN, another genret build is timed on
# the same copies in alternation, and the table gives the ratio (same script, same machine).
#
#   INDEX=runs/quality/scifact/index bench/add/run.sh
#   BASELINE_BIN=/tmp/genret-old GENRET_BIN=target/release/genret bench/add/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
use_genret
INDEX="${INDEX:-runs/quality/scifact/index}"
N="${N:-500}"
REPEAT="${REPEAT:-3}"
THREADS="${THREADS:-2}"
WORK="${WORK:-runs/bench-add}"
mkdir -p "$WORK"
# (zcat stops early when head has enough: its SIGPIPE is not a failure.)
{ zcat -f "$SHARED/data/msmarco-dl19-5k/corpus.jsonl"* 2>/dev/null || true; } | head -n "$N" | sed 's/"_id": *"/"_id": "added-/' > "$WORK/docs.jsonl"

time_add() { # time_add BIN -> seconds
    rm -rf "$WORK/index" && cp -r "$INDEX" "$WORK/index"
    local start end
    start=$(date +%s.%N)
    OMP_NUM_THREADS=$THREADS "$1" index add --device cpu --index "$WORK/index" --docs "$WORK/docs.jsonl" > /dev/null 2>&1
    end=$(date +%s.%N)
    echo "$end - $start" | bc
}

echo "| build | documents | runs | median s | documents / s |"
echo "|---|---:|---:|---:|---:|"
declare -a new_t old_t
for _ in $(seq "$REPEAT"); do
    new_t+=("$(time_add "$GENRET")")
    if [ -n "${BASELINE_BIN:-}" ]; then old_t+=("$(time_add "$BASELINE_BIN")"); fi
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
m_new=$(median "${new_t[@]}")
printf '| %s | %s | %s | %.1f | %.1f |\n' "genret" "$N" "$REPEAT" "$m_new" "$(echo "$N / $m_new" | bc -l)"
if [ -n "${BASELINE_BIN:-}" ]; then
    m_old=$(median "${old_t[@]}")
    printf '| %s | %s | %s | %.1f | %.1f |\n' "baseline ($BASELINE_BIN)" "$N" "$REPEAT" "$m_old" "$(echo "$N / $m_old" | bc -l)"
    printf '\nspeed-up against the baseline: %.2fx\n' "$(echo "$m_old / $m_new" | bc -l)"
fi
echo "index: $INDEX; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
