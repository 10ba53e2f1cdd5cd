"""Fusion of two TREC runs with the same rules as genret-eval's fusion module, for the
"dense + BM25" reference rows:

    python3 fuse_runs.py A.trec WA B.trec WB DEPTH OUT.trec [METHOD [LIST_DEPTH]]

METHOD: min-max (default) or z-score. LIST_DEPTH: each run's list is cut to its best LIST_DEPTH
documents before normalising, as `genret run --fuse` does with its depth (default: the whole list
in the file)."""
import statistics
import sys
from collections import defaultdict


def load(path):
    run = defaultdict(list)
    for line in open(path):
        q, _, d, _, s, _ = line.split()
        run[q].append((d, float(s)))
    return run


def normalised(lst, method):
    scores = [s for _, s in lst]
    if method == "min-max":
        lo, hi = min(scores), max(scores)
        norm = {d: (s - lo) / (hi - lo) if hi > lo else 1.0 for d, s in lst}
    elif method == "z-score":
        mean, std = statistics.fmean(scores), statistics.pstdev(scores)
        norm = {d: (s - mean) / std if std > 0 else 0.0 for d, s in lst}
    else:
        sys.exit(f"unknown method {method}")
    return norm, min(norm.values())


a, wa, b, wb, depth, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
method = sys.argv[7] if len(sys.argv) > 7 else "min-max"
list_depth = int(sys.argv[8]) if len(sys.argv) > 8 else None
runs = [(load(a), wa), (load(b), wb)]
with open(out, "w") as f:
    for q in sorted(set(runs[0][0]) | set(runs[1][0])):
        parts = []
        for run, w in runs:
            lst = sorted(run.get(q, []), key=lambda x: -x[1])[:list_depth]
            if lst:
                parts.append((w, *normalised(lst, method)))
        docs = {d for _, norm, _ in parts for d in norm}
        # A document missing from a list gets the list's lowest normalised score (0 for min-max).
        total = {d: sum(w * norm.get(d, floor) for w, norm, floor in parts) for d in docs}
        ranked = sorted(total.items(), key=lambda x: (-x[1], x[0]))[:depth]
        for r, (d, s) in enumerate(ranked):
            f.write(f"{q} Q0 {d} {r + 1} {s:.6f} dense+bm25\n")
