"""Turns a `genret run --fuse` report into the hybrid row's own report: its metrics and
latencies become the fused run's; GenRet's own metrics stay under `genret_metrics`."""
import json
import sys

p = sys.argv[1]
r = json.load(open(p))
if r.get("fused"):
    f = r.pop("fused")
    r["genret_metrics"] = r["metrics"]
    r["metrics"] = f["metrics"]
    for k in ("query_p50_ms", "query_p99_ms"):
        r["timings"][k] = f["timings"].get(k)
    r["fusion"] = {k: f[k] for k in ("method", "genret_weight", "bm25_weight")}
    json.dump(r, open(p, "w"), indent=1)
