#!/usr/bin/env bash
# The longer fuzzing campaign: every property-based fuzz target (the parsers of user files and
# the index's own files) with many more cases than CI's, timed, as a table.
#
#   bench/fuzz/run.sh                  # CASES=10000 per target (index files: CASES/5)
#   CASES=100000 bench/fuzz/run.sh
#
# Built in the test profile (what `cargo test` already built; dependencies are optimised).
# CI runs the same targets with proptest's default 256 cases (64 for the index files) as part
# of `cargo test`. A failing case is shrunk by proptest and saved under proptest-regressions/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/env.sh
CASES="${CASES:-10000}"
INDEX_CASES=$((CASES / 5))
export OMP_WAIT_POLICY=PASSIVE
cargo test --no-run -q -p genret-data -p genret-train -p genret-index --tests 2>/dev/null

run() { # run PACKAGE TEST CASES
    local status targets secs
    if PROPTEST_CASES=$3 cargo test -q -p "$1" --test "$2" > "/tmp/genret-fuzz-$2.log" 2>&1; then status="no failure"; else status="FAILED (see /tmp/genret-fuzz-$2.log)"; fi
    targets=$(grep -o '[0-9]* passed' "/tmp/genret-fuzz-$2.log" | awk '{n += $1} END {print n + 0}')
    secs=$(grep -o 'finished in [0-9.]*s' "/tmp/genret-fuzz-$2.log" | awk '{sub("s", "", $3); t += $3} END {print t + 0}')
    printf '| %s (%s) | %s | %s | %s | %s |\n' "$2" "$1" "$targets" "$3" "$secs" "$status"
}

echo "| test file (crate) | targets | cases per target | seconds | result |"
echo "|---|---:|---:|---:|---|"
run genret-data fuzz_parsers "$CASES"
run genret-train fuzz_config "$CASES"
run genret-index fuzz_index_files "$INDEX_CASES"
echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
