"""Min-max fusion of two TREC runs (the same rule as genret-eval's fusion module), for the
"dense + BM25" reference row: python3 fuse_runs.py A.trec WA B.trec WB DEPTH OUT.trec"""
import sys
from collections import defaultdict


def load(path):
    run = defaultdict(list)
    for line in open(path):
        q, _, d, _, s, _ = line.split()
        run[q].append((d, float(s)))
    return run


a, wa, b, wb, depth, out = sys.argv[1], float(sys.argv[2]), sys.argv[3], float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
runs = [(load(a), wa), (load(b), wb)]
with open(out, "w") as f:
    for q in sorted(set(runs[0][0]) | set(runs[1][0])):
        total = defaultdict(float)
        for run, w in runs:
            lst = run.get(q, [])
            if not lst:
                continue
            lo, hi = min(s for _, s in lst), max(s for _, s in lst)
            for d, s in lst:
                total[d] += w * ((s - lo) / (hi - lo) if hi > lo else 1.0)
        ranked = sorted(total.items(), key=lambda x: (-x[1], x[0]))[:depth]
        for r, (d, s) in enumerate(ranked):
            f.write(f"{q} Q0 {d} {r + 1} {s:.6f} dense+bm25\n")
