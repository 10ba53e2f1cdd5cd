#!/usr/bin/env bash
# Docid schemes and GenRet ablations on one harness. Every row trains the same retriever network
# with `genret train` (bench/docids/preset.toml plus the row's switches), without a random 10% of
# the documents, which are then added by the row's own rule for new documents; `genret run`
# searches the test queries with each index's default scoring (SCORING="--scoring codes --beam 100"
# gives the paper's). Prints one table: nDCG@10, R@1, R@10, MRR@10, seen/unseen
# nDCG@10 by query (q) and R@100 by judgement (j), diversity d at step 1, distinct docids before
# disambiguation, largest collision group, training time.
#
#   bench/docids/run.sh                                    # all rows, scifact and msmarco-dl19-5k
#   DATASETS=scifact ROWS="genret hkmeans rq" bench/docids/run.sh
#   GENRET_BIN=target/debug/genret bench/docids/run.sh     # use a built binary
#   TABLE_ONLY=1 bench/docids/run.sh                       # only print the table of what ran
#   RERUN_SEARCH=1 bench/docids/run.sh                     # search the trained rows again
#
# Rows: genret atomic naive hkmeans rq no-progressive no-balanced-init no-sinkhorn
#       no-reconstruction one-sided-sinkhorn no-equal-norms, and the training-signal rows signal-qrels (judged
#       training queries only; documents without one are added as unseen) and signal-fallback
#       (queries made from the documents only). A finished row is reused (delete it to redo).
#       Row prefix-means: GenRet with clustering.project_prefix_means (see crates/genret-train/
#       src/codebook.rs); row no-equal-norms: without clustering.equal_norm_rows (genret's own
#       deviation, on by default). Row genret-default: GenRet with the default schedule (two main epochs
#       per step, documents up to 256 tokens) instead of the preset.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
use_genret

DATASETS="${DATASETS:-scifact msmarco-dl19-5k}"
ROWS="${ROWS:-genret atomic naive hkmeans rq no-progressive no-balanced-init no-sinkhorn no-reconstruction one-sided-sinkhorn no-equal-norms}"
OUT_DIR="${OUT_DIR:-runs/bench-docids}"
HOLDOUT="${HOLDOUT:-0.1}"
mkdir -p "$OUT_DIR"

row_scheme() {
    case "$1" in atomic|naive|hkmeans|rq) echo "$1" ;; *) echo genret ;; esac
}

# train_row DATASET ROW DIR: writes the row's configuration and trains it into DIR.
train_row() {
    local ds=$1 row=$2 dir=$3
    echo "== $ds / $row" >&2
    rm -rf "$dir"
    mkdir -p "$dir"
    # The preset plus the row's switch (TOML tables may not repeat, so merge them).
    python - "$row" > "$dir.toml" <<'PY'
import sys, tomllib
row = sys.argv[1]
with open("bench/docids/preset.toml", "rb") as f:
    cfg = tomllib.load(f)
switch = {
    "no-progressive": ("schedule", "progressive", False),
    "no-balanced-init": ("clustering", "balanced_init", False),
    "no-sinkhorn": ("sinkhorn", "enabled", False),
    "one-sided-sinkhorn": ("sinkhorn", "one_sided", True),
    "no-reconstruction": ("losses", "reconstruction", 0.0),
    "signal-qrels": ("signal", "sources", ["qrels"]),
    "signal-fallback": ("signal", "sources", ["fallback"]),
    "prefix-means": ("clustering", "project_prefix_means", True),
    "no-equal-norms": ("clustering", "equal_norm_rows", False),
}.get(row)
if row == "genret-default":
    cfg = {}  # genret's default schedule, not the shorter preset
if switch:
    cfg.setdefault(switch[0], {})[switch[1]] = switch[2]
for table, values in cfg.items():
    print(f"[{table}]")
    for k, v in values.items():
        if isinstance(v, bool):
            v = str(v).lower()
        elif isinstance(v, list):
            v = "[" + ", ".join(f'"{x}"' for x in v) + "]"
        print(f"{k} = {v}")
    print()
PY
    "$GENRET" train --data "$SHARED/data/$ds" --model "$MODEL" --out "$dir" --config "$dir.toml" \
        --docids "$(row_scheme "$row")" --holdout-docs "$HOLDOUT" --device cpu > "$dir.train.log" 2>&1 \
        || { echo "training failed: $dir.train.log" >&2; tail -5 "$dir.train.log" >&2; return 1; }
}

for ds in $DATASETS; do
    [ -n "${TABLE_ONLY:-}" ] && break
    for row in $ROWS; do
        dir="$OUT_DIR/$ds/$row"
        if [ -n "${RERUN_SEARCH:-}" ] && [ -d "$dir/index" ]; then
            echo "== $ds / $row: searching again" >&2
        elif [ -f "$dir/run.metrics.json" ]; then
            echo "== $ds / $row: reusing $dir" >&2
            continue
        else
            train_row "$ds" "$row" "$dir" || continue
        fi
        # SCORING: extra `genret run` flags; none = each index's default scoring and beam.
        # shellcheck disable=SC2086
        "$GENRET" run --index "$dir/index" --data "$SHARED/data/$ds" --split test --depth 100 ${SCORING:-} \
            --device cpu --out "$dir/run.trec" --metrics-out "$dir/run.metrics.json.tmp" > "$dir.run.log" 2>&1 \
            && mv "$dir/run.metrics.json.tmp" "$dir/run.metrics.json"
    done
done

echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; holdout $HOLDOUT; scoring: ${SCORING:-the default of each index}"
python - "$OUT_DIR" "$DATASETS" "$ROWS" <<'PY'
import json, os, sys
out, datasets, rows = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
cols = ["dataset", "row", "nDCG@10", "R@1", "R@10", "MRR@10", "seen nDCG@10 (q)", "unseen nDCG@10 (q)",
        "seen R@100 (j)", "unseen R@100 (j)", "d (step 1)", "distinct docids", "largest group", "train s"]
table = []
for ds in datasets:
    for row in rows:
        d = os.path.join(out, ds, row)
        # Health of the docids before disambiguation: the last report that is not the final one.
        # A dropped re-assignment leaves the step-wise docids in place.
        health, before_reassign = None, None
        if os.path.exists(os.path.join(d, "metrics.jsonl")):
            for line in open(os.path.join(d, "metrics.jsonl")):
                e = json.loads(line)
                if e.get("event") == "health" and e.get("stage") != "disambiguated":
                    if e.get("stage") == "reassigned":
                        before_reassign = health
                    health = e["health"]
                elif e.get("event") == "reassignment_dropped":
                    health = before_reassign
        try:
            run = json.load(open(os.path.join(d, "run.metrics.json")))
            manifest = json.load(open(os.path.join(d, "manifest.json")))
        except FileNotFoundError:
            # A row whose training stopped says why (its log's error line), with the docids'
            # health where it got that far.
            log = os.path.join(out, ds, f"{row}.train.log")
            why = "(not run)"
            if os.path.exists(log):
                last = [l for l in open(log).read().splitlines() if l.startswith("error:")]
                if not last:
                    why = "(unfinished)"
                elif "collision group" in last[-1]:
                    why = "stopped: more than K documents share a docid"
                else:
                    why = "stopped: " + last[-1].split(": ", 2)[-1][:60]
            h = [f"{health['steps'][0]['diversity']:.3f}", f"{health['distinct_docids']}/{health['n_docs']}",
                 str(health["largest_collision_group"])] if health else ["", "", ""]
            table.append([ds, row, why, "", "", "", "", "", "", ""] + h + [""])
            continue
        m = run["metrics"]
        groups = run.get("seen_unseen") or {}
        g = lambda name: groups.get(name, {}).get("metrics", {}).get("nDCG@10")
        fmt = lambda v: "-" if v is None else f"{v:.4f}"
        groups_n = {k: groups.get(k, {}).get("num_queries") for k in ("seen", "unseen")}
        judged = run.get("seen_unseen_judgements") or {}
        j = lambda name: judged.get(name, {}).get("metrics", {}).get("R@100")
        table.append([ds, row, fmt(m.get("nDCG@10")), fmt(m.get("R@1")), fmt(m.get("R@10")), fmt(m.get("MRR@10")),
                      f"{fmt(g('seen'))} ({groups_n['seen']})", f"{fmt(g('unseen'))} ({groups_n['unseen']})",
                      fmt(j("seen")), fmt(j("unseen")),
                      f"{health['steps'][0]['diversity']:.3f}", f"{health['distinct_docids']}/{health['n_docs']}",
                      str(health["largest_collision_group"]), f"{manifest['result']['wall_secs']:.0f}"])
w = [max(len(x[i]) for x in [cols] + table) for i in range(len(cols))]
line = lambda r: "| " + " | ".join(c.ljust(n) for c, n in zip(r, w)) + " |"
print(line(cols)); print("|" + "|".join("-" * (n + 2) for n in w) + "|")
for r in table:
    print(line(r))
PY
echo "runs: $OUT_DIR"
