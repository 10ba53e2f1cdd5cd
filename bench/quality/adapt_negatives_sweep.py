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
import sys, gzip, json, math, random, time, copy
import torch
from transformers import AutoTokenizer, AutoModel

torch.set_num_threads(2)
EPOCHS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
HARD = int(sys.argv[2]) if len(sys.argv) > 2 else 20
SHARED = sys.argv[3] if len(sys.argv) > 3 else '../shared'
M = SHARED + '/models/all-MiniLM-L6-v2'; D = SHARED + '/data/scifact'
tok = AutoTokenizer.from_pretrained(M); model = AutoModel.from_pretrained(M, attn_implementation="eager"); model.eval()
docs = [json.loads(l) for l in gzip.open(D + '/corpus.jsonl.gz', 'rt')]
dids = [d['_id'] for d in docs]; dpos = {d: i for i, d in enumerate(dids)}
texts = [(d['title'] + ' ' + d['text']) if d.get('title') else d['text'] for d in docs]
Q = {}
for l in open(D + '/queries.jsonl'):
    o = json.loads(l); Q[o['_id']] = o['text']


def qrels(split):
    r = {}
    for i, l in enumerate(open(f'{D}/qrels/{split}.tsv')):
        if i == 0:
            continue
        q, d, s = l.split('\t'); s = int(s)
        if s > 0:
            r.setdefault(q, {})[d] = s
    return r


def fnv(s):
    h = 0xcbf29ce484222325
    for b in s.encode():
        h ^= b; h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


tr = qrels('train')
dev = {q: r for q, r in tr.items() if fnv(q) % 5 == 0}
trn = {q: r for q, r in tr.items() if fnv(q) % 5 != 0}
print('dev', len(dev), 'train', len(trn), flush=True)
NL = len(model.encoder.layer); CUT = NL - 1


def lower(txts, maxlen):
    out = []
    with torch.no_grad():
        for i in range(0, len(txts), 64):
            b = tok(txts[i:i + 64], padding=True, truncation=True, max_length=maxlen, return_tensors='pt')
            h = model.embeddings(input_ids=b['input_ids'], token_type_ids=b['token_type_ids'])
            ext = (1.0 - b['attention_mask'][:, None, None, :].float()) * -1e9
            for layer in model.encoder.layer[:CUT]:
                h = layer(h, attention_mask=ext); h = h[0] if isinstance(h, tuple) else h
            lens = b['attention_mask'].sum(1)
            for j in range(h.shape[0]):
                out.append(h[j, :lens[j]].clone())
    return out


def upper(states):
    L = max(s.shape[0] for s in states)
    h = torch.zeros(len(states), L, states[0].shape[1]); m = torch.zeros(len(states), L)
    for j, s in enumerate(states):
        h[j, :s.shape[0]] = s; m[j, :s.shape[0]] = 1
    ext = (1.0 - m[:, None, None, :]) * -1e9
    for layer in model.encoder.layer[CUT:]:
        h = layer(h, attention_mask=ext); h = h[0] if isinstance(h, tuple) else h
    e = (h * m[:, :, None]).sum(1) / m.sum(1, keepdim=True)
    return torch.nn.functional.normalize(e, dim=-1)


t = time.time()
qids = sorted(Q); qposs = {q: i for i, q in enumerate(qids)}
QL = lower([Q[q] for q in qids], 32); DL = lower(texts, 256); print('lower states', round(time.time() - t), 's', flush=True)


def enc_all(states, bs=128):
    with torch.no_grad():
        return torch.cat([upper(states[i:i + bs]) for i in range(0, len(states), bs)])


def ndcg10(qr, E, QE):
    tot = 0
    for q, rel in qr.items():
        top = torch.topk(E @ QE[qposs[q]], 10).indices.tolist()
        dcg = sum(rel.get(dids[p], 0) / math.log2(i + 2) for i, p in enumerate(top))
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(sorted(rel.values(), reverse=True)[:10]))
        tot += dcg / idcg
    return tot / len(qr)


def evaluate(tag):
    E = enc_all(DL); QE = enc_all(QL)
    print(f'{tag}: dev nDCG@10 {ndcg10(dev, E, QE):.4f}', flush=True)
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
    params = [p for p in model.encoder.layer[CUT:].parameters()]
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
