"""Chooses encoder adaptation's number of epochs and hard negatives on SciFact's dev split.

The same independent PyTorch + transformers check as adapt_sweep.py (its data split, lower-layer
cache and exact dense evaluation after each epoch; the test split is never read), for two levers of
the adaptation stage with one top layer trained (the default, chosen by adapt_sweep.py):

* more epochs: in-batch negatives only, epochs 1..EPOCHS;
* hard negatives: each pair also contrasts its query with one document drawn from its top HARD
  candidates that are not judged relevant, mined at the start of every epoch with the encoder as
  it is then (as genret's `adapt.hard_negatives` does), epochs 1..EPOCHS.

    PYTHONPATH=<site-packages with transformers> python bench/quality/adapt_negatives_sweep.py \
        [EPOCHS=5] [HARD=20] [SHARED=../shared]

About 35 minutes on 2 cores. Output in docs/benchmarks.md ("Encoder adaptation").
"""
import sys, random, time, copy
import torch
from sweep_common import Sweep

torch.set_num_threads(2)
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
HARD = int(sys.argv[2]) if len(sys.argv) > 2 else 20
SHARED = sys.argv[3] if len(sys.argv) > 3 else '../shared'
S = Sweep(SHARED, top_layers=1)
model, dids, dpos, qposs, trn = S.model, S.dids, S.dpos, S.qposs, S.trn
upper = S.upper
t = time.time()
QL = S.lower([S.queries[q] for q in S.qids], 32); DL = S.lower(S.texts, 256); print('lower states', round(time.time() - t), 's', flush=True)


def evaluate(tag):
    E = S.enc_all(DL); QE = S.enc_all(QL)
    print(f'{tag}: dev nDCG@10 {S.ndcg10(S.dev, E, QE):.4f}', flush=True)
    return E, QE


E0, QE0 = evaluate('frozen')


def mine(E, QE):
    """Each training query's top HARD documents that are not judged relevant to it."""
    hard = {}
    for q, rel in trn.items():
        top = torch.topk(E @ QE[qposs[q]], HARD + len(rel)).indices.tolist()
        hard[q] = [p for p in top if dids[p] not in rel][:HARD]
    return hard


pairs = [(q, d) for q, r in trn.items() for d in r if d in dpos]
init = copy.deepcopy(model.state_dict())
for variant in ['in-batch', f'hard{HARD}']:
    model.load_state_dict(init); random.seed(0); torch.manual_seed(0)
    params = [p for p in model.encoder.layer[S.cut:].parameters()]
    opt = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)
    E, QE = E0, QE0
    for ep in range(EPOCHS):
        hard = mine(E, QE)
        model.train(); random.shuffle(pairs); t = time.time()
        for i in range(0, len(pairs), 32):
            b = pairs[i:i + 32]
            qe = upper([QL[qposs[q]] for q, _ in b])
            dl = [DL[dpos[d]] for _, d in b]
            if variant != 'in-batch':
                dl += [DL[random.choice(hard[q])] for q, _ in b]
            de = upper(dl)
            loss = torch.nn.functional.cross_entropy(qe @ de.T * 20, torch.arange(len(b)))
            opt.zero_grad(); loss.backward(); opt.step()
        model.eval()
        print(f'{variant} epoch {ep + 1} ({time.time() - t:.0f}s train, loss {loss.item():.3f})', flush=True)
        E, QE = evaluate(f'{variant} epoch {ep + 1}')
