#!/usr/bin/env bash
# Retrieval quality of GenRet, lever by lever (the quality issue). Every setting is CHOSEN on
# SciFact's development split (carved from the training queries; training never sees it) and
# each finished configuration is then evaluated ONCE on the test split.
#
# Phases (each reuses what an earlier run finished; delete a folder to redo it):
#   1. train   GenRet with the default preset on SciFact (train split = train minus dev), and the
#              untrained model (bench/quality/untrained.toml: codebooks from balanced k-means on
#              the untrained decoder's states, no epoch), and the default preset with 10% of the
#              documents held out (seen vs unseen).
#   2. dev     one `genret run --split dev` per lever: scoring (codes log-prob / logit, beam 100
#              or exact; decoder or encoder states with code weights), fusion with BM25
#              (min-max weights, RRF); BM25 and dense on dev; diagnostics of both models.
#   3. choose  the best dev nDCG@10 of each family (codes only, states, hybrid).
#   4. test    each chosen configuration, the paper-faithful scoring, the untrained model, BM25
#              and dense, once on test; seen/unseen on the holdout model.
#   5. msmarco the same preset on msmarco-dl19-5k (no training queries: trained from the passages),
#              scored with the settings chosen on SciFact dev.
#   6. residual residual code scores on every model above and on longer docids (rq K x M sweep,
#              GenRet's untrained tokenizer at 8 x 256), chosen on dev, each chosen one on test.
#   7. adapt   encoder adaptation (bench/quality/adapt.toml: the default preset plus [adapt], the
#              top encoder layers fine-tuned on the judged training pairs before docids are
#              learned; epochs and layers chosen on dev by bench/quality/adapt_sweep.py): every
#              scoring and fusion row again on the adapted model, chosen on dev, once on test.
#   8. hard    hard negatives in adaptation (bench/quality/adapt-hard.toml, the default since
#              session 8; chosen on dev by bench/quality/adapt_negatives_sweep.py): the main rows
#              on that model, the choice on dev among both adapted models' rows, once on test;
#              HOLDOUT_HARD=1 adds its seen/unseen training and row.
#   9. long    long docids on the adapted encoder (bench/quality/adapt-untrained-16x256.toml:
#              adaptation, then GenRet's untrained tokenizer at 16 x 256), residual code scores
#              and states on dev, codes only once on test.
#  10. resdec  residual decoding (bench/quality/adapt-residual-16x256.toml: phase 9 with
#              docids.residual, so the untrained tokenizer is residual quantisation of the
#              decoder states): code-only rows by residual, logit and log-prob scores and a states
#              row on dev, the best codes-only row once on test.
# Prints the tables (also written to $OUT_DIR/quality.md).
#
#   bench/quality/run.sh                          # everything, about 75 min on 2 cores
#   PHASES="dev choose test" bench/quality/run.sh # skip phases (finished ones are reused anyway)
#   GENRET_BIN=target/release/genret bench/quality/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
use_genret

OUT_DIR="${OUT_DIR:-runs/quality}"
PHASES="${PHASES:-train dev choose test msmarco residual adapt hard long resdec}"
SCIFACT="$SHARED/data/scifact"
MSMARCO="$SHARED/data/msmarco-dl19-5k"
THREADS="${THREADS:-2}"
mkdir -p "$OUT_DIR/rows"
M="nDCG@10,R@1,R@10,R@100,MRR@10"

has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

# train NAME DATA [ARGS...]: a training run into $OUT_DIR/NAME (skipped when its index exists).
train() {
    local name=$1 data=$2; shift 2
    if [ -f "$OUT_DIR/$name/index/index.json" ]; then return; fi
    echo "== train $name" >&2
    "$GENRET" train --data "$data" --model "$MODEL" --out "$OUT_DIR/$name" --threads "$THREADS" --device cpu --resume "$@" \
        > "$OUT_DIR/$name.train.log" 2>&1 || { tail -20 "$OUT_DIR/$name.train.log" >&2; return 1; }
}

# row NAME SPLIT INDEX [ARGS...]: `genret run`, one query at a time (true per-query latency),
# metrics in $OUT_DIR/rows/NAME.SPLIT.json (skipped when it exists).
row() {
    local name=$1 split=$2 index=$3; shift 3
    local json="$OUT_DIR/rows/$name.$split.json"
    if [ -f "$json" ]; then return; fi
    echo "== $split: $name $*" >&2
    local data="$SCIFACT"
    case "$name" in msmarco*) data="$MSMARCO" ;; esac
    "$GENRET" run --index "$OUT_DIR/$index/index" --data "$data" --split "$split" --device cpu \
        --out "$OUT_DIR/rows/$name.$split.trec" --metrics-out "$json" --batch-size 1 -m "$M" "$@" \
        > "$OUT_DIR/rows/$name.$split.log" 2>&1 || { tail -5 "$OUT_DIR/rows/$name.$split.log" >&2; return 1; }
    printf '%s\n' "$*" > "$OUT_DIR/rows/$name.$split.args"
    printf '%s\n' "$index" > "$OUT_DIR/rows/$name.$split.index"
}

# baseline SYSTEM DATA SPLIT NAME: BM25 or dense on the same split.
baseline() {
    local sys=$1 data=$2 split=$3 name=$4
    local json="$OUT_DIR/rows/$name.$split.json"
    if [ -f "$json" ]; then return; fi
    echo "== $split: $name" >&2
    if [ "$sys" = bm25 ]; then
        "$GENRET" bm25 --data "$data" --split "$split" --out "$OUT_DIR/rows/$name.$split.trec" --metrics-out "$json" -m "$M" > /dev/null 2>&1
    else
        "$GENRET" dense --data "$data" --model "$MODEL" --split "$split" --device cpu --out "$OUT_DIR/rows/$name.$split.trec" --metrics-out "$json" -m "$M" > /dev/null 2>&1
    fi
    echo "$sys" > "$OUT_DIR/rows/$name.$split.args"
}

WEIGHTS="0 0.02 0.05 0.1 0.2 0.5"
FUSE_WEIGHTS="0.3 0.4 0.5 0.6 0.7"

if has_phase train; then
    train scifact "$SCIFACT"
    train untrained "$SCIFACT" --config bench/quality/untrained.toml
    train distill "$SCIFACT" --config bench/quality/distill.toml
    train holdout "$SCIFACT" --holdout-docs 0.1
fi

if has_phase dev; then
    baseline bm25 "$SCIFACT" dev bm25
    baseline dense "$SCIFACT" dev dense
    row untrained-codes dev untrained --scoring codes
    row untrained-encoder-states dev untrained --scoring encoder-states --code-weight 0
    row untrained-decoder-states dev untrained --scoring decoder-states --code-weight 0
    row codes-logprob dev scifact --scoring codes --code-score log-prob
    row codes-logit dev scifact --scoring codes --code-score logit
    row codes-logprob-beam10 dev scifact --scoring codes --code-score log-prob --beam 10
    row codes-logprob-exact dev scifact --scoring codes --code-score log-prob --exact
    row codes-logit-exact dev scifact --scoring codes --code-score logit --exact
    for kind in decoder encoder; do
        for w in $WEIGHTS; do
            row "$kind-states-w$w" dev scifact --scoring "$kind-states" --code-weight "$w"
        done
    done
    # Wider candidate sets: a wider beam, or fewer codes searched (encoder states only).
    row decoder-states-w0.05-beam300 dev scifact --scoring decoder-states --code-weight 0.05 --beam 300
    for w in 0 0.05; do
        row "encoder-states-w$w-depth1-beam10" dev scifact --scoring encoder-states --code-weight "$w" --candidate-depth 1 --beam 10
        row "encoder-states-w$w-depth1-beam20" dev scifact --scoring encoder-states --code-weight "$w" --candidate-depth 1 --beam 20
        row "encoder-states-w$w-depth2-beam300" dev scifact --scoring encoder-states --code-weight "$w" --candidate-depth 2 --beam 300
    done
    # Every document ordered by its encoder state: the dense baseline itself, to show what the
    # beam's candidate set loses (not a GenRet configuration, so never chosen).
    row encoder-states-exact dev scifact --scoring encoder-states --code-weight 0 --exact
    # The untrained model with the same wide candidate sets.
    row untrained-encoder-states-w0-depth1-beam20 dev untrained --scoring encoder-states --code-weight 0 --candidate-depth 1 --beam 20
    row untrained-decoder-states-w0-beam300 dev untrained --scoring decoder-states --code-weight 0 --beam 300
    # Distillation towards the encoder's geometry (bench/quality/distill.toml): the decoder's own states.
    if [ -f "$OUT_DIR/distill/index/index.json" ]; then
        row distill-codes-logprob dev distill --scoring codes
        for w in 0 0.05 0.2; do
            row "distill-decoder-states-w$w" dev distill --scoring decoder-states --code-weight "$w"
        done
        row distill-decoder-states-w0-beam300 dev distill --scoring decoder-states --code-weight 0 --beam 300
    fi
    for index in scifact untrained; do
        "$GENRET" diagnose --index "$OUT_DIR/$index/index" --data "$SCIFACT" --split dev --scoring codes --device cpu \
            --json-out "$OUT_DIR/rows/diagnose-$index.json" > "$OUT_DIR/rows/diagnose-$index.txt" 2>/dev/null || true
    done
fi

best_of() { # best_of PATTERN: the dev row with the highest nDCG@10 among rows/PATTERN.dev.json
    python3 - "$OUT_DIR/rows" "$1" <<'PY'
import glob, json, os, sys
rows, pattern = sys.argv[1], sys.argv[2]
best = max(glob.glob(os.path.join(rows, pattern + ".dev.json")), key=lambda p: json.load(open(p))["metrics"]["nDCG@10"])
print(os.path.basename(best)[: -len(".dev.json")])
PY
}

if has_phase choose || has_phase test || has_phase msmarco; then
    BEST_CODES=$(best_of "*codes-*")
    BEST_STATES=$(best_of "*-states-w*")
    STATE_INDEX=$(cat "$OUT_DIR/rows/$BEST_STATES.dev.index")
    STATE_ARGS=$(cat "$OUT_DIR/rows/$BEST_STATES.dev.args")
    if has_phase dev || has_phase choose; then
        for w in $FUSE_WEIGHTS; do
            # shellcheck disable=SC2086
            row "hybrid-w$w" dev "$STATE_INDEX" $STATE_ARGS --fuse bm25 --fuse-weight "$w"
            # The fused run is the row's second report; keep it as its own row.
            python3 bench/quality/fused.py "$OUT_DIR/rows/hybrid-w$w.dev.json"
        done
    fi
    # The trained model's own best (the default preset's index), fused too.
    BEST_TRAINED=$(cd "$OUT_DIR/rows" && grep -lx scifact -- *-states-w*.dev.index | sed 's/\.dev\.index$//' | while read -r r; do echo "$(python3 -c "import json,sys;print(json.load(open(sys.argv[1]))['metrics']['nDCG@10'])" "$r.dev.json") $r"; done | sort -gr | head -1 | cut -d' ' -f2)
    TRAINED_ARGS=$(cat "$OUT_DIR/rows/$BEST_TRAINED.dev.args")
    if has_phase dev || has_phase choose; then
        for w in $FUSE_WEIGHTS; do
            # shellcheck disable=SC2086
            row "hybrid-trained-w$w" dev scifact $TRAINED_ARGS --fuse bm25 --fuse-weight "$w"
            python3 bench/quality/fused.py "$OUT_DIR/rows/hybrid-trained-w$w.dev.json"
        done
    fi
    BEST_HYBRID=$(best_of "hybrid-w*")
    BEST_TRAINED_HYBRID=$(best_of "hybrid-trained-w*")
    echo "chosen on dev: codes only = $BEST_CODES; states = $BEST_STATES; hybrid = $BEST_HYBRID; trained model's states = $BEST_TRAINED; its hybrid = $BEST_TRAINED_HYBRID" | tee "$OUT_DIR/chosen.txt" >&2
fi

# test_row NAME DEV_ROW [INDEX]: the chosen dev row's configuration, once on test. A test row
# chosen from another dev row before (the choice moved) is run again, never reused.
test_row() {
    local name=$1 dev=$2 index=${3:-$(cat "$OUT_DIR/rows/$2.dev.index")} args
    args=$(cat "$OUT_DIR/rows/$dev.dev.args")
    local from="$OUT_DIR/rows/$name.test.from"
    if [ -f "$OUT_DIR/rows/$name.test.json" ] && [ "$(cat "$from" 2>/dev/null)" != "$dev $index $args" ]; then
        if [ -f "$from" ] || [ "$(cat "$OUT_DIR/rows/$name.test.args")" != "$args" ]; then
            rm -f "$OUT_DIR/rows/$name.test.json"
        fi
    fi
    # shellcheck disable=SC2086
    row "$name" test "$index" $args
    printf '%s\n' "$dev $index $args" > "$from"
    if [[ "$args" == *--fuse* ]]; then
        python3 bench/quality/fused.py "$OUT_DIR/rows/$name.test.json"
    fi
}

# test_chosen PREFIX LABEL CODES STATES HYBRID: records a phase's dev choice in
# chosen-PREFIX.txt and runs each chosen row once on test as PREFIX-best-{codes,states,hybrid}.
test_chosen() {
    local prefix=$1 label=$2 codes=$3 states=$4 hybrid=$5
    echo "chosen on dev ($label): codes only = $codes; states = $states; hybrid = $hybrid" | tee "$OUT_DIR/chosen-$prefix.txt" >&2
    test_row "$prefix-best-codes" "$codes"
    test_row "$prefix-best-states" "$states"
    test_row "$prefix-best-hybrid" "$hybrid"
}

if has_phase test; then
    baseline bm25 "$SCIFACT" test bm25
    baseline dense "$SCIFACT" test dense
    test_row untrained-codes untrained-codes
    test_row paper-codes codes-logprob
    test_row best-codes "$BEST_CODES"
    test_row best-states "$BEST_STATES"
    test_row best-hybrid "$BEST_HYBRID"
    test_row trained-states "$BEST_TRAINED"
    test_row trained-hybrid "$BEST_TRAINED_HYBRID"
    test_row holdout-states "$BEST_TRAINED" holdout
fi

if has_phase msmarco; then
    train msmarco "$MSMARCO"
    baseline bm25 "$MSMARCO" test msmarco-bm25
    baseline dense "$MSMARCO" test msmarco-dense
    for dev in codes-logprob "$BEST_TRAINED" "$BEST_TRAINED_HYBRID"; do
        test_row "msmarco-$dev" "$dev" msmarco
    done
fi

# Residual code scores (--code-score residual): every docid scored by the query's encoder
# embedding against additive codebooks fitted to the docids, on the models above and on docids
# long enough to carry the embedding (K and M chosen on dev): residual-quantisation docids (rq,
# no retriever epoch) and GenRet's untrained tokenizer at 8 x 256.
if has_phase residual; then
    for lk in 4x256 8x256 16x256 32x256; do
        train "rq-$lk" "$SCIFACT" --config "bench/quality/residual-$lk.toml"
    done
    train untrained-8x256 "$SCIFACT" --config bench/quality/untrained-8x256.toml
    for index in scifact untrained untrained-8x256 rq-4x256 rq-8x256 rq-16x256 rq-32x256; do
        row "residual-codes-$index" dev "$index" --scoring codes --code-score residual
    done
    # The ranking loss at temperature 20 (bench/quality/ranktemp.toml): a lever on the trained
    # model's own scores, rows as for the default preset.
    train ranktemp "$SCIFACT" --config bench/quality/ranktemp.toml
    row ranktemp-codes-logprob dev ranktemp --scoring codes --code-score log-prob
    row ranktemp-decoder-states-w0 dev ranktemp --scoring decoder-states --code-weight 0
    row ranktemp-encoder-states-w0-depth2-beam300 dev ranktemp --scoring encoder-states --code-weight 0 --candidate-depth 2 --beam 300
    row residual-codes-ranktemp dev ranktemp --scoring codes --code-score residual
    RES_CODES=$(best_of "residual-codes-*")
    RES_INDEX=$(cat "$OUT_DIR/rows/$RES_CODES.dev.index")
    for beam in 100 300; do
        row "residual-states-$RES_INDEX-beam$beam" dev "$RES_INDEX" --scoring encoder-states --code-score residual --code-weight 0 --beam "$beam"
    done
    for w in 0.5 1; do
        row "residual-states-$RES_INDEX-beam300-w$w" dev "$RES_INDEX" --scoring encoder-states --code-score residual --code-weight "$w" --beam 300
    done
    RES_STATES=$(best_of "residual-states-*")
    RES_STATE_ARGS=$(cat "$OUT_DIR/rows/$RES_STATES.dev.args")
    for w in $FUSE_WEIGHTS; do
        # shellcheck disable=SC2086
        row "residual-hybrid-w$w" dev "$RES_INDEX" $RES_STATE_ARGS --fuse bm25 --fuse-weight "$w"
        python3 bench/quality/fused.py "$OUT_DIR/rows/residual-hybrid-w$w.dev.json"
    done
    RES_HYBRID=$(best_of "residual-hybrid-*")
    test_chosen residual "residual" "$RES_CODES" "$RES_STATES" "$RES_HYBRID"
    test_row residual-trained-codes residual-codes-scifact
    # Every docid length of the sweep once on test as well (the dev pick, 32 x 256, has more
    # codebook rows than SciFact has documents: its codes hold the embeddings themselves).
    for index in untrained-8x256 rq-4x256 rq-8x256 rq-16x256; do
        test_row "residual-test-codes-$index" "residual-codes-$index"
    done
fi

# Encoder adaptation (bench/quality/adapt.toml): the same scoring and fusion rows on the model
# whose top encoder layers were fine-tuned on the judged training pairs before its docids were
# learned. "adapt-encoder-states-exact" is the adapted encoder as a dense retriever (every
# document scored): the ceiling of its candidate sets, never chosen.
if has_phase adapt; then
    train adapt "$SCIFACT" --config bench/quality/adapt.toml
    row adapt-codes-logprob dev adapt --scoring codes --code-score log-prob
    row adapt-codes-logit dev adapt --scoring codes --code-score logit
    row adapt-residual-codes dev adapt --scoring codes --code-score residual
    row adapt-decoder-states-w0 dev adapt --scoring decoder-states --code-weight 0
    row adapt-encoder-states-w0 dev adapt --scoring encoder-states --code-weight 0
    row adapt-encoder-states-w0-depth1-beam20 dev adapt --scoring encoder-states --code-weight 0 --candidate-depth 1 --beam 20
    row adapt-encoder-states-w0-depth2-beam300 dev adapt --scoring encoder-states --code-weight 0 --candidate-depth 2 --beam 300
    row adapt-encoder-states-exact dev adapt --scoring encoder-states --code-weight 0 --exact
    "$GENRET" diagnose --index "$OUT_DIR/adapt/index" --data "$SCIFACT" --split dev --scoring codes --device cpu \
        --json-out "$OUT_DIR/rows/diagnose-adapt.json" > "$OUT_DIR/rows/diagnose-adapt.txt" 2>/dev/null || true
    ADAPT_STATES=$(best_of "adapt-*-states-w*")
    ADAPT_ARGS=$(cat "$OUT_DIR/rows/$ADAPT_STATES.dev.args")
    for w in $FUSE_WEIGHTS; do
        # shellcheck disable=SC2086
        row "adapt-hybrid-w$w" dev adapt $ADAPT_ARGS --fuse bm25 --fuse-weight "$w"
        python3 bench/quality/fused.py "$OUT_DIR/rows/adapt-hybrid-w$w.dev.json"
    done
    # Reciprocal rank fusion (no weight to choose), the documented alternative to min-max.
    # shellcheck disable=SC2086
    row adapt-hybrid-wrrf dev adapt $ADAPT_ARGS --fuse bm25 --fuse-method rrf
    python3 bench/quality/fused.py "$OUT_DIR/rows/adapt-hybrid-wrrf.dev.json"
    # Z-score fusion (per-query standardised scores), the same weights (session 8).
    for w in $FUSE_WEIGHTS; do
        # shellcheck disable=SC2086
        row "adapt-hybrid-wz$w" dev adapt $ADAPT_ARGS --fuse bm25 --fuse-method z-score --fuse-weight "$w"
        python3 bench/quality/fused.py "$OUT_DIR/rows/adapt-hybrid-wz$w.dev.json"
    done
    ADAPT_CODES=$(best_of "adapt-*codes*")
    ADAPT_HYBRID=$(best_of "adapt-hybrid-w*")
    test_chosen adapt "adapt" "$ADAPT_CODES" "$ADAPT_STATES" "$ADAPT_HYBRID"
    # Seen vs unseen: the same preset without a random 10% of the documents, added afterwards.
    train adapt-holdout "$SCIFACT" --config bench/quality/adapt.toml --holdout-docs 0.1
    test_row adapt-holdout-states "$ADAPT_STATES" adapt-holdout
fi

# Hard negatives in encoder adaptation (bench/quality/adapt-hard.toml, the default preset since
# session 8): the main rows again on that model, then the choice on dev among every adapted
# model's rows, and the chosen configurations once on test.
if has_phase hard; then
    train adapt-hard "$SCIFACT" --config bench/quality/adapt-hard.toml
    row hard-codes-logit dev adapt-hard --scoring codes --code-score logit
    row hard-encoder-states-w0 dev adapt-hard --scoring encoder-states --code-weight 0
    row hard-encoder-states-exact dev adapt-hard --scoring encoder-states --code-weight 0 --exact
    for w in 0.4 0.5 0.6; do
        row "hard-hybrid-wz$w" dev adapt-hard --scoring encoder-states --code-weight 0 --fuse bm25 --fuse-method z-score --fuse-weight "$w"
        python3 bench/quality/fused.py "$OUT_DIR/rows/hard-hybrid-wz$w.dev.json"
    done
    "$GENRET" diagnose --index "$OUT_DIR/adapt-hard/index" --data "$SCIFACT" --split dev --scoring codes --device cpu \
        --json-out "$OUT_DIR/rows/diagnose-adapt-hard.json" > "$OUT_DIR/rows/diagnose-adapt-hard.txt" 2>/dev/null || true
    HARD_CODES=$(best_of "[ah][da]*codes*")
    HARD_STATES=$(best_of "[ah][da]*-states-w*")
    HARD_HYBRID=$(best_of "[ah][da]*-hybrid-w*")
    test_chosen hard "adapted models" "$HARD_CODES" "$HARD_STATES" "$HARD_HYBRID"
    if [ -n "${HOLDOUT_HARD:-}" ]; then
        train adapt-hard-holdout "$SCIFACT" --config bench/quality/adapt-hard.toml --holdout-docs 0.1
        test_row adapt-hard-holdout-states "$HARD_STATES" adapt-hard-holdout
    fi
fi

# Long docids on the adapted encoder: can codes alone rank when the encoder knows the task?
if has_phase long; then
    train adapt-long-16x256 "$SCIFACT" --config bench/quality/adapt-untrained-16x256.toml
    row long-codes-residual-16x256 dev adapt-long-16x256 --scoring codes --code-score residual
    row long-encoder-states-w0-16x256 dev adapt-long-16x256 --scoring encoder-states --code-score residual --code-weight 0 --beam 100
    LONG_CODES=$(best_of "long-codes-*")
    echo "chosen on dev (long docids): codes only = $LONG_CODES" | tee "$OUT_DIR/chosen-long.txt" >&2
    test_row long-best-codes "$LONG_CODES"
fi

# Residual decoding: GenRet's own tokenizer as residual quantisation of its decoder states, with
# no docid epoch (adapt-resdec-16x256) and with one final epoch of GenRet's losses on the full
# docids (adapt-resdec-16x256-final1). Rows on dev; the best of each family across both models
# chosen on dev and run once on test, and the decoder's own code scores (logit or log-prob, the
# generative retriever P(z|q) alone, no encoder embedding of the query) as a family of its own.
if has_phase resdec; then
    train adapt-resdec-16x256 "$SCIFACT" --config bench/quality/adapt-residual-16x256.toml
    train adapt-resdec-16x256-final1 "$SCIFACT" --config bench/quality/adapt-residual-16x256-final1.toml
    for model in adapt-resdec-16x256 adapt-resdec-16x256-final1; do
        tag=${model#adapt-}
        tag=${tag%-16x256*}${model#adapt-resdec-16x256}
        row "$tag-codes-residual-16x256" dev "$model" --scoring codes --code-score residual
        row "$tag-codes-logit-16x256" dev "$model" --scoring codes --code-score logit
        row "$tag-codes-logprob-16x256" dev "$model" --scoring codes --code-score log-prob
        row "$tag-encoder-states-w0-16x256" dev "$model" --scoring encoder-states --code-score residual --code-weight 0 --beam 100
    done
    row resdec-encoder-states-w0-beam300-16x256 dev adapt-resdec-16x256 --scoring encoder-states --code-score residual --code-weight 0 --beam 300
    row resdec-encoder-states-w0.5-16x256 dev adapt-resdec-16x256 --scoring encoder-states --code-score residual --code-weight 0.5 --beam 100
    for w in 0.4 0.5 0.6; do
        row "resdec-hybrid-wz$w" dev adapt-resdec-16x256 --scoring encoder-states --code-score residual --code-weight 0 --beam 100 --fuse bm25 --fuse-method z-score --fuse-weight "$w"
        python3 bench/quality/fused.py "$OUT_DIR/rows/resdec-hybrid-wz$w.dev.json"
    done
    test_chosen resdec "residual decoding" "$(best_of "resdec*-codes-*")" "$(best_of "resdec*-states-w*")" "$(best_of "resdec*-hybrid-w*")"
    # Where the decoder's own beam (logit code scores, beam 100) loses the relevant document.
    if [ ! -f "$OUT_DIR/rows/diagnose-adapt-resdec-16x256.json" ]; then
        "$GENRET" diagnose --index "$OUT_DIR/adapt-resdec-16x256/index" --data "$SCIFACT" --split dev --scoring codes --device cpu \
            --json-out "$OUT_DIR/rows/diagnose-adapt-resdec-16x256.json" > "$OUT_DIR/rows/diagnose-adapt-resdec-16x256.txt" 2>/dev/null || true
    fi
    RESDEC_DECODER=$(best_of "resdec*-codes-log*")
    echo "chosen on dev (residual decoding, the decoder's own code scores): $RESDEC_DECODER" | tee "$OUT_DIR/chosen-resdec-decoder.txt" >&2
    test_row resdec-best-decoder-codes "$RESDEC_DECODER"
    # Seen vs unseen: the same configuration without a random 10% of the documents, which the
    # untrained residual tokenizer then gives docids as new documents.
    train adapt-resdec-holdout "$SCIFACT" --config bench/quality/adapt-residual-16x256.toml --holdout-docs 0.1
    test_row resdec-holdout-states "$(best_of "resdec*-states-w*")" adapt-resdec-holdout
    # msmarco-dl19-5k (no training queries: no adaptation), the rows chosen on SciFact dev.
    train msmarco-resdec "$MSMARCO" --config bench/quality/adapt-residual-16x256.toml
    baseline bm25 "$MSMARCO" test msmarco-bm25
    baseline dense "$MSMARCO" test msmarco-dense
    for dev in "$(best_of "resdec*-codes-*")" "$(best_of "resdec*-states-w*")" "$(best_of "resdec*-hybrid-w*")"; do
        test_row "msmarco-$dev" "$dev" msmarco-resdec
    done
fi

python3 bench/quality/table.py "$OUT_DIR" | tee "$OUT_DIR/quality.md"
echo
echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
