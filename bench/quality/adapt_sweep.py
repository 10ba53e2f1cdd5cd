"""Chooses encoder adaptation's settings (top layers trained, epochs) on SciFact's dev split.

An independent PyTorch + transformers check of the lever before it went into genret: all-MiniLM-L6-v2,
the top L layers fine-tuned on the judged training pairs (train minus the carved dev split, the same
FNV-1a rule as genret-data/src/dev.rs) with in-batch softmax over pooled cosines at scale 20 (batch 32,
AdamW 5e-5), then every dev query scored against every document (exact dense retrieval), nDCG@10 after
each epoch. The test split is never read. Output in docs/benchmarks.md ("Encoder adaptation").

    python -m venv /tmp/sweep && /tmp/sweep/bin/pip install torch transformers numpy
    /tmp/sweep/bin/python bench/quality/adapt_sweep.py [LMAX=2] [SHARED=../shared]

About 40 minutes on 2 cores (the lower layers are run once; each evaluation re-encodes the corpus
through the top layers).
"""
import sys
import torch, random, time, copy
from sweep_common import Sweep
torch.set_num_threads(2); torch.manual_seed(0); random.seed(0)
SHARED=sys.argv[2] if len(sys.argv)>2 else '../shared'
LMAX=int(sys.argv[1]) if len(sys.argv)>1 else 2
S=Sweep(SHARED, top_layers=LMAX)
model, dpos, qposs, trn, NL = S.model, S.dpos, S.qposs, S.trn, S.num_layers
upper=S.upper
t=time.time()
QL=S.lower([S.queries[q] for q in S.qids],32); print('queries lower',time.time()-t,flush=True)
DL=S.lower(S.texts,256); print('docs lower',time.time()-t,flush=True)
def evaluate(tag):
    t=time.time(); E=S.enc_all(DL); QE=S.enc_all(QL)
    print(f'{tag}: dev {S.ndcg10(S.dev,E,QE):.4f} ({time.time()-t:.0f}s)',flush=True)
evaluate('frozen')
pairs=[(q,d) for q,r in trn.items() for d in r if d in dpos]
init=copy.deepcopy(model.state_dict())
for L,lr,bs in [(1,5e-5,32),(2,5e-5,32),(2,2e-5,32)]:
    model.load_state_dict(init)
    params=[p for layer in model.encoder.layer[NL-L:] for p in layer.parameters()]
    opt=torch.optim.AdamW(params,lr=lr,weight_decay=0.01)
    for ep in range(3):
        model.train(); random.shuffle(pairs); t=time.time()
        for i in range(0,len(pairs),bs):
            b=pairs[i:i+bs]
            qe=upper([QL[qposs[q]] for q,_ in b]); de=upper([DL[dpos[d]] for _,d in b])
            loss=torch.nn.functional.cross_entropy(qe@de.T*20, torch.arange(len(b)))
            opt.zero_grad(); loss.backward(); opt.step()
        model.eval(); print(f'L{L} lr{lr} bs{bs} epoch {ep+1} train {time.time()-t:.0f}s loss {loss.item():.3f}',flush=True)
        evaluate(f'L{L} lr{lr} ep{ep+1}')
