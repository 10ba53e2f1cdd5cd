"""Prints the tables of bench/quality/run.sh from the JSON reports it left in OUT_DIR."""
import glob
import json
import os
import sys

out = sys.argv[1]
rows_dir = os.path.join(out, "rows")


def load(name, split):
    p = os.path.join(rows_dir, f"{name}.{split}.json")
    return json.load(open(p)) if os.path.exists(p) else None


def args_of(name, split):
    p = os.path.join(rows_dir, f"{name}.{split}.args")
    return open(p).read().strip() if os.path.exists(p) else ""


def fmt(v, d=4):
    return "-" if v is None else f"{v:.{d}f}"


def line(label, r, extra=""):
    m, t = r["metrics"], r.get("timings", {})
    per_doc = None
    if r.get("index_bytes_beyond_weights") is not None and r.get("num_docs"):
        per_doc = r["index_bytes_beyond_weights"] / r["num_docs"]
    return "| {} | {} | {} | {} | {} | {} | {} | {} | {} |{}".format(
        label, fmt(m.get("nDCG@10")), fmt(m.get("R@1")), fmt(m.get("R@10")), fmt(m.get("R@100")), fmt(m.get("MRR@10")),
        fmt(t.get("query_p50_ms"), 1), fmt(t.get("query_p99_ms"), 1), "-" if per_doc is None else f"{per_doc:.0f}", extra)


HEAD = "| row | nDCG@10 | R@1 | R@10 | R@100 | MRR@10 | p50 ms | p99 ms | index B/doc |"
RULE = "|---|---:|---:|---:|---:|---:|---:|---:|---:|"

print("## SciFact dev (carved from the training queries): every lever\n")
print(HEAD[:-1] + " command flags |")
print(RULE + "---|")
order = ["bm25", "dense", "untrained-codes", "untrained-encoder-states", "untrained-decoder-states", "codes-logprob",
         "codes-logprob-beam10", "codes-logit", "codes-logprob-exact", "codes-logit-exact"]
names = [os.path.basename(p)[: -len(".dev.json")] for p in glob.glob(os.path.join(rows_dir, "*.dev.json"))]
rest = sorted(n for n in names if n not in order)
for n in order + rest:
    r = load(n, "dev")
    if r:
        print(line(n, r, f" `{args_of(n, 'dev')}` |"))

chosen = os.path.join(out, "chosen.txt")
if os.path.exists(chosen):
    print("\n" + open(chosen).read().strip())

print("\n## SciFact test: each finished configuration, once\n")
print(HEAD)
print(RULE)
labels = [
    ("bm25", "BM25 (tantivy)"),
    ("dense", "dense, frozen MiniLM, exact"),
    ("untrained-codes", "GenRet untrained, codes only"),
    ("paper-codes", "GenRet, paper scoring (codes, log-prob, beam 100)"),
    ("best-codes", "GenRet, codes only, best on dev"),
    ("best-states", "GenRet codes + states, best on dev"),
    ("best-hybrid", "GenRet + BM25 hybrid, best on dev"),
    ("trained-states", "GenRet trained (default preset), codes + states, its best on dev"),
    ("trained-hybrid", "GenRet trained + BM25 hybrid, its best on dev"),
]
for n, label in labels:
    r = load(n, "test")
    if r:
        print(line(f"{label} (`{n}`)", r))

def chosen_section(title, chosen_file, labelled):
    """A test table of the chosen configurations (those measured), with the dev choice above it."""
    rows = [(n, label) for n, label in labelled if load(n, "test")]
    if not rows:
        return
    print(f"\n## SciFact test: {title}, each chosen configuration once\n")
    chosen = os.path.join(out, chosen_file)
    if os.path.exists(chosen):
        print(open(chosen).read().strip() + "\n")
    print(HEAD)
    print(RULE)
    for n, label in rows:
        print(line(f"{label} (`{n}`)", load(n, "test")))


chosen_section("residual code scores", "chosen-residual.txt", [
    ("residual-trained-codes", "GenRet trained (default preset), residual code scores"),
    ("residual-best-codes", "residual code scores, codes only, best on dev"),
    ("residual-best-states", "residual code scores + encoder states, best on dev"),
    ("residual-best-hybrid", "residual code scores + states + BM25 hybrid, best on dev"),
] + [(f"residual-test-codes-{i}", f"residual code scores, codes only, {i} docids") for i in ["untrained-8x256", "rq-4x256", "rq-8x256", "rq-16x256"]])

chosen_section("encoder adaptation", "chosen-adapt.txt", [
    ("adapt-best-codes", "adapted encoder, codes only, best on dev"),
    ("adapt-best-states", "adapted encoder, codes + states, best on dev"),
    ("adapt-best-hybrid", "adapted encoder + BM25 hybrid, best on dev"),
    ("adapt-holdout-states", "adapted encoder, 10% held out and added after training, its best states row"),
])

chosen_section("hard negatives in adaptation", "chosen-hard.txt", [
    ("hard-best-codes", "adapted models, codes only, best on dev"),
    ("hard-best-states", "adapted models, codes + states, best on dev"),
    ("hard-best-hybrid", "adapted models + BM25 hybrid, best on dev"),
    ("adapt-hard-holdout-states", "hard negatives, 10% held out and added after training, best states row"),
])

chosen_section("long docids on the adapted encoder", "chosen-long.txt", [
    ("long-best-codes", "adapted encoder, untrained tokenizer 16 x 256, codes only, best on dev"),
])

chosen_section("residual decoding", "chosen-resdec.txt", [
    ("resdec-best-codes", "residual decoding 16 x 256, codes only, best on dev"),
    ("resdec-best-states", "residual decoding, codes + states, best on dev"),
    ("resdec-best-hybrid", "residual decoding + BM25 hybrid, best on dev"),
    ("resdec-best-decoder-codes", "residual decoding, the decoder's own code scores (P(z|q) alone), best on dev"),
    ("resdec-holdout-states", "residual decoding, 10% held out and added after training, best states row"),
])

for name, what in [("holdout-states", "default preset"), ("adapt-holdout-states", "adapted encoder"),
                   ("adapt-hard-holdout-states", "adapted encoder with hard negatives"),
                   ("resdec-holdout-states", "residual decoding, the default since session 10")]:
    h = load(name, "test")
    if not h:
        continue
    print(f"\n## Seen vs unseen ({what}, 10% of documents held out, added after training; `{name}`)\n")
    print("| group | queries | nDCG@10 | R@100 |")
    print("|---|---:|---:|---:|")
    for key, title in [("seen_unseen", "by query"), ("seen_unseen_judgements", "by judgement")]:
        for g, v in (h.get(key) or {}).items():
            m = v.get("metrics") or {}
            print(f"| {g} ({title}) | {v.get('num_queries')} | {fmt(m.get('nDCG@10'))} | {fmt(m.get('R@100'))} |")
    print(f"| all | {h['num_queries']} | {fmt(h['metrics']['nDCG@10'])} | {fmt(h['metrics']['R@100'])} |")

ms = [(n, load(n, "test")) for n in sorted(os.path.basename(p)[: -len(".test.json")] for p in glob.glob(os.path.join(rows_dir, "msmarco*.test.json")))]
if ms:
    print("\n## msmarco-dl19-5k test (no training queries; settings chosen on SciFact dev)\n")
    print(HEAD)
    print(RULE)
    for n, r in ms:
        if r:
            print(line(n, r))

diag = [(n, os.path.join(rows_dir, f"diagnose-{n}.json")) for n in ("untrained", "scifact", "adapt", "adapt-hard", "adapt-resdec-16x256")]
diag = [(n, json.load(open(p))) for n, p in diag if os.path.exists(p)]
if diag:
    print("\n## Where the relevant document is lost (dev, codes-only beam 100)\n")
    steps = max(len(d["steps"]) for _, d in diag)
    print("| model | " + " | ".join(f"step {t + 1} top-1 / in beam" for t in range(steps)) + " | returned in top 100 | mean gap |")
    print("|---|" + "---:|" * (steps + 2))
    for n, d in diag:
        cells = [f"{s['top1']:.3f} / {s['in_beam']:.3f}" for s in d["steps"]]
        print(f"| {n} | " + " | ".join(cells) + f" | {d['returned']:.3f} | {fmt(d.get('mean_gap'), 3)} |")

print("\n## Training runs\n")
print("| run | wall s | docids | distinct | largest collision group | step-1 diversity |")
print("|---|---:|---|---:|---:|---:|")
for run in ("untrained", "scifact", "holdout", "msmarco", "adapt", "adapt-holdout", "adapt-hard", "adapt-hard-holdout",
            "adapt-long-16x256", "adapt-resdec-16x256", "adapt-resdec-16x256-final1", "adapt-resdec-holdout", "msmarco-resdec"):
    p = os.path.join(out, run, "manifest.json")
    if not os.path.exists(p):
        continue
    res = json.load(open(p)).get("result") or {}
    hh = res.get("health") or {}
    steps = hh.get("steps") or [{}]
    print(f"| {run} | {fmt(res.get('wall_secs'), 0)} | K {hh.get('k', '-')}, length {hh.get('docid_len', '-')} | {hh.get('distinct_docids', '-')} | {hh.get('largest_collision_group', '-')} | {fmt(steps[0].get('diversity'), 3)} |")
